// What sctp and dccp share: tests each enabled by a bit of the record's flags and inverted by the
// same bit of its invflags (the kernel's SCCHECK/DCCHECK), port ranges among them, a walk over
// the packet (chunks, options) whose reading may set par->hotdrop, and the region of the key
// those ports give.
import {
  L4_SHORT,
  L4_WHOLE,
  box,
  inexact,
  intersect,
  interval,
  range,
  union,
  type Region,
} from '../classify/key.js';
import {
  And,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Nop,
  R1,
  R4,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { inRange, loadBe16 } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S } from '../../bpf/codegen/state.js';

/** Where a record keeps its flags and invflags (same width). */
export interface FlagWords {
  readonly flags: number;
  readonly invflags: number;
  readonly size: Size;
}

/** A walk's outcome, as the walk leaves it for `walkDecides` (in R4). */
export const WALK = { FALSE: 0, TRUE: 1, HOTDROP: 2 } as const;

/** Jumps to `skip` unless the record's flags have `bit`. Clobbers R1. */
export const unlessFlag = (f: FlagWords, bit: number, skip: string): Insn[] => [
  LoadMem(R1, RECORD, f.flags, f.size),
  And.imm(R1, bit),
  JEq.imm(R1, 0, skip),
];

/**
 * With `bit` in flags: the big-endian port at L4 + `at` in the record's host-order range at
 * `lo` (lo, hi: u16s), against the invflags bit.
 */
export function portTest(
  cg: EvalContext,
  f: FlagWords,
  bit: number,
  lo: number,
  at: number,
): Insn[] {
  const skip = cg.label('l4_noports');
  return [
    ...unlessFlag(f, bit, skip),
    ...inRange(loadBe16(S.L4 + at), lo, lo + 2, Size.H, { offset: f.invflags, bit }, cg),
    withLabel(Nop(), skip),
  ];
}

/**
 * `!!(invflags & bit) ^ walk`, the walk's outcome in R4: a hotdrop made it return false, so
 * plainly the packet is dropped now, inverted the match holds and the drop waits for the rule.
 */
export function walkDecides(cg: EvalContext, f: FlagWords, bit: number): Insn[] {
  const inverted = cg.label('l4_walk_inv');
  const done = cg.label('l4_walk_done');
  return [
    LoadMem(R1, RECORD, f.invflags, f.size),
    And.imm(R1, bit),
    JNe.imm(R1, 0, inverted),
    JEq.imm(R4, WALK.HOTDROP, cg.hotdrop),
    JEq.imm(R4, WALK.FALSE, cg.noMatch),
    Ja(done),
    withLabel(JEq.imm(R4, WALK.HOTDROP, cg.holdsHotdrop), inverted),
    JEq.imm(R4, WALK.TRUE, cg.noMatch),
    withLabel(Nop(), done),
  ];
}

/** What an L4 match with port ranges (sctp, dccp) tests of the classifier's key. */
export interface L4Ports {
  /** Tested ranges (undefined: not tested). */
  readonly spts?: readonly [number, number];
  readonly dpts?: readonly [number, number];
  readonly invSrc: boolean;
  readonly invDst: boolean;
  /** Tests the key cannot decide follow (chunks, types, options). */
  readonly more: boolean;
}

/**
 * Packets of `proto` whose whole header (L4_HEADER) holds ports in range, exactly unless
 * `more`, and every cut-short one (which these matches hotdrop). Non-first fragments never
 * match and are not dropped.
 */
export function l4PortsRegion(proto: number, p: L4Ports): Region {
  const ports = (
    field: 'sport' | 'dport',
    r: readonly [number, number] | undefined,
    inv: boolean,
  ): Region =>
    r === undefined ? interval(field, 0, 0xffff, false) : interval(field, r[0], r[1], inv);
  const tested = intersect(ports('sport', p.spts, p.invSrc), ports('dport', p.dpts, p.invDst));
  const whole = intersect(
    [box(true, range('proto', proto, proto), range('l4', L4_WHOLE, L4_WHOLE))],
    p.more ? inexact(tested) : tested,
  );
  return union(whole, [box(false, range('proto', proto, proto), range('l4', L4_SHORT, L4_SHORT))]);
}
