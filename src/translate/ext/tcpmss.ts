// -m tcpmss: struct xt_tcpmss_match_info (linux/netfilter/xt_tcpmss.h), revision 0 of
// xt_tcpmss.c, registered per family with .proto = IPPROTO_TCP (so xt_check_match wants
// `-p tcp` without `!`), no checkentry. Matches the MSS option's value in [min, max] ^ invert;
// a packet without the option matches only when inverted.
import { OptionError, parseRangeRC, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import {
  inv,
  IPPROTO_TCP,
  payload,
  portRange,
  readPad,
  requireProto,
  writePad,
  zeroed,
} from './util.js';

export interface TcpmssMatch {
  readonly min: number;
  readonly max: number;
  readonly invert: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** Two u16 and a u8: 5 bytes padded to 6. */
const SIZE = 6;

export const tcpmss: Extension<TcpmssMatch> = {
  kind: 'match',
  name: 'tcpmss',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): TcpmssMatch {
    const b = payload(data, SIZE);
    return {
      min: b.readUInt16LE(0),
      max: b.readUInt16LE(2),
      invert: b[4] ?? 0,
      ...readPad(b, 5, 1),
    };
  },
  encode(v: TcpmssMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.min, 0);
    b.writeUInt16LE(v.max, 2);
    b.writeUInt8(v.invert, 4);
    writePad(b, 5, 1, v.pad);
    return b;
  },
  check(_v: TcpmssMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_TCP, 'match "tcpmss"');
  },
  format(v: TcpmssMatch): string {
    return `${inv(v.invert !== 0)}--mss ${portRange(v.min, v.max)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "tcpmss"', options, { mss: { names: ['mss'], invert: true } });
    if (o.mss === undefined) throw new OptionError('match "tcpmss": --mss is required');
    const [min = 0, max = min] = parseRangeRC(o.mss.args[0] ?? '', 0xffff, 'match "tcpmss": --mss');
    if (max < min) throw new OptionError('match "tcpmss": invalid range given');
    return { extension: tcpmss, revision: 0, value: { min, max, invert: o.mss.invert ? 1 : 0 } };
  },
};
