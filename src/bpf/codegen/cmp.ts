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
 * The kernel's port_match: (lo <= port && port <= hi) ^ invert, on the big-endian u16 at
 * `offset` from R9. Emits nothing when it always holds.
 */
export function portMatch(
  offset: number,
  lo: number,
  hi: number,
  invert: boolean,
  cg: CodegenContext,
): Insn[] {
  if (lo === 0 && hi === 0xffff && !invert) return [];
  const load = [LoadMem(R1, STATE, offset, Size.H), ToBe(R1, 16)];
  if (!invert) return [...load, JLt.imm(R1, lo, cg.noMatch), JGt.imm(R1, hi, cg.noMatch)];
  const ok = cg.label('port_ok');
  return [...load, JLt.imm(R1, lo, ok), JGt.imm(R1, hi, ok), Ja(cg.noMatch), withLabel(Nop(), ok)];
}

/** Non-first fragments never match L4 matches (the kernel returns false before reading L4). */
export function requireFirstFragment(cg: CodegenContext): Insn[] {
  return [LoadMem(R1, STATE, S.FRAGOFF, Size.W), JNe.imm32(R1, 0, cg.noMatch)];
}

/** skb_header_pointer(thoff, len) == NULL → hotdrop, as the tcp/udp/icmp matches do. */
export function requireL4(len: number, cg: CodegenContext): Insn[] {
  return [LoadMem(R1, STATE, S.L4LEN, Size.W), JLt.imm32(R1, len, cg.hotdrop)];
}
