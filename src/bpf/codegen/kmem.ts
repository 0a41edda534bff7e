// Kernel memory an evaluator reads beyond the packet state: structures reached from the skb
// whose addresses the verifier only knows as numbers (a conntrack entry's extension area, a
// socket's credentials, a bridge port), and kernel arrays whose length only the kernel knows.
import {
  Add,
  And,
  Call,
  FP,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R8,
  Size,
  withLabel,
  type Insn,
  type Reg,
} from '../asm/index.js';
import type { Btf } from '../vmlinux.js';

const BPF_FUNC_probe_read_kernel = 113;

const BYTES = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 } as const;

/**
 * R1 = the `size`-wide value at `addr` + `off`, through the 8 bytes of stack at FP+`slot`. An
 * unreadable address gives 0 (probe_read clears its buffer), or jumps to `fail` when given.
 * Clobbers R0-R3; `addr` may be any register.
 */
export function kread(addr: Reg, off: number, size: Size, slot: number, fail?: string): Insn[] {
  return [
    Mov.reg(R3, addr),
    Add.imm(R3, off),
    Mov.reg(R1, FP),
    Add.imm(R1, slot),
    Mov.imm(R2, BYTES[size]),
    Call.helper(BPF_FUNC_probe_read_kernel),
    ...(fail === undefined ? [] : [JNe.imm(R0, 0, fail)]),
    LoadMem(R1, FP, slot, size),
  ];
}

/**
 * for (i = 0; i < `count`; i++) `body`: an open-coded bpf_iter_num loop, which the verifier
 * checks until the loop's state repeats instead of once per iteration, so a bound as large as
 * the kernel's (65,536 supplementary groups) costs no more to verify than a bound of 2. The
 * iterator lives in the 8 bytes at FP+`slot`. `body` gets the index in R1, may keep nothing in
 * R0-R5 across iterations and leaves the loop by jumping to `brk` (the label it is given).
 * `count` is read before anything is clobbered.
 */
export function forEach(
  kernel: Btf,
  count: Reg,
  slot: number,
  label: (hint: string) => string,
  body: (brk: string) => Insn[],
): Insn[] {
  const loop = label('iter_loop');
  const brk = label('iter_brk');
  const iter = (): Insn[] => [Mov.reg(R1, FP), Add.imm(R1, slot)];
  return [
    Mov.reg(R3, count),
    ...iter(),
    Mov.imm(R2, 0),
    Call.kfunc(kernel.funcId('bpf_iter_num_new')),
    withLabel(Nop(), loop),
    ...iter(),
    Call.kfunc(kernel.funcId('bpf_iter_num_next')),
    JEq.imm(R0, 0, brk),
    LoadMem(R1, R0, 0, Size.W),
    ...body(brk),
    Ja(loop),
    withLabel(Nop(), brk),
    ...iter(),
    Call.kfunc(kernel.funcId('bpf_iter_num_destroy')),
  ];
}

/**
 * skb_ext_find: R1 = the address of the skb extension `id` (an enumerator of skb_ext_id, e.g.
 * SKB_EXT_BRIDGE_NF) of the skb at `skb` (a trusted pointer), or → `none` when the skb has
 * none. Uses the 8 bytes of stack at FP+`slot`; clobbers R0-R5 and R8.
 */
export function skbExtFind(kernel: Btf, skb: Reg, id: string, slot: number, none: string): Insn[] {
  const n = kernel.enumValue(id);
  return [
    LoadMem(R2, skb, kernel.memberOffset('sk_buff', 'active_extensions'), Size.B),
    And.imm(R2, 1 << n),
    JEq.imm(R2, 0, none),
    ...kread(skb, kernel.memberOffset('sk_buff', 'extensions'), Size.DW, slot, none),
    Mov.reg(R8, R1),
    // the area is offset[id] 8-byte chunks in
    ...kread(R8, kernel.memberOffset('skb_ext', 'offset') + n, Size.B, slot),
    Lsh.imm(R1, 3),
    Add.reg(R1, R8),
  ];
}
