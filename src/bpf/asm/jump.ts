// Jumps, calls and exit. Targets are labels; `assemble` turns them into offsets.
import { Class, JmpOp, Pseudo, Source } from './opcodes.js';
import { checkImm32, checkReg, type Insn, type Reg } from './insn.js';

const label = (name: string) => ({ kind: 'label', name }) as const;

function jmp(
  cls: number,
  op: number,
  src: number,
  dst: Reg,
  s: number,
  imm: number,
  to: string,
): Insn {
  return {
    code: cls | op | src,
    dst: checkReg(dst),
    src: s,
    off: 0,
    imm: checkImm32(imm),
    ref: label(to),
  };
}

export interface JumpBuilder {
  imm(dst: Reg, imm: number, to: string): Insn;
  reg(dst: Reg, src: Reg, to: string): Insn;
  imm32(dst: Reg, imm: number, to: string): Insn;
  reg32(dst: Reg, src: Reg, to: string): Insn;
}

function builder(op: JmpOp): JumpBuilder {
  return {
    imm: (dst, imm, to) => jmp(Class.JMP, op, Source.K, dst, 0, imm, to),
    reg: (dst, src, to) => jmp(Class.JMP, op, Source.X, dst, checkReg(src), 0, to),
    imm32: (dst, imm, to) => jmp(Class.JMP32, op, Source.K, dst, 0, imm, to),
    reg32: (dst, src, to) => jmp(Class.JMP32, op, Source.X, dst, checkReg(src), 0, to),
  };
}

export const JEq = builder(JmpOp.JEQ);
export const JNe = builder(JmpOp.JNE);
export const JGt = builder(JmpOp.JGT);
export const JGe = builder(JmpOp.JGE);
export const JLt = builder(JmpOp.JLT);
export const JLe = builder(JmpOp.JLE);
export const JSet = builder(JmpOp.JSET);
export const JSGt = builder(JmpOp.JSGT);
export const JSGe = builder(JmpOp.JSGE);
export const JSLt = builder(JmpOp.JSLT);
export const JSLe = builder(JmpOp.JSLE);

export function Ja(to: string): Insn {
  return { code: Class.JMP | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0, ref: label(to) };
}

export function Exit(): Insn {
  return { code: Class.JMP | JmpOp.EXIT, dst: 0, src: 0, off: 0, imm: 0 };
}

export const Call = {
  /** A helper by its BPF_FUNC_* number. */
  helper: (id: number): Insn => ({
    code: Class.JMP | JmpOp.CALL,
    dst: 0,
    src: 0,
    off: 0,
    imm: checkImm32(id),
  }),
  /** A kernel function by its BTF id (vmlinux: btfFdIndex 0). */
  kfunc: (btfId: number, btfFdIndex = 0): Insn => ({
    code: Class.JMP | JmpOp.CALL,
    dst: 0,
    src: Pseudo.KFUNC_CALL,
    off: btfFdIndex,
    imm: checkImm32(btfId),
  }),
  /** A BPF-to-BPF call to the subprogram starting at `to`. */
  local: (to: string): Insn => ({
    code: Class.JMP | JmpOp.CALL,
    dst: 0,
    src: Pseudo.CALL,
    off: 0,
    imm: 0,
    ref: label(to),
  }),
};

/** `goto pc+0`: a no-op that can carry a label where a snippet ends. */
export function Nop(): Insn {
  return { code: Class.JMP | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0 };
}
