// An instruction is a plain value. Jumps, local calls and map references name symbols; the
// assembler resolves them in one fixup pass, so nobody counts offsets by hand.

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const R0: Reg = 0;
export const R1: Reg = 1;
export const R2: Reg = 2;
export const R3: Reg = 3;
export const R4: Reg = 4;
export const R5: Reg = 5;
export const R6: Reg = 6;
export const R7: Reg = 7;
export const R8: Reg = 8;
export const R9: Reg = 9;
/** Read-only frame pointer. */
export const R10: Reg = 10;
export const FP = R10;

/** A reference the assembler patches: a jump/call target label, or a map by name. */
export type Ref =
  | { readonly kind: 'label'; readonly name: string }
  | { readonly kind: 'map'; readonly name: string };

export interface Insn {
  readonly code: number;
  readonly dst: Reg;
  readonly src: number;
  readonly off: number;
  /** 32-bit immediate; for ld_imm64 the low half (see imm64). */
  readonly imm: number;
  /** Present only on ld_imm64 (two slots): the full 64-bit immediate. */
  readonly imm64?: bigint;
  /** Resolved by the assembler into off (jumps) or imm (calls, ld_imm64 func/map). */
  readonly ref?: Ref;
  /** Labels naming this instruction. */
  readonly labels?: readonly string[];
  /** Free text shown by the disassembler, e.g. which rule this instruction implements. */
  readonly comment?: string;
}

export function isWide(insn: Pick<Insn, 'code'>): boolean {
  return insn.code === 0x18;
}

/** Number of 8-byte slots the instruction occupies. */
export function slots(insn: Pick<Insn, 'code'>): 1 | 2 {
  return isWide(insn) ? 2 : 1;
}

/** Names this instruction so jumps can target it. */
export function withLabel(insn: Insn, label: string): Insn {
  return { ...insn, labels: [...(insn.labels ?? []), label] };
}

export function withComment(insn: Insn, comment: string): Insn {
  return { ...insn, comment };
}

export function checkReg(r: number): Reg {
  if (!Number.isInteger(r) || r < 0 || r > 10) throw new RangeError(`no register r${r}`);
  return r as Reg;
}

export function checkImm32(v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new RangeError(`immediate ${v} does not fit 32 bits`);
  }
  return v | 0;
}

export function checkOff16(v: number): number {
  if (!Number.isInteger(v) || v < -0x8000 || v > 0x7fff) {
    throw new RangeError(`offset ${v} does not fit 16 bits`);
  }
  return v;
}
