// -p icmp: struct ipt_icmp (linux/netfilter_ipv4/ip_tables.h), registered by ip_tables.c itself
// with .proto = IPPROTO_ICMP; icmp_checkentry refuses invflags other than IPT_ICMP_INV.
import { EINVAL, XtError } from '../errno.js';
import type { CheckContext, Extension } from './types.js';
import { IPPROTO_ICMP, inv, payload, requireProto, zeroed } from './util.js';
import {
  Ja,
  JGt,
  JLt,
  JNe,
  LoadMem,
  Nop,
  R1,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4 } from '../../bpf/codegen/cmp.js';
import type { CodegenContext } from '../../bpf/codegen/context.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const IPT_ICMP_INV = 0x01;

export interface IcmpMatch {
  /** ICMP type; 0xff matches any type (iptables' "any"). */
  readonly type: number;
  /** Inclusive code range. */
  readonly codeMin: number;
  readonly codeMax: number;
  readonly invflags: number;
}

const SIZE = 4;

export const icmp: Extension<IcmpMatch> = {
  kind: 'match',
  name: 'icmp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): IcmpMatch {
    const b = payload(data, SIZE);
    return { type: b[0] ?? 0, codeMin: b[1] ?? 0, codeMax: b[2] ?? 0, invflags: b[3] ?? 0 };
  },
  encode(v: IcmpMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.type, 0);
    b.writeUInt8(v.codeMin, 1);
    b.writeUInt8(v.codeMax, 2);
    b.writeUInt8(v.invflags, 3);
    return b;
  },
  check(v: IcmpMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_ICMP, 'match "icmp"');
    if ((v.invflags & ~IPT_ICMP_INV) !== 0) {
      throw new XtError(EINVAL, `match "icmp": unknown invflags 0x${v.invflags.toString(16)}`);
    }
  },
  format(v: IcmpMatch): string {
    const neg = inv((v.invflags & IPT_ICMP_INV) !== 0);
    if (v.type === 0xff) return `${neg}--icmp-type any`;
    if (v.codeMin === 0 && v.codeMax === 0xff) return `${neg}--icmp-type ${v.type}`;
    const code = v.codeMin === v.codeMax ? `${v.codeMin}` : `${v.codeMin}-${v.codeMax}`;
    return `${neg}--icmp-type ${v.type}/${code}`;
  },
  codegen(v: IcmpMatch, _revision: number, cg: CodegenContext): Insn[] {
    const invert = (v.invflags & IPT_ICMP_INV) !== 0;
    const head = [...requireFirstFragment(cg), ...requireL4(2, cg)];
    if (v.type === 0xff) return invert ? [...head, Ja(cg.noMatch)] : head;
    // (type == t && min <= code <= max) ^ invert
    const miss = invert ? cg.label('icmp_ok') : cg.noMatch;
    const test = [
      LoadMem(R1, STATE, S.L4, Size.B),
      JNe.imm32(R1, v.type, miss),
      LoadMem(R1, STATE, S.L4 + 1, Size.B),
      JLt.imm32(R1, v.codeMin, miss),
      JGt.imm32(R1, v.codeMax, miss),
    ];
    return invert ? [...head, ...test, Ja(cg.noMatch), withLabel(Nop(), miss)] : [...head, ...test];
  },
};
