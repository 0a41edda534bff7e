// ALU and ALU64 instructions: `Add.imm(R1, 4)` is r1 += 4, `Add.reg32(R1, R2)` is w1 += w2.
import { AluOp, Class, Source } from './opcodes.js';
import { checkImm32, checkReg, type Insn, type Reg } from './insn.js';

function alu(cls: number, op: number, src: number, dst: Reg, s: number, imm: number): Insn {
  return { code: cls | op | src, dst: checkReg(dst), src: s, off: 0, imm: checkImm32(imm) };
}

export interface AluBuilder {
  imm(dst: Reg, imm: number): Insn;
  reg(dst: Reg, src: Reg): Insn;
  imm32(dst: Reg, imm: number): Insn;
  reg32(dst: Reg, src: Reg): Insn;
}

function builder(op: AluOp): AluBuilder {
  return {
    imm: (dst, imm) => alu(Class.ALU64, op, Source.K, dst, 0, imm),
    reg: (dst, src) => alu(Class.ALU64, op, Source.X, dst, checkReg(src), 0),
    imm32: (dst, imm) => alu(Class.ALU, op, Source.K, dst, 0, imm),
    reg32: (dst, src) => alu(Class.ALU, op, Source.X, dst, checkReg(src), 0),
  };
}

export const Add = builder(AluOp.ADD);
export const Sub = builder(AluOp.SUB);
export const Mul = builder(AluOp.MUL);
export const Div = builder(AluOp.DIV);
export const Or = builder(AluOp.OR);
export const And = builder(AluOp.AND);
export const Lsh = builder(AluOp.LSH);
export const Rsh = builder(AluOp.RSH);
export const Mod = builder(AluOp.MOD);
export const Xor = builder(AluOp.XOR);
export const Mov = builder(AluOp.MOV);
export const Arsh = builder(AluOp.ARSH);

export const Neg = {
  reg: (dst: Reg): Insn => alu(Class.ALU64, AluOp.NEG, Source.K, dst, 0, 0),
  reg32: (dst: Reg): Insn => alu(Class.ALU, AluOp.NEG, Source.K, dst, 0, 0),
};

/** Byte swaps: `ToBe(R1, 16)` converts the low 16 bits of r1 between host (LE) and network order. */
export function ToBe(dst: Reg, bits: 16 | 32 | 64): Insn {
  return alu(Class.ALU, AluOp.END, Source.X, dst, 0, bits);
}
export function ToLe(dst: Reg, bits: 16 | 32 | 64): Insn {
  return alu(Class.ALU, AluOp.END, Source.K, dst, 0, bits);
}
