// -m connbytes: struct xt_connbytes_info (linux/netfilter/xt_connbytes.h), revision 0, family
// UNSPEC. connbytes_mt_check refuses an unknown `what` or direction (EINVAL), then turns on the
// netns' conntrack accounting. `! --connbytes a:b` is stored as from = b, to = a: the kernel
// matches from <= n <= to (or n >= from when to is 0), so the swapped range never matches and
// its complement has to be read off from > to, as iptables-save does.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseRangeRCBig, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, readPad, writePad, zeroed } from './util.js';

export const XT_CONNBYTES_PKTS = 0;
export const XT_CONNBYTES_BYTES = 1;
export const XT_CONNBYTES_AVGPKT = 2;
export const XT_CONNBYTES_DIR_ORIGINAL = 0;
export const XT_CONNBYTES_DIR_REPLY = 1;
export const XT_CONNBYTES_DIR_BOTH = 2;

export interface ConnbytesMatch {
  readonly from: bigint;
  readonly to: bigint;
  /** XT_CONNBYTES_PKTS, _BYTES or _AVGPKT. */
  readonly what: number;
  readonly direction: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

const SIZE = 24;
const U64_MAX = 2n ** 64n - 1n;
const MODES = ['packets', 'bytes', 'avgpkt'];
const DIRECTIONS = ['original', 'reply', 'both'];

export const connbytes: Extension<ConnbytesMatch> = {
  kind: 'match',
  name: 'connbytes',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): ConnbytesMatch {
    const b = payload(data, SIZE);
    return {
      from: b.readBigUInt64LE(0),
      to: b.readBigUInt64LE(8),
      what: b[16] ?? 0,
      direction: b[17] ?? 0,
      ...readPad(b, 18, 6),
    };
  },
  encode(v: ConnbytesMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeBigUInt64LE(v.from, 0);
    b.writeBigUInt64LE(v.to, 8);
    b.writeUInt8(v.what, 16);
    b.writeUInt8(v.direction, 17);
    writePad(b, 18, 6, v.pad);
    return b;
  },
  check(v: ConnbytesMatch): void {
    if (v.what > XT_CONNBYTES_AVGPKT || v.direction > XT_CONNBYTES_DIR_BOTH) {
      throw new XtError(EINVAL, `match "connbytes": mode ${v.what} direction ${v.direction}`);
    }
  },
  format(v: ConnbytesMatch): string {
    const inverted = v.from > v.to;
    const [from, to] = inverted ? [v.to, v.from] : [v.from, v.to];
    const upper = to !== 0n && to < U64_MAX ? `:${to}` : '';
    const mode = MODES[v.what] ?? 'unknown';
    const dir = DIRECTIONS[v.direction] ?? 'unknown';
    return `${inverted ? '! ' : ''}--connbytes ${from}${upper} --connbytes-mode ${mode} --connbytes-dir ${dir}`;
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "connbytes"';
    const o = readOptions(what, options, {
      connbytes: { names: ['connbytes'], invert: true },
      dir: { names: ['connbytes-dir'] },
      mode: { names: ['connbytes-mode'] },
    });
    if (o.connbytes === undefined || o.dir === undefined || o.mode === undefined) {
      throw new OptionError(
        `${what}: --connbytes, --connbytes-dir and --connbytes-mode are required`,
      );
    }
    const [from = 0n, to = U64_MAX] = parseRangeRCBig(
      o.connbytes.args[0] ?? '',
      U64_MAX,
      `${what}: --connbytes`,
    );
    if (to < from) throw new OptionError(`${what}: ${from} should be less than ${to}`);
    const pick = (opt: SaveOption, names: readonly string[]): number => {
      const i = names.indexOf(opt.args[0] ?? '');
      if (i === -1) throw new OptionError(`${what}: unknown --${opt.name} "${opt.args[0] ?? ''}"`);
      return i;
    };
    const value: ConnbytesMatch = {
      from: o.connbytes.invert ? to : from,
      to: o.connbytes.invert ? from : to,
      what: pick(o.mode, MODES),
      direction: pick(o.dir, DIRECTIONS),
    };
    return { extension: connbytes, revision: 0, value };
  },
};
