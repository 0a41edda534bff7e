// Comparisons on the packet state that many matches share.
import {
  JGt,
  JLt,
  JNe,
  Ja,
  LoadMem,
  Nop,
  R1,
  Size,
  ToBe,
  withLabel,
  type Insn,
} from '../asm/index.js';
import type { CodegenContext } from './context.js';
import { S, STATE } from './state.js';

/**
 * (lo <= R1 && R1 <= hi) ^ invert, unsigned 32-bit, after `load` puts the value in R1: the shape
 * of port_match, length_mt and iprange_mt4.
 */
export function inRange(
  load: readonly Insn[],
  lo: number,
  hi: number,
  invert: boolean,
  cg: CodegenContext,
): Insn[] {
  if (!invert) return [...load, JLt.imm32(R1, lo, cg.noMatch), JGt.imm32(R1, hi, cg.noMatch)];
  const ok = cg.label('range_ok');
  return [
    ...load,
    JLt.imm32(R1, lo, ok),
    JGt.imm32(R1, hi, ok),
    Ja(cg.noMatch),
    withLabel(Nop(), ok),
  ];
}

/** R1 = the big-endian u16 at `offset` from R9, in host order. */
export const loadBe16 = (offset: number): Insn[] => [
  LoadMem(R1, STATE, offset, Size.H),
  ToBe(R1, 16),
];

/** port_match on the port at `offset`; nothing when it always holds. */
export function portMatch(
  offset: number,
  lo: number,
  hi: number,
  invert: boolean,
  cg: CodegenContext,
): Insn[] {
  if (lo === 0 && hi === 0xffff && !invert) return [];
  return inRange(loadBe16(offset), lo, hi, invert, cg);
}

/** Non-first fragments never match L4 matches (the kernel returns false before reading L4). */
export function requireFirstFragment(cg: CodegenContext): Insn[] {
  return [LoadMem(R1, STATE, S.FRAGOFF, Size.W), JNe.imm32(R1, 0, cg.noMatch)];
}

/** skb_header_pointer(thoff, len) == NULL → hotdrop, as the tcp/udp/icmp matches do. */
export function requireL4(len: number, cg: CodegenContext): Insn[] {
  return [LoadMem(R1, STATE, S.L4LEN, Size.W), JLt.imm32(R1, len, cg.hotdrop)];
}
