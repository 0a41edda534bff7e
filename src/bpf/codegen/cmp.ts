// Comparisons many evaluators share: a value from the packet state against bounds from the
// record (RECORD, eval.ts), under an inversion bit that is also the record's.
import {
  And,
  Ja,
  JEq,
  JGt,
  JLt,
  JNe,
  LoadMem,
  Mov,
  Nop,
  R1,
  R2,
  R3,
  R4,
  R5,
  Size,
  ToBe,
  Xor,
  withLabel,
  type Insn,
} from '../asm/index.js';
import type { EvalContext } from './eval.js';
import { RECORD } from './eval.js';
import { S, STATE } from './state.js';

/** R1 = the big-endian u16 at `offset` from R9, in host order. */
export const loadBe16 = (offset: number): Insn[] => [
  LoadMem(R1, STATE, offset, Size.H),
  ToBe(R1, 16),
];

/** A bit of a u8 in the record: where an inversion flag lives. */
export interface RecordBit {
  readonly offset: number;
  readonly bit: number;
}

/**
 * Fails unless `holds` (R4: 1 or 0) differs from the record's inversion bit — the kernel's
 * `test ^ invert`.
 */
export function unlessInverted(inv: RecordBit | undefined, cg: EvalContext): Insn[] {
  if (inv === undefined) return [JEq.imm(R4, 0, cg.noMatch)];
  const plain = cg.label('inv_plain');
  const done = cg.label('inv_done');
  return [
    LoadMem(R5, RECORD, inv.offset, Size.B),
    And.imm(R5, inv.bit),
    JEq.imm(R5, 0, plain),
    JNe.imm(R4, 0, cg.noMatch),
    Ja(done),
    withLabel(JEq.imm(R4, 0, cg.noMatch), plain),
    withLabel(Nop(), done),
  ];
}

/**
 * Fails unless `holds` (R4: 1 or 0) ^ the record's u8 (or `size`) at `offset` is non-zero —
 * the kernel's `bool ^ u8` where the u8 is a whole invert field (length, mark, multiport; an
 * int for mac, pkttype, cpu): any value but 0 and 1 then makes the match hold whatever the test
 * says, as in C.
 */
export function unlessXor(offset: number, cg: EvalContext, size: Size = Size.B): Insn[] {
  return [LoadMem(R5, RECORD, offset, size), Xor.reg(R4, R5), JEq.imm(R4, 0, cg.noMatch)];
}

/** `!!invert`: any non-zero u8 at `offset` inverts (tos, dscp, the spi matches). */
export const anyBits = (offset: number): RecordBit => ({ offset, bit: 0xff });

/**
 * (lo <= R1 <= hi) ^ invert, unsigned, with lo and hi read from the record at `lo`/`hi`
 * (`size` each): the shape of port_match, length_mt and iprange_mt4. `load` puts the value in R1.
 */
export function inRange(
  load: readonly Insn[],
  lo: number,
  hi: number,
  size: Size,
  inv: RecordBit | undefined,
  cg: EvalContext,
): Insn[] {
  return [...rangeHolds(load, lo, hi, size, cg), ...unlessInverted(inv, cg)];
}

/** R4 = 1 when lo <= R1 <= hi (bounds from the record), else 0. */
export function rangeHolds(
  load: readonly Insn[],
  lo: number,
  hi: number,
  size: Size,
  cg: EvalContext,
): Insn[] {
  const out = cg.label('range_out');
  return [
    ...load,
    LoadMem(R2, RECORD, lo, size),
    LoadMem(R3, RECORD, hi, size),
    Mov.imm(R4, 0),
    JLt.reg(R1, R2, out),
    JGt.reg(R1, R3, out),
    Mov.imm(R4, 1),
    withLabel(Nop(), out),
  ];
}

/**
 * R4 = 1 when (R1 & the record's mask at `mask`) == the record's value at `value` (`size`
 * each; no mask: R1 itself), else 0. `load` puts the value in R1.
 */
export function equalHolds(
  load: readonly Insn[],
  value: number,
  size: Size,
  cg: EvalContext,
  mask?: number,
): Insn[] {
  const equal = cg.label('eq_holds');
  return [
    ...load,
    ...(mask === undefined ? [] : [LoadMem(R2, RECORD, mask, size), And.reg(R1, R2)]),
    LoadMem(R2, RECORD, value, size),
    Mov.imm(R4, 1),
    JEq.reg(R1, R2, equal),
    Mov.imm(R4, 0),
    withLabel(Nop(), equal),
  ];
}

/** Non-first fragments never match L4 matches (the kernel returns false before reading L4). */
export function requireFirstFragment(cg: EvalContext): Insn[] {
  return [LoadMem(R1, STATE, S.FRAGOFF, Size.W), JNe.imm32(R1, 0, cg.noMatch)];
}

/** skb_header_pointer(thoff, len) == NULL → hotdrop, as the tcp/udp/icmp matches do. */
export function requireL4(len: number, cg: EvalContext): Insn[] {
  return [LoadMem(R1, STATE, S.L4LEN, Size.W), JLt.imm32(R1, len, cg.hotdrop)];
}

/**
 * ((R1 & mask) == mark) ^ invert over a struct xt_mark_mtinfo1 record ({mark, mask, u8
 * invert}): -m mark on skb->mark, -m connmark on ct->mark.
 */
export function markHolds(cg: EvalContext): Insn[] {
  const equal = cg.label('mark_eq');
  return [
    LoadMem(R2, RECORD, 4, Size.W),
    And.reg(R1, R2),
    LoadMem(R2, RECORD, 0, Size.W),
    Mov.imm(R4, 1),
    JEq.reg(R1, R2, equal),
    Mov.imm(R4, 0),
    withLabel(Nop(), equal),
    ...unlessXor(8, cg),
  ];
}
