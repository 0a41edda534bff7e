// The kernel's textsearch as xt_string runs it (lib/textsearch.c, ts_bm.c, ts_kmp.c,
// skb_find_text), for the engine: the tables ts_bm and ts_kmp build from the pattern, computed
// here exactly as they do, and the BPF that runs their searches over the packet.
//
// skb_find_text(skb, from, to) searches the skb's data from offset `from` (the network header
// at the IPv4 hooks) block by block as skb_seq_read hands them out: the linear head, each page
// fragment, then the frag_list skbs' heads and fragments; a block starting at or past `to` is
// not handed out, but a block starting before runs to its end. A position is found only if the
// pattern ends at or before `to`. KMP carries its state across blocks, so it finds the first
// occurrence in the bytes; Boyer-Moore restarts in each block and never finds one spanning two.
// Neither finds anything but the first: a first occurrence ending past `to` means no match.
import {
  Add,
  And,
  Call,
  FP,
  Ja,
  JEq,
  JGe,
  JLe,
  JLt,
  JNe,
  JSGe,
  LoadMem,
  Mov,
  Mul,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { CTX, RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import {
  BPF_FUNC_probe_read_kernel,
  boundedLoop,
  readPacket,
  SCRATCH_USE,
  skbDynptr,
} from '../../bpf/codegen/packet.js';
import { S, STATE } from '../../bpf/codegen/state.js';

/** lib/ctype.c: the kernel's lower case is a-z, 0xdf-0xf6 and 0xf8-0xff (Latin-1). */
export function kernelIsLower(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0xdf && c <= 0xff && c !== 0xf7);
}

/** And its upper case A-Z, 0xc0-0xd6, 0xd8-0xde. */
export function kernelIsUpper(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0xc0 && c <= 0xde && c !== 0xd7);
}

/** toupper()/tolower(): 32 away when the other case applies (so 0xff becomes 0xdf, 0xdf 0xbf). */
export const kernelToUpper = (c: number): number => (kernelIsLower(c) ? c - 32 : c);
export const kernelToLower = (c: number): number => (kernelIsUpper(c) ? c + 32 : c);

/** What ts_bm keeps for a pattern: the pattern itself (upper-cased for --icase) and its shifts. */
export interface BmTables {
  readonly pattern: Buffer;
  readonly badShift: readonly number[];
  readonly goodShift: readonly number[];
}

/** bm_init and compute_prefix_tbl, step for step (their quirks decide what BM finds). */
export function bmTables(raw: Buffer, icase: boolean): BmTables {
  const m = raw.length;
  const p = icase ? Buffer.from(raw.map(kernelToUpper)) : Buffer.from(raw);
  const badShift = Array<number>(256).fill(m);
  for (let i = 0; i < m - 1; i++) {
    badShift[p[i] as number] = m - 1 - i;
    if (icase) badShift[kernelToLower(p[i] as number)] = m - 1 - i;
  }
  const goodShift = Array<number>(m).fill(m);
  goodShift[0] = 1;
  for (let i = m - 1, g = 1; i > 0; g++, i--) {
    for (let j = i - 1; j >= 1 - g; j--) {
      if (subpattern(p, i, j, g)) {
        goodShift[g] = m - j - g;
        break;
      }
    }
  }
  return { pattern: p, badShift, goodShift };
}

/** ts_bm's subpattern(): whether the g bytes ending at i+g-1 recur ending at j+g-1. */
function subpattern(p: Buffer, i: number, j: number, g: number): boolean {
  let [x, y] = [i + g - 1, j + g - 1];
  while (p[x--] === p[y--]) {
    if (y < 0) return true;
    if (--g === 0) return p[i - 1] !== p[j - 1];
  }
  return false;
}

/** kmp_init: the pattern (upper-cased for --icase) and compute_prefix_tbl's failure table. */
export function kmpTables(raw: Buffer, icase: boolean): { pattern: Buffer; prefix: number[] } {
  const fold = (c: number): number => (icase ? kernelToUpper(c) : c);
  const m = raw.length;
  const prefix = Array<number>(m).fill(0);
  for (let k = 0, q = 1; q < m; q++) {
    while (k > 0 && fold(raw[k] as number) !== fold(raw[q] as number)) k = prefix[k - 1] as number;
    if (fold(raw[k] as number) === fold(raw[q] as number)) k++;
    prefix[q] = k;
  }
  return { pattern: Buffer.from(raw.map(fold)), prefix };
}

/** The engine's record of a string match. */
export const TS = {
  FROM: 0,
  TO: 2,
  PATLEN: 4,
  ICASE: 5,
  ALGO: 6,
  INVERT: 7,
  /** u8[128]: the pattern as the algorithm keeps it. */
  PATTERN: 8,
  /** u8[128]: BM's good_shift, or KMP's prefix table. */
  TABLE: 136,
  /** u8[256]: BM's bad_shift. */
  BAD: 264,
  SIZE: 520,
} as const;
export const ALGO_BM = 0;
export const ALGO_KMP = 1;

/** The search's variables in S.EVAL, and a window of packet bytes at its end. */
const E = {
  /** u64: the skb whose blocks are being walked (0: the ctx's own). */
  SKB: S.EVAL,
  /** u64: that skb's skb_shared_info, once looked up. */
  SHINFO: S.EVAL + 8,
  /** u32: that skb's block (-1: its head, else a fragment), and where it ends. */
  IDX: S.EVAL + 16,
  BEND: S.EVAL + 20,
  /** u32: where the next block is taken from (KMP: the next byte). */
  CUR: S.EVAL + 24,
  /** u32: the start of the text BM searches in this block, its shift, and i (KMP: q). */
  TSTART: S.EVAL + 28,
  SHIFT: S.EVAL + 32,
  I: S.EVAL + 36,
  /** u32: the outcome: 1 found, 0 not. */
  RES: S.EVAL + 40,
  /** u32: the window's packet offset and length. */
  WBASE: S.EVAL + 44,
  WLEN: S.EVAL + 48,
  /** u32: BM's phase (P_*). */
  PHASE: S.EVAL + 52,
  /** u32: where KMP stops: min(to, skb->len). */
  LIMIT: S.EVAL + 56,
  /** u32: the packet offset being fetched. */
  POS: S.EVAL + 60,
  WINDOW: S.EVAL + 64,
} as const;
const WINDOW = 64;
const P_BLOCK = 0;
const P_SEARCH = 1;
/** Each step compares one byte or takes one block; see searchCode for why this is enough. */
const MAX_STEPS = 1 << 23;

/**
 * R4 = 1 when the record's pattern is found as skb_find_text finds it, else 0. The bound is
 * never what ends a search: BM gives up once a match could only end past `to`, so it compares
 * at most (to - from) * patlen < 2^23 bytes; KMP takes at most two steps per byte up to `to`.
 * Clobbers R0-R5, R8.
 */
export function searchCode(cg: EvalContext): Insn[] {
  const kmp = cg.label('ts_kmp');
  const limited = cg.label('ts_limited');
  const done = cg.label('ts_done');
  const failed = cg.label('ts_failed');
  return [
    StoreImm(STATE, E.RES, 0, Size.W),
    StoreImm(STATE, E.WLEN, 0, Size.W),
    StoreImm(STATE, E.WBASE, 0, Size.W),
    StoreImm(STATE, E.I, 0, Size.W),
    LoadMem(R1, RECORD, TS.FROM, Size.H),
    StoreMem(STATE, E.CUR, R1, Size.W),
    LoadMem(R2, RECORD, TS.TO, Size.H),
    LoadMem(R3, STATE, S.SKBLEN, Size.W),
    JLe.reg(R2, R3, limited),
    Mov.reg(R2, R3),
    withLabel(StoreMem(STATE, E.LIMIT, R2, Size.W), limited),
    ...skbDynptr(cg),
    JNe.imm(R0, 0, done),
    LoadMem(R1, RECORD, TS.ALGO, Size.B),
    JEq.imm(R1, ALGO_KMP, kmp),
    // BM: the ctx's skb, its head block first
    StoreImm(STATE, E.SKB, 0, Size.DW),
    StoreImm(STATE, E.IDX, -1, Size.W),
    StoreImm(STATE, E.PHASE, P_BLOCK, Size.W),
    ...headLen(cg, failed),
    StoreMem(STATE, E.BEND, R1, Size.W),
    ...boundedLoop(cg, MAX_STEPS, (next, exit) => bmStep(cg, next, exit)),
    Ja(done),
    withLabel(Nop(), kmp),
    ...boundedLoop(cg, MAX_STEPS, (next, exit) => kmpStep(cg, next, exit)),
    Ja(done),
    withLabel(StoreImm(STATE, E.RES, 0, Size.W), failed),
    withLabel(LoadMem(R4, STATE, E.RES, Size.W), done),
  ];
}

/** R2 = toupper(R2) for the record's --icase, as the kernel's ctype has it. */
function fold(cg: EvalContext): Insn[] {
  const done = cg.label('ts_folded');
  const lower = cg.label('ts_lower');
  return [
    LoadMem(R3, RECORD, TS.ICASE, Size.B),
    JEq.imm(R3, 0, done),
    JLt.imm(R2, 0x61, done),
    JLe.imm(R2, 0x7a, lower),
    JLt.imm(R2, 0xdf, done),
    JEq.imm(R2, 0xf7, done),
    withLabel(Sub.imm(R2, 32), lower),
    withLabel(Nop(), done),
  ];
}

/**
 * R1 = the packet byte at E.POS, through the window; a miss refills it from POS rounded down
 * to 32 (so a backward run of BM's and a forward run of KMP's both mostly hit). The walk never
 * fetches past skb->len, so the bytes are there: a failed read leaves through `exit`.
 */
function fetch(cg: EvalContext, exit: string): Insn[] {
  const miss = cg.label('ts_miss');
  const hit = cg.label('ts_hit');
  const some = cg.label('ts_some');
  const capped = cg.label('ts_capped');
  return [
    LoadMem(R1, STATE, E.POS, Size.W),
    LoadMem(R2, STATE, E.WBASE, Size.W),
    Sub.reg(R1, R2),
    LoadMem(R2, STATE, E.WLEN, Size.W),
    JGe.reg(R1, R2, miss),
    JLt.imm(R1, WINDOW, hit),
    withLabel(LoadMem(R4, STATE, E.POS, Size.W), miss),
    And.imm(R4, ~31),
    StoreMem(STATE, E.WBASE, R4, Size.W),
    StoreImm(STATE, E.WLEN, 0, Size.W),
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    Sub.reg(R2, R4),
    JSGe.imm(R2, 1, some),
    Ja(exit),
    withLabel(JLe.imm(R2, WINDOW, capped), some),
    Mov.imm(R2, WINDOW),
    withLabel(StoreMem(STATE, E.WLEN, R2, Size.W), capped),
    ...readPacket(cg, E.WINDOW, 'r2'),
    JNe.imm(R0, 0, exit),
    LoadMem(R1, STATE, E.POS, Size.W),
    LoadMem(R2, STATE, E.WBASE, Size.W),
    Sub.reg(R1, R2),
    JGe.imm(R1, WINDOW, exit),
    withLabel(Mov.reg(R3, STATE), hit),
    Add.reg(R3, R1),
    LoadMem(R1, R3, E.WINDOW, Size.B),
  ];
}

/** One KMP step: one fallback along the prefix table, or one byte consumed. */
function kmpStep(cg: EvalContext, next: string, exit: string): Insn[] {
  const mismatch = cg.label('kmp_mismatch');
  const first = cg.label('kmp_first');
  return [
    LoadMem(R1, STATE, E.CUR, Size.W),
    LoadMem(R2, STATE, E.LIMIT, Size.W),
    JGe.reg(R1, R2, exit),
    StoreMem(STATE, E.POS, R1, Size.W),
    ...fetch(cg, exit),
    Mov.reg(R2, R1),
    ...fold(cg),
    // R4 = q, R3 = pattern[q]
    LoadMem(R4, STATE, E.I, Size.W),
    And.imm(R4, 127),
    Mov.reg(R3, RECORD),
    Add.reg(R3, R4),
    LoadMem(R3, R3, TS.PATTERN, Size.B),
    JNe.reg(R3, R2, mismatch),
    Add.imm(R4, 1),
    StoreMem(STATE, E.I, R4, Size.W),
    ...advance(E.CUR),
    LoadMem(R1, RECORD, TS.PATLEN, Size.B),
    JNe.reg(R4, R1, next),
    StoreImm(STATE, E.RES, 1, Size.W),
    Ja(exit),
    withLabel(JEq.imm(R4, 0, first), mismatch),
    // q = prefix_tbl[q - 1], the byte not consumed
    Sub.imm(R4, 1),
    Mov.reg(R3, RECORD),
    Add.reg(R3, R4),
    LoadMem(R3, R3, TS.TABLE, Size.B),
    StoreMem(STATE, E.I, R3, Size.W),
    Ja(next),
    withLabel(Nop(), first),
    ...advance(E.CUR),
  ];
}

/** The u32 at `at` in the state += 1. Clobbers R1. */
const advance = (at: number): Insn[] => [
  LoadMem(R1, STATE, at, Size.W),
  Add.imm(R1, 1),
  StoreMem(STATE, at, R1, Size.W),
];

/** One BM step: the next block (P_BLOCK), or one byte compared (P_SEARCH). */
function bmStep(cg: EvalContext, next: string, exit: string): Insn[] {
  const search = cg.label('bm_search');
  return [
    LoadMem(R1, STATE, E.PHASE, Size.W),
    JEq.imm(R1, P_SEARCH, search),
    ...nextBlock(cg, next, exit),
    withLabel(Nop(), search),
    ...bmCompare(cg, next, exit),
  ];
}

/**
 * skb_seq_read's next block from E.CUR: none once CUR reaches `to`; the current one when it
 * ends past CUR (BM then starts there: shift = patlen - 1, i = 0); else the block after it —
 * the skb's next fragment, or the next skb's head (the root's frag_list, then each one's next).
 */
function nextBlock(cg: EvalContext, next: string, exit: string): Insn[] {
  const k = cg.kernel;
  const later = cg.label('bm_later');
  const noFrag = cg.label('bm_nofrag');
  const root = cg.label('bm_root');
  const got = cg.label('bm_gotskb');
  const fragSize =
    k.offsetOf('skb_shared_info', 'frags[1]') - k.offsetOf('skb_shared_info', 'frags[0]');
  return [
    LoadMem(R1, STATE, E.CUR, Size.W),
    LoadMem(R2, RECORD, TS.TO, Size.H),
    JGe.reg(R1, R2, exit),
    LoadMem(R2, STATE, E.BEND, Size.W),
    JGe.reg(R1, R2, later),
    StoreMem(STATE, E.TSTART, R1, Size.W),
    LoadMem(R1, RECORD, TS.PATLEN, Size.B),
    Sub.imm(R1, 1),
    StoreMem(STATE, E.SHIFT, R1, Size.W),
    StoreImm(STATE, E.I, 0, Size.W),
    StoreImm(STATE, E.PHASE, P_SEARCH, Size.W),
    Ja(next),
    withLabel(Nop(), later),
    ...advance(E.IDX),
    ...shinfo(cg, exit),
    ...probe(cg, 1, exit, [
      LoadMem(R3, STATE, E.SHINFO, Size.DW),
      Add.imm(R3, k.memberOffset('skb_shared_info', 'nr_frags')),
    ]),
    LoadMem(R2, STATE, E.IDX, Size.W),
    JGe.reg(R2, R1, noFrag),
    ...probe(cg, 4, exit, [
      LoadMem(R3, STATE, E.IDX, Size.W),
      Mul.imm(R3, fragSize),
      LoadMem(R1, STATE, E.SHINFO, Size.DW),
      Add.reg(R3, R1),
      Add.imm(R3, k.offsetOf('skb_shared_info', 'frags[0]') + k.memberOffset('skb_frag', 'len')),
    ]),
    LoadMem(R2, STATE, E.BEND, Size.W),
    Add.reg(R2, R1),
    StoreMem(STATE, E.BEND, R2, Size.W),
    Ja(next),
    // the skb's fragments are done: the root's frag_list, or the next skb of that list
    withLabel(LoadMem(R1, STATE, E.SKB, Size.DW), noFrag),
    JEq.imm(R1, 0, root),
    ...probe(cg, 8, exit, [
      LoadMem(R3, STATE, E.SKB, Size.DW),
      Add.imm(R3, k.memberOffset('sk_buff', 'next')),
    ]),
    Ja(got),
    withLabel(Nop(), root),
    ...probe(cg, 8, exit, [
      LoadMem(R3, STATE, E.SHINFO, Size.DW),
      Add.imm(R3, k.memberOffset('skb_shared_info', 'frag_list')),
    ]),
    withLabel(JEq.imm(R1, 0, exit), got),
    StoreMem(STATE, E.SKB, R1, Size.DW),
    StoreImm(STATE, E.IDX, -1, Size.W),
    ...headLen(cg, exit),
    LoadMem(R2, STATE, E.BEND, Size.W),
    Add.reg(R2, R1),
    StoreMem(STATE, E.BEND, R2, Size.W),
    Ja(next),
  ];
}

/**
 * One byte of matchpat, backwards from text[shift]: past the block, the next block; at a
 * shift whose match would end past `to`, no match (none in this block could be kept, and the
 * next block would start past `to`); a whole match, found; a mismatch, BM's shift.
 */
function bmCompare(cg: EvalContext, next: string, exit: string): Insn[] {
  const inBlock = cg.label('bm_inblock');
  const mismatch = cg.label('bm_mismatch');
  const keep = cg.label('bm_keep');
  return [
    LoadMem(R1, STATE, E.TSTART, Size.W),
    LoadMem(R2, STATE, E.SHIFT, Size.W),
    Add.reg(R1, R2),
    LoadMem(R2, STATE, E.BEND, Size.W),
    JLt.reg(R1, R2, inBlock),
    StoreMem(STATE, E.CUR, R2, Size.W),
    StoreImm(STATE, E.PHASE, P_BLOCK, Size.W),
    Ja(next),
    withLabel(LoadMem(R2, RECORD, TS.TO, Size.H), inBlock),
    JGe.reg(R1, R2, exit),
    LoadMem(R2, STATE, E.I, Size.W),
    Sub.reg(R1, R2),
    StoreMem(STATE, E.POS, R1, Size.W),
    ...fetch(cg, exit),
    // R1 = the text byte, R2 = it folded, R3 = pattern[patlen - 1 - i]
    Mov.reg(R2, R1),
    ...fold(cg),
    LoadMem(R3, RECORD, TS.PATLEN, Size.B),
    Sub.imm(R3, 1),
    LoadMem(R4, STATE, E.I, Size.W),
    Sub.reg(R3, R4),
    And.imm(R3, 127),
    Add.reg(R3, RECORD),
    LoadMem(R3, R3, TS.PATTERN, Size.B),
    JNe.reg(R2, R3, mismatch),
    Add.imm(R4, 1),
    StoreMem(STATE, E.I, R4, Size.W),
    LoadMem(R1, RECORD, TS.PATLEN, Size.B),
    JNe.reg(R4, R1, next),
    StoreImm(STATE, E.RES, 1, Size.W),
    Ja(exit),
    // shift = max(shift - i + bad_shift[text byte], shift + good_shift[i]); i = 0
    withLabel(And.imm(R1, 0xff), mismatch),
    Add.reg(R1, RECORD),
    LoadMem(R1, R1, TS.BAD, Size.B),
    LoadMem(R2, STATE, E.SHIFT, Size.W),
    Add.reg(R1, R2),
    Sub.reg(R1, R4),
    And.imm(R4, 127),
    Add.reg(R4, RECORD),
    LoadMem(R4, R4, TS.TABLE, Size.B),
    Add.reg(R2, R4),
    JSGe.reg(R1, R2, keep),
    Mov.reg(R1, R2),
    withLabel(StoreMem(STATE, E.SHIFT, R1, Size.W), keep),
    StoreImm(STATE, E.I, 0, Size.W),
  ];
}

/** R3 = the skb being walked: E.SKB, or the ctx's (trusted) skb for 0. */
function skbAddress(cg: EvalContext): Insn[] {
  const have = cg.label('ts_skb');
  return [
    LoadMem(R3, STATE, E.SKB, Size.DW),
    JNe.imm(R3, 0, have),
    LoadMem(R3, CTX, cg.ctxLayout.skb, Size.DW),
    withLabel(Nop(), have),
  ];
}

/**
 * R1 = `size` bytes (1, 4 or 8) of kernel memory at the address `addr` leaves in R3, read
 * with probe_read into the evaluator's free scratch; a fault leaves through `exit`.
 */
function probe(cg: EvalContext, size: 1 | 4 | 8, exit: string, addr: readonly Insn[]): Insn[] {
  const at = cg.scratch + SCRATCH_USE.FREE;
  const width = { 1: Size.B, 4: Size.W, 8: Size.DW }[size];
  return [
    ...addr,
    Mov.reg(R1, FP),
    Add.imm(R1, at),
    Mov.imm(R2, size),
    Call.helper(BPF_FUNC_probe_read_kernel),
    JNe.imm(R0, 0, exit),
    LoadMem(R1, FP, at, width),
  ];
}

/** R1 = skb_headlen() of the skb being walked: len - data_len. */
function headLen(cg: EvalContext, exit: string): Insn[] {
  const k = cg.kernel;
  return [
    ...probe(cg, 4, exit, [...skbAddress(cg), Add.imm(R3, k.memberOffset('sk_buff', 'data_len'))]),
    StoreMem(STATE, E.SHINFO, R1, Size.DW),
    ...probe(cg, 4, exit, [...skbAddress(cg), Add.imm(R3, k.memberOffset('sk_buff', 'len'))]),
    LoadMem(R2, STATE, E.SHINFO, Size.DW),
    Sub.reg(R1, R2),
  ];
}

/** E.SHINFO = skb_shinfo() of the skb being walked: head + end. */
function shinfo(cg: EvalContext, exit: string): Insn[] {
  const k = cg.kernel;
  return [
    ...probe(cg, 8, exit, [...skbAddress(cg), Add.imm(R3, k.memberOffset('sk_buff', 'head'))]),
    StoreMem(STATE, E.SHINFO, R1, Size.DW),
    ...probe(cg, 4, exit, [...skbAddress(cg), Add.imm(R3, k.memberOffset('sk_buff', 'end'))]),
    LoadMem(R2, STATE, E.SHINFO, Size.DW),
    Add.reg(R1, R2),
    StoreMem(STATE, E.SHINFO, R1, Size.DW),
  ];
}
