// Kernel memory an evaluator reads beyond the packet state: structures reached from the skb
// whose addresses the verifier only knows as numbers (a conntrack entry's extension area, a
// socket's credentials, a bridge port), and kernel arrays whose length only the kernel knows.
import {
  Add,
  Call,
  FP,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
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
