// What an extension's codegen is given. Match code reads the packet state through R9 (see
// state.ts), may clobber R0-R5, keeps R6-R9, falls through when the match holds and jumps to
// `noMatch` when it does not — inversions are its own business, as in the kernel's match
// functions. `hotdrop` drops the packet at once (the kernel's par->hotdrop).
import type { Insn } from '../asm/index.js';
import type { EventKind, EventOptions } from './event.js';
import type { CtLayout } from './ct.js';

export interface CodegenContext {
  readonly noMatch: string;
  readonly hotdrop: string;
  /** Blob index of the entry being compiled. */
  readonly entry: number;
  /**
   * Ordinal of the match being compiled among all matches of the table, in blob order: the key
   * of per-match state (limit buckets), distinct for two matches of one rule, the same in every
   * hook's program. Below `matchCount(plan)`.
   */
  readonly match: number;
  /** FP-relative offset of 24 bytes of stack the match may use (e.g. helper call arguments). */
  readonly scratch: number;
  /** The running kernel's CONFIG_HZ, when known (jiffies-based matches need it). */
  readonly hz: number | undefined;
  /** Where struct nf_conn keeps what xt_conntrack reads, when the flavor knows it. */
  readonly ct: CtLayout | undefined;
  /** A label unique in the program, derived from `hint`. */
  label(hint: string): string;
  /**
   * For targets: code that hands the packet to the helper as an event carrying `info` (the
   * target's own parameters). It may clobber R0-R8; targets run last in an entry.
   */
  event(kind: EventKind, info: Buffer, opts?: EventOptions): Insn[];
}

export class Unsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unsupported';
  }
}

export type MatchCodegen<T> = (value: T, revision: number, cg: CodegenContext) => readonly Insn[];

/** The per-match token buckets of `-m limit`, keyed by match ordinal (btf.ts: BUCKET). */
export const LIMITS_MAP = 'limits';
