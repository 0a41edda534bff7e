// Memory access, atomics and 64-bit immediates.
import { Class, Mode, Pseudo, Size, ATOMIC_FETCH, AluOp } from './opcodes.js';
import { checkImm32, checkOff16, checkReg, type Insn, type Reg } from './insn.js';

/** dst = *(size *)(src + off) */
export function LoadMem(dst: Reg, src: Reg, off: number, size: Size): Insn {
  return {
    code: Class.LDX | Mode.MEM | size,
    dst: checkReg(dst),
    src: checkReg(src),
    off: checkOff16(off),
    imm: 0,
  };
}

/** *(size *)(dst + off) = src */
export function StoreMem(dst: Reg, off: number, src: Reg, size: Size): Insn {
  return {
    code: Class.STX | Mode.MEM | size,
    dst: checkReg(dst),
    src: checkReg(src),
    off: checkOff16(off),
    imm: 0,
  };
}

/** *(size *)(dst + off) = imm */
export function StoreImm(dst: Reg, off: number, imm: number, size: Size): Insn {
  return {
    code: Class.ST | Mode.MEM | size,
    dst: checkReg(dst),
    src: 0,
    off: checkOff16(off),
    imm: checkImm32(imm),
  };
}

/** lock *(size *)(dst + off) += src; with fetch, src receives the old value. Size W or DW. */
export function AtomicAdd(
  dst: Reg,
  off: number,
  src: Reg,
  size: typeof Size.W | typeof Size.DW,
  fetch = false,
): Insn {
  return {
    code: Class.STX | Mode.ATOMIC | size,
    dst: checkReg(dst),
    src: checkReg(src),
    off: checkOff16(off),
    imm: AluOp.ADD | (fetch ? ATOMIC_FETCH : 0),
  };
}

/** BPF_CMPXCHG (with BPF_FETCH, as the kernel requires). */
export const ATOMIC_CMPXCHG = 0xf1;

/**
 * r0 = cmpxchg((size *)(dst + off), r0, src): stores src if the memory held r0; r0 gets what it
 * held either way. Size W or DW.
 */
export function AtomicCmpXchg(
  dst: Reg,
  off: number,
  src: Reg,
  size: typeof Size.W | typeof Size.DW,
): Insn {
  return {
    code: Class.STX | Mode.ATOMIC | size,
    dst: checkReg(dst),
    src: checkReg(src),
    off: checkOff16(off),
    imm: ATOMIC_CMPXCHG,
  };
}

function wide(dst: Reg, src: number, value: bigint, ref?: Insn['ref']): Insn {
  const v = BigInt.asUintN(64, value);
  const base = {
    code: Class.LD | Mode.IMM | Size.DW,
    dst: checkReg(dst),
    src,
    off: 0,
    imm: Number(BigInt.asIntN(32, v)),
    imm64: v,
  };
  return ref ? { ...base, ref } : base;
}

/** dst = imm64 */
export function LoadImm64(dst: Reg, value: bigint): Insn {
  return wide(dst, 0, value);
}

/** dst = the map named `map` (its fd is patched in at assembly). */
export function LoadMapPtr(dst: Reg, map: string): Insn {
  return wide(dst, Pseudo.MAP_FD, 0n, { kind: 'map', name: map });
}

/** dst = address of the map's value at key 0, plus `off` (array maps with one element). */
export function LoadMapValue(dst: Reg, map: string, off = 0): Insn {
  return wide(dst, Pseudo.MAP_VALUE, BigInt(off) << 32n, { kind: 'map', name: map });
}

/** dst = the subprogram at `label` (callbacks, e.g. bpf_loop's). */
export function LoadFunc(dst: Reg, label: string): Insn {
  return wide(dst, Pseudo.FUNC, 0n, { kind: 'label', name: label });
}
