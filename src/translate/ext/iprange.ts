// -m iprange: struct xt_iprange_mtinfo (linux/netfilter/xt_iprange.h), revision 1 (revision 0
// is gone from the kernel), registered per family, no checkentry. Addresses are
// union nf_inet_addr; IPv4 reads the first 4 bytes, compared in host order, inclusive.
import { parseIpv4, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { inv, ipv4, payload, zeroed } from './util.js';
import { LoadMem, R1, Size, ToBe, type Insn } from '../../bpf/asm/index.js';
import { inRange } from '../../bpf/codegen/cmp.js';
import type { CodegenContext } from '../../bpf/codegen/context.js';
import { S, STATE } from '../../bpf/codegen/state.js';

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
  codegen(v: IprangeMatch, _revision: number, cg: CodegenContext): Insn[] {
    // Each side: m = addr < min || addr > max (host order); m ^= inverted; m → no match.
    const side = (offset: number, min: number, max: number, inverted: boolean): Insn[] =>
      inRange([LoadMem(R1, STATE, offset, Size.W), ToBe(R1, 32)], min, max, inverted, cg);
    return [
      ...(v.flags & IPRANGE_SRC
        ? side(S.IP + 12, v.srcMin, v.srcMax, (v.flags & IPRANGE_SRC_INV) !== 0)
        : []),
      ...(v.flags & IPRANGE_DST
        ? side(S.IP + 16, v.dstMin, v.dstMax, (v.flags & IPRANGE_DST_INV) !== 0)
        : []),
    ];
  },
};
