// -m iprange: struct xt_iprange_mtinfo (linux/netfilter/xt_iprange.h), revision 1 (revision 0
// is gone from the kernel), registered per family, no checkentry. Addresses are
// union nf_inet_addr; IPv4 reads the first 4 bytes, compared in host order, inclusive.
import { parseIpv4, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { inv, ipv4, payload, zeroed } from './util.js';
import {
  And,
  JEq,
  JGt,
  JLt,
  LoadMem,
  Mov,
  Nop,
  R1,
  R2,
  R3,
  R4,
  Size,
  ToBe,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { unlessInverted } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';
import { intersect, interval, type Region } from '../classify/key.js';

export const IPRANGE_SRC = 1 << 0;
export const IPRANGE_DST = 1 << 1;
export const IPRANGE_SRC_INV = 1 << 4;
export const IPRANGE_DST_INV = 1 << 5;

export interface IprangeMatch {
  /** Network-order u32s (1.2.3.4 → 0x01020304), inclusive bounds. */
  readonly srcMin: number;
  readonly srcMax: number;
  readonly dstMin: number;
  readonly dstMax: number;
  readonly flags: number;
}

/** Four 16-byte addresses and a u8, padded to the union's 4-byte alignment. */
const SIZE = 68;

export const iprange: Extension<IprangeMatch> = {
  kind: 'match',
  name: 'iprange',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): IprangeMatch {
    const b = payload(data, SIZE);
    return {
      srcMin: b.readUInt32BE(0),
      srcMax: b.readUInt32BE(16),
      dstMin: b.readUInt32BE(32),
      dstMax: b.readUInt32BE(48),
      flags: b[64] ?? 0,
    };
  },
  encode(v: IprangeMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32BE(v.srcMin >>> 0, 0);
    b.writeUInt32BE(v.srcMax >>> 0, 16);
    b.writeUInt32BE(v.dstMin >>> 0, 32);
    b.writeUInt32BE(v.dstMax >>> 0, 48);
    b.writeUInt8(v.flags, 64);
    return b;
  },
  check(): void {},
  format(v: IprangeMatch): string {
    const parts: string[] = [];
    if ((v.flags & IPRANGE_SRC) !== 0) {
      parts.push(
        `${inv((v.flags & IPRANGE_SRC_INV) !== 0)}--src-range ${ipv4(v.srcMin)}-${ipv4(v.srcMax)}`,
      );
    }
    if ((v.flags & IPRANGE_DST) !== 0) {
      parts.push(
        `${inv((v.flags & IPRANGE_DST_INV) !== 0)}--dst-range ${ipv4(v.dstMin)}-${ipv4(v.dstMax)}`,
      );
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "iprange"', options, {
      src: { names: ['src-range'], invert: true },
      dst: { names: ['dst-range'], invert: true },
    });
    let flags = 0;
    // libxt_iprange's iprange_parse_range: `a-b`, or one address for both ends.
    const range = (opt: SaveOption | undefined, set: number, inv: number): [number, number] => {
      if (opt === undefined) return [0, 0];
      flags |= set | (opt.invert ? inv : 0);
      const [lo = '', hi] = (opt.args[0] ?? '').split('-');
      const what = `match "iprange": --${opt.name}`;
      const min = parseIpv4(lo, what);
      return [min, hi === undefined ? min : parseIpv4(hi, what)];
    };
    const [srcMin, srcMax] = range(o.src, IPRANGE_SRC, IPRANGE_SRC_INV);
    const [dstMin, dstMax] = range(o.dst, IPRANGE_DST, IPRANGE_DST_INV);
    const value: IprangeMatch = { srcMin, srcMax, dstMin, dstMax, flags };
    return { extension: iprange, revision: 1, value };
  },
  engine: {
    region: iprangeRegion,
    recordSize: SIZE,
    record: (v: IprangeMatch) => iprange.encode(v, 1),
    evaluate(cg: EvalContext): Insn[] {
      // Each side in the flags: m = addr < min || addr > max (host order); m ^= inverted.
      const side = (flag: number, inv: number, at: number, min: number): Insn[] => {
        const skip = cg.label('ipr_skip');
        const load = (r: typeof R1, off: number): Insn[] => [
          LoadMem(r, RECORD, off, Size.W),
          ToBe(r, 32),
        ];
        const out = cg.label('ipr_out');
        return [
          LoadMem(R1, RECORD, FLAGS, Size.B),
          And.imm(R1, flag),
          JEq.imm(R1, 0, skip),
          LoadMem(R1, STATE, at, Size.W),
          ToBe(R1, 32),
          ...load(R2, min),
          ...load(R3, min + 16),
          Mov.imm(R4, 0),
          JLt.reg(R1, R2, out),
          JGt.reg(R1, R3, out),
          Mov.imm(R4, 1),
          withLabel(Nop(), out),
          ...unlessInverted({ offset: FLAGS, bit: inv }, cg),
          withLabel(Nop(), skip),
        ];
      };
      return [
        ...side(IPRANGE_SRC, IPRANGE_SRC_INV, S.IP + 12, 0),
        ...side(IPRANGE_DST, IPRANGE_DST_INV, S.IP + 16, 32),
      ];
    },
  },
};

/** Offset of the flags byte in struct xt_iprange_mtinfo. */
const FLAGS = 64;

/** iprange_mt4's ranges, each side (when set) inside or, inverted, outside its bounds. */
export function iprangeRegion(v: IprangeMatch): Region {
  const side = (
    set: number,
    inv: number,
    field: 'src' | 'dst',
    min: number,
    max: number,
  ): Region =>
    (v.flags & set) === 0
      ? interval(field, 0, 0xffffffff, false)
      : interval(field, min >>> 0, max >>> 0, (v.flags & inv) !== 0);
  return intersect(
    side(IPRANGE_SRC, IPRANGE_SRC_INV, 'src', v.srcMin, v.srcMax),
    side(IPRANGE_DST, IPRANGE_DST_INV, 'dst', v.dstMin, v.dstMax),
  );
}
