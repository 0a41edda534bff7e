// Conntrack state as xt_state and xt_conntrack see it. The hooks run after conntrack, so the
// entry is already on the skb: nothing here tracks connections, it only reads the kernel's.
import {
  Add,
  FP,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Lsh,
  Mod,
  Mov,
  Nop,
  R1,
  R2,
  R3,
  Size,
  StoreMem,
  withLabel,
  type Insn,
  type Reg,
} from '../asm/index.js';
import type { Btf } from '../vmlinux.js';
import { Unsupported, type EvalContext } from './eval.js';
import { kread } from './kmem.js';
import { IP_CT_IS_REPLY, IP_CT_UNTRACKED, S, STATE } from './state.js';

/**
 * R3 = the state bit both matches test: with an entry 1 << (ctinfo % IP_CT_IS_REPLY + 1)
 * (XT_STATE_BIT), without one `untracked` for IP_CT_UNTRACKED and `invalid` otherwise.
 */
export function ctStateBit(untracked: number, invalid: number, cg: EvalContext): Insn[] {
  const has = cg.label('ct_has');
  const done = cg.label('ct_done');
  return [
    LoadMem(R2, STATE, S.CTINFO, Size.W),
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JNe.imm32(R1, 0, has),
    Mov.imm(R3, invalid),
    JNe.imm32(R2, IP_CT_UNTRACKED, done),
    Mov.imm(R3, untracked),
    Ja(done),
    withLabel(Mod.imm(R2, IP_CT_IS_REPLY), has),
    Add.imm(R2, 1),
    Mov.imm(R3, 1),
    Lsh.reg(R3, R2),
    withLabel(Nop(), done),
  ];
}

/** Where a struct nf_conntrack_tuple's fields are, from the start of struct nf_conn. */
export interface CtTupleLayout {
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  readonly dstPort: number;
  readonly protonum: number;
}

/** What xt_conntrack reads of struct nf_conn, by byte offset on the running kernel. */
export interface CtLayout {
  readonly status: number;
  readonly timeout: number;
  /** IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY */
  readonly tuple: readonly [CtTupleLayout, CtTupleLayout];
}

export function ctLayout(btf: Btf): CtLayout {
  const tuple = (dir: number): CtTupleLayout => {
    const at = (path: string): number => btf.offsetOf('nf_conn', `tuplehash[${dir}].tuple.${path}`);
    return {
      srcIp: at('src.u3'),
      srcPort: at('src.u'),
      dstIp: at('dst.u3'),
      dstPort: at('dst.u'),
      protonum: at('dst.protonum'),
    };
  };
  return {
    status: btf.offsetOf('nf_conn', 'status'),
    timeout: btf.offsetOf('nf_conn', 'timeout'),
    tuple: [tuple(0), tuple(1)],
  };
}

/** One past the last byte of struct nf_conn that xt_conntrack reads (status is 8 bytes). */
export function ctLayoutEnd(l: CtLayout): number {
  const tuple = l.tuple.flatMap((t) => [
    t.srcIp + 4,
    t.srcPort + 2,
    t.dstIp + 4,
    t.dstPort + 2,
    t.protonum + 1,
  ]);
  return Math.max(l.status + 8, l.timeout + 4, ...tuple);
}

/**
 * nf_ct_ext_find: R1 = the address of extension `id`'s area (an enumerator of nf_ct_ext_id,
 * e.g. NF_CT_EXT_ACCT) in the entry whose address is in `ct`, or → `none` when the entry has
 * no such extension. Uses the 16 bytes of stack at FP+`slot`; clobbers R0-R5.
 */
export function ctExtFind(kernel: Btf, ct: Reg, id: string, slot: number, none: string): Insn[] {
  // Kernels whose extension areas carry a generation id validate it against a global the
  // program cannot read.
  if (kernel.hasMember('nf_ct_ext', 'gen_id')) {
    throw new Unsupported(`this kernel's conntrack extensions carry a generation id (${id})`);
  }
  const offsets = kernel.memberOffset('nf_ct_ext', 'offset');
  return [
    ...kread(ct, kernel.memberOffset('nf_conn', 'ext'), Size.DW, slot, none),
    JEq.imm(R1, 0, none),
    StoreMem(FP, slot + 8, R1, Size.DW),
    ...kread(R1, offsets + kernel.enumValue(id), Size.B, slot, none),
    JEq.imm(R1, 0, none),
    LoadMem(R2, FP, slot + 8, Size.DW),
    Add.reg(R1, R2),
  ];
}
