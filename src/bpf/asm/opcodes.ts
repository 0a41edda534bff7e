// eBPF opcode fields (include/uapi/linux/bpf.h, bpf_common.h).

export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export type Size = (typeof Size)[keyof typeof Size];
export const SIZE_BYTES: Readonly<Record<Size, number>> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };

export const Mode = { IMM: 0x00, MEM: 0x60, ATOMIC: 0xc0 } as const;

export const Source = { K: 0x00, X: 0x08 } as const;

export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;
export type AluOp = (typeof AluOp)[keyof typeof AluOp];

export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
} as const;
export type JmpOp = (typeof JmpOp)[keyof typeof JmpOp];

/** src_reg values that change the meaning of ld_imm64 and call. */
export const Pseudo = {
  MAP_FD: 1,
  MAP_VALUE: 2,
  FUNC: 4,
  CALL: 1,
  KFUNC_CALL: 2,
} as const;

export const ATOMIC_FETCH = 0x01;

export const opClass = (code: number): number => code & 0x07;
export const opSize = (code: number): Size => (code & 0x18) as Size;
export const opMode = (code: number): number => code & 0xe0;
export const opSource = (code: number): number => code & 0x08;
export const opOp = (code: number): number => code & 0xf0;
