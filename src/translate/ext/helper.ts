// -m helper: struct xt_helper_info (linux/netfilter/xt_helper.h), revision 0, family UNSPEC.
// helper_mt_check takes a conntrack reference and writes a NUL into name[29], so the name the
// kernel keeps (and GET_ENTRIES returns) is at most 29 bytes: decode reads only those. Matches
// when the rule's name begins with the master connection's helper name (strncmp over
// strlen(helper->name), so "ftp-2" matches helper "ftp"); an empty name matches any helper.
import { OptionError, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import {
  cString,
  inv,
  payload,
  rawChars,
  readPad,
  saveString,
  writeChars,
  writePad,
  zeroed,
} from './util.js';

export interface HelperMatch {
  /** int invert: any non-zero inverts. */
  readonly invert: number;
  /** name[0..28] as latin1, trailing NULs dropped. */
  readonly name: string;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** int + char[30]: 34 bytes padded to 36. */
const SIZE = 36;
const NAME = 4;
const NAME_KEPT = 29;

export const helper: Extension<HelperMatch> = {
  kind: 'match',
  name: 'helper',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): HelperMatch {
    const b = payload(data, SIZE);
    return {
      invert: b.readUInt32LE(0),
      name: rawChars(b.subarray(NAME, NAME + NAME_KEPT)),
      ...readPad(b, 34, 2),
    };
  },
  encode(v: HelperMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.invert >>> 0, 0);
    writeChars(b, NAME, v.name, NAME_KEPT);
    writePad(b, 34, 2, v.pad);
    return b;
  },
  check(): void {},
  format(v: HelperMatch): string {
    return `${inv(v.invert !== 0)}--helper ${saveString(cString(v.name))}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "helper"', options, {
      helper: { names: ['helper'], invert: true },
    });
    if (o.helper === undefined) throw new OptionError('match "helper": --helper is required');
    // XTTYPE_STRING into char[30]: iptables silently keeps the first 29 bytes.
    const raw = Buffer.from(o.helper.args[0] ?? '', 'utf8').toString('latin1');
    const value = { invert: o.helper.invert ? 1 : 0, name: cString(raw).slice(0, NAME_KEPT) };
    return { extension: helper, revision: 0, value };
  },
};
