// What a match evaluator reads beyond the packet state (state.ts): bytes of the packet past the
// snapshot, through a dynptr on the ctx's trusted skb, and kernel memory the skb points at; and
// loops over them. A loop is a bpf_iter_num loop whose variables live in S.EVAL: map memory,
// whose contents the verifier does not track, so every iteration starts from the same state and
// the verifier checks the body in a pass or two, whatever the bound (the bound itself only caps
// the work a hostile packet can cause).
import {
  Add,
  Call,
  FP,
  Ja,
  JEq,
  JLe,
  JNe,
  JSLe,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R8,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  withLabel,
  type Insn,
  type Reg,
} from '../asm/index.js';
import { CTX, type EvalContext } from './eval.js';
import { S, STATE } from './state.js';

export const BPF_FUNC_probe_read_kernel = 113;
const BPF_FUNC_dynptr_read = 201;

/** Where in the evaluator's scratch (cg.scratch + n) these helpers keep their stack objects. */
export const SCRATCH_USE = { DYNPTR: 0, ITER: 16, FREE: 24 } as const;

/** R1 = the ctx's skb (a trusted pointer: kfunc arguments and direct field loads). */
export const loadSkb = (cg: EvalContext): Insn => LoadMem(R1, CTX, cg.ctxLayout.skb, Size.DW);

/**
 * The skb's dynptr at cg.scratch (bpf_dynptr_from_skb: offsets from the network header, as
 * the kernel's skb->data at the IPv4 hooks). R0 = 0 when made; clobbers R0-R5.
 */
export function skbDynptr(cg: EvalContext): Insn[] {
  return [
    loadSkb(cg),
    Mov.imm(R2, 0),
    Mov.reg(R3, FP),
    Add.imm(R3, cg.scratch + SCRATCH_USE.DYNPTR),
    Call.kfunc(cg.kernel.funcId('bpf_dynptr_from_skb')),
  ];
}

/**
 * bpf_dynptr_read of `len` bytes (a count, or 'r2': R2 holds it, bounded by the caller) at the
 * packet offset in R4 into the state at `to`: R0 = 0 when all were there (skb_header_pointer's
 * non-NULL), else negative. Needs skbDynptr first; clobbers R0-R5.
 */
export function readPacket(cg: EvalContext, to: number, len: number | 'r2'): Insn[] {
  return [
    Mov.reg(R1, STATE),
    Add.imm(R1, to),
    len === 'r2' ? Nop() : Mov.imm(R2, len),
    Mov.reg(R3, FP),
    Add.imm(R3, cg.scratch + SCRATCH_USE.DYNPTR),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
  ];
}

/** Where transportBytes keeps a non-first fragment's bytes and their count. */
const T_BYTES = S.EVAL;
const T_COUNT = S.EVAL + 64;

/**
 * The bytes at par->thoff (ihl*4 for every fragment) that skb_header_pointer would see, up
 * to 60: R8 = their address, R5 = their count. First fragments have them in the snapshot;
 * for the others (L4LEN 0) they are read into S.EVAL, as tcpmss and ecn read a TCP header
 * there. Clobbers R0-R5.
 */
export function transportBytes(cg: EvalContext): Insn[] {
  const frag = cg.label('tb_frag');
  const capped = cg.label('tb_capped');
  const done = cg.label('tb_done');
  const none = cg.label('tb_none');
  return [
    LoadMem(R1, STATE, S.FRAGOFF, Size.W),
    JNe.imm(R1, 0, frag),
    Mov.reg(R8, STATE),
    Add.imm(R8, S.L4),
    LoadMem(R5, STATE, S.L4LEN, Size.W),
    Ja(done),
    withLabel(StoreImm(STATE, T_COUNT, 0, Size.W), frag),
    ...skbDynptr(cg),
    JNe.imm(R0, 0, none),
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    LoadMem(R4, STATE, S.IHL, Size.W),
    Sub.reg(R2, R4),
    JSLe.imm(R2, 0, none),
    JLe.imm(R2, 60, capped),
    Mov.imm(R2, 60),
    withLabel(StoreMem(STATE, T_COUNT, R2, Size.W), capped),
    ...readPacket(cg, T_BYTES, 'r2'),
    JEq.imm(R0, 0, none),
    StoreImm(STATE, T_COUNT, 0, Size.W),
    withLabel(Mov.reg(R8, STATE), none),
    Add.imm(R8, T_BYTES),
    LoadMem(R5, STATE, T_COUNT, Size.W),
    withLabel(Nop(), done),
  ];
}

/**
 * `body` run at most `bound` times (bpf_iter_num over [0, bound)): it jumps to `next` for
 * another iteration and to `exit` to leave; running out of iterations leaves too. Nothing but
 * R6, R7 and R9 may carry values from one iteration to the next (keep the rest in S.EVAL);
 * the body may clobber R0-R5 and R8. After the loop, R0-R5 are clobbered.
 */
export function boundedLoop(
  cg: EvalContext,
  bound: number,
  body: (next: string, exit: string) => Insn[],
): Insn[] {
  const next = cg.label('loop_next');
  const exit = cg.label('loop_exit');
  const iter = (reg: Reg): Insn[] => [
    Mov.reg(reg, FP),
    Add.imm(reg, cg.scratch + SCRATCH_USE.ITER),
  ];
  return [
    ...iter(R1),
    Mov.imm(R2, 0),
    Mov.imm(R3, bound),
    Call.kfunc(cg.kernel.funcId('bpf_iter_num_new')),
    withLabel(Nop(), next),
    ...iter(R1),
    Call.kfunc(cg.kernel.funcId('bpf_iter_num_next')),
    JEq.imm(R0, 0, exit),
    ...body(next, exit),
    Ja(next),
    withLabel(Nop(), exit),
    ...iter(R1),
    Call.kfunc(cg.kernel.funcId('bpf_iter_num_destroy')),
  ];
}
