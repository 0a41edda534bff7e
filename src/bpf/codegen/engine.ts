// The engine program: one per table, run at each of its hooks (the hook's header word is read
// by the hook the packet is at), the same for every ruleset whose extensions it evaluates.
// It is ipt_do_table over data (docs/engine.md):
//
//   main      claim a work entry (the packet state, state.ts) → prologue (flavor) → key →
//             the hook's first block and underflow from the header → bpf_loop(walk) → free the
//             entry → verdict
//   walk      one step per call, by PHASE:
//     CLASSIFY  every group's tree of the block down to a leaf (classify, a global function)
//     CAND      the next candidate in entry order across the groups (a merge of sorted lists);
//               covered → act; else ipt_ip from the rule record, then its first match
//     MATCH     one match: its ref names the kind and the record; that kind's evaluator runs
//     UNDER     the hook's policy, for a RETURN with nothing pushed
//   act       count, then the action: verdict, jump (push a frame), goto, RETURN (pop),
//             continue, a target's evaluator (LOG, REJECT), drop
//
// What it takes for the verifier to check this once, whatever the ruleset:
//  - the walk carries everything between steps in the work entry, map memory whose contents
//    the verifier does not track, so each bpf_loop iteration starts from the same state;
//  - the big pieces (classify, every match evaluator) are global functions, which the verifier
//    checks on their own, once, from their argument types, instead of once per way to reach
//    them. Their size depends on the extensions in use, never on the rules.
// Registers in the walk: R9 state, R8 the rule record, R7 a match or target record, R6
// scratch kept across helper calls.
import {
  Add,
  And,
  Arsh,
  AtomicAdd,
  AtomicCmpXchg,
  Call,
  Exit,
  FP,
  Ja,
  JEq,
  JGe,
  JGt,
  JLt,
  JSet,
  JNe,
  LoadFunc,
  LoadMapPtr,
  LoadMapValue,
  LoadMem,
  Lsh,
  Mov,
  Mul,
  Nop,
  Or,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R6,
  R7,
  R8,
  R9,
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  ToBe,
  Xor,
  pruneUnreachable,
  relax,
  withLabel,
  type Insn,
  type Reg,
} from '../asm/index.js';
import type { Evaluated } from '../../translate/ext/types.js';
import {
  DIM,
  KEY_WORDS,
  L4_FRAGMENT,
  L4_HEADER,
  L4_SHORT,
  L4_WHOLE,
} from '../../translate/classify/key.js';
import { MAX_DEPTH } from '../../translate/classify/hypersplit.js';
import { IPT_INV_DSTIP, IPT_INV_FRAG, IPT_INV_PROTO, IPT_INV_SRCIP } from '../../translate/abi.js';
import type { BtfFunc } from './btf.js';
import type { EvalContext, EvalEventOptions } from './eval.js';
import { CTX, RECORD, SCRATCH } from './eval.js';
import { MAIN_FRAME, type HookFlavor } from './flavor.js';
import {
  Act,
  BLOCK,
  CAND,
  GROUPS,
  HEADER,
  Ipf,
  MAPS,
  MREF,
  NODE,
  NODE_LEAF,
  NO_CAND,
  RULE,
  Stat,
  WORK_PER_CPU,
  kindMap,
} from './layout.js';
import { FRAME, Phase, S, STATE } from './state.js';
import type { EventKind } from './event.js';

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_get_smp_processor_id = 8;
const BPF_FUNC_loop = 181;

/** bpf_loop's ceiling (1 << 23): steps a packet may take before it is dropped. */
export const MAX_STEPS = 1 << 23;

export interface EngineSpec {
  /** Match kinds the program evaluates; a match ref's KIND is the index here. */
  readonly matches: readonly Evaluated[];
  /** Target kinds; a rule's TARGET_* action names one by its index here. */
  readonly targets: readonly Evaluated[];
  /** The helper sends packets on the ruleset's behalf (REJECT): OUTPUT must know them. */
  readonly replies: boolean;
  /** Jump frames a work entry holds: the deepest nesting the program allows. */
  readonly depth: number;
  /** Entries of the work map. */
  readonly workEntries: number;
  /** Bytes of the work map's value. */
  readonly workSize: number;
  /** Counter slots per CPU (layout.ts MAPS.COUNTERS): both halves' rules. */
  readonly counterSlots: number;
  /** CPUs the counters map has slots for (the possible CPUs). */
  readonly cpus: number;
}

export interface EngineProgram {
  readonly insns: readonly Insn[];
  /** Every subprogram's first label and its BTF description, main first. */
  readonly funcs: readonly (BtfFunc & { readonly label: string })[];
}

const ACCEPT = 1;
const DROP = 0;

/** Main frame: MAIN_FRAME at FP-32 (the dynptr its last 16 bytes), a lookup key below. */
const MAIN = MAIN_FRAME.SIZE;
const DYNPTR = MAIN - MAIN_FRAME.DYNPTR;
const MAIN_KEY = MAIN + 8;
/** Walk frame: the main frame's address, a lookup key, the target action, scratch. */
const CB_FRAME = 8;
const CB_KEY = 16;
const CB_ACTION = 24;
/** Candidates a CAND step may still turn down before it ends (a u64 count). */
const CB_BUDGET = 32;
const CB_SCRATCH = CB_BUDGET + SCRATCH;
/** Global functions' frames: a lookup key and evaluator scratch. */
const FN_KEY = 8;
const FN_SCRATCH = 8 + SCRATCH;
/** classify's mask of groups at their leaf: EVAL is free while no evaluator runs. */
const CLS_DONE = S.EVAL;

/**
 * Candidates one CAND step may look at. Most are turned down by their boxes in a few
 * instructions; ending the step for each would pay a bpf_loop round and the phase dispatch
 * for every one. The verifier checks the CAND code this many times over, whatever the rules.
 */
const CANDS_PER_STEP = 4;

/** Results of a match evaluator. */
const M_NO = 0;
const M_YES = 1;
const M_HOTDROP = 2;
/** Holds, with par->hotdrop set: the rule goes on, then the packet is dropped (S.HOTDROP). */
const M_YES_HOTDROP = 3;

class Labels {
  private n = 0;
  next(hint: string): string {
    return `${hint}_${this.n++}`;
  }
}

/** R0 = lookup(map, key in `keyReg`), via the u32 key slot at FP-`slot`; null → `onNull`. */
function lookup(map: string, keyReg: Reg, slot: number, onNull: string): Insn[] {
  return [
    StoreMem(FP, -slot, keyReg, Size.W),
    LoadMapPtr(R1, map),
    Mov.reg(R2, FP),
    Add.imm(R2, -slot),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, onNull),
  ];
}

const ret = (v: number): Insn[] => [Mov.imm(R0, v), Exit()];

/**
 * The list entry at index `cursor` (a register, via the key slot FP-`slot`) copied to a group's
 * head at `base` + `off` (S.HEADS): what CAND merges. Clobbers R0-R5.
 */
function copyHead(cursor: Reg, slot: number, base: Reg, off: number, onNull: string): Insn[] {
  return [
    ...lookup(MAPS.LISTS, cursor, slot, onNull),
    LoadMem(R1, R0, 0, Size.DW),
    StoreMem(base, off, R1, Size.DW),
  ];
}
const phase = (p: number): Insn => StoreImm(STATE, S.PHASE, p, Size.W);
const cursor = (g: number): number => S.GROUPS + 4 * g;
const head = (g: number): number => S.HEADS + 8 * g;

/** Adds 1 to a stats counter (per CPU); clobbers R0-R5 and FP-`slot`. */
function stat(which: number, slot: number, l: Labels): Insn[] {
  const skip = l.next('stat_skip');
  return [
    Mov.imm(R1, which),
    StoreMem(FP, -slot, R1, Size.W),
    LoadMapPtr(R1, MAPS.STATS),
    Mov.reg(R2, FP),
    Add.imm(R2, -slot),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, skip),
    Mov.imm(R1, 1),
    AtomicAdd(R0, 0, R1, Size.DW),
    withLabel(Nop(), skip),
  ];
}

/**
 * R9 = a work entry this invocation owns: one of the CPU's WORK_PER_CPU entries, taken with a
 * cmpxchg on its owner word, so no two programs share one however they nest (a softirq running
 * INPUT in the middle of OUTPUT on the same CPU) or migrate. None free → `none`.
 *
 * The owner word counts: odd while held, and every claim and every release adds one. Everything
 * a packet reads of a generation (the header first) it reads between the two, so the helper
 * knows a generation it switched away from is no longer read once every word it saw odd has
 * moved on (instance.ts quiesce), without waiting for an RCU grace period.
 */
function claim(spec: EngineSpec, l: Labels, none: string): Insn[] {
  const got = l.next('claim_got');
  const out: Insn[] = [
    Call.helper(BPF_FUNC_get_smp_processor_id),
    Mul.imm(R0, WORK_PER_CPU),
    Mov.reg(R8, R0),
  ];
  for (let k = 0; k < WORK_PER_CPU; k++) {
    const next = l.next('claim_next');
    const inRange = l.next('claim_in');
    out.push(
      Mov.reg(R1, R8),
      Add.imm(R1, k),
      // More CPUs than the map was sized for: share the last CPU's entries.
      JLt.imm(R1, spec.workEntries, inRange),
      Mov.imm(R1, spec.workEntries - WORK_PER_CPU + k),
      withLabel(Nop(), inRange),
      ...lookup(MAPS.WORK, R1, MAIN_KEY, next),
      Mov.reg(R9, R0),
      LoadMem(R0, R9, S.OWNER, Size.W),
      JSet.imm(R0, 1, next),
      Mov.reg(R2, R0),
      Mov.reg(R1, R0),
      Add.imm(R1, 1),
      AtomicCmpXchg(R9, S.OWNER, R1, Size.W),
      JEq.reg(R0, R2, got),
      withLabel(Nop(), next),
    );
  }
  out.push(...stat(Stat.NO_WORK, MAIN_KEY, l), Ja(none), withLabel(Nop(), got));
  return out;
}

/** The key (classify/key.ts) from the state the prologue filled; every word is written. */
function keyFill(l: Labels): Insn[] {
  const k = (field: keyof typeof DIM): number => S.KEY + 4 * DIM[field];
  const done = l.next('key_done');
  const icmp = l.next('key_icmp');
  const whole = l.next('key_whole');
  const out: Insn[] = [
    LoadMem(R1, STATE, S.IP + 12, Size.W),
    ToBe(R1, 32),
    StoreMem(STATE, k('src'), R1, Size.W),
    LoadMem(R1, STATE, S.IP + 16, Size.W),
    ToBe(R1, 32),
    StoreMem(STATE, k('dst'), R1, Size.W),
    LoadMem(R2, STATE, S.IP + 9, Size.B),
    StoreMem(STATE, k('proto'), R2, Size.W),
    StoreImm(STATE, k('sport'), 0, Size.W),
    StoreImm(STATE, k('dport'), 0, Size.W),
    StoreImm(STATE, S.KEY + 24, 0, Size.DW),
    // l4: a fragment, a header shorter than its protocol's, or whole (ports read)
    StoreImm(STATE, k('l4'), L4_FRAGMENT, Size.W),
    LoadMem(R1, STATE, S.FRAGOFF, Size.W),
    JNe.imm(R1, 0, done),
    StoreImm(STATE, k('l4'), L4_SHORT, Size.W),
    LoadMem(R3, STATE, S.L4LEN, Size.W),
  ];
  const byLen = new Map<number, number[]>();
  for (const [p, len] of Object.entries(L4_HEADER)) {
    byLen.set(len, [...(byLen.get(len) ?? []), Number(p)]);
  }
  for (const [len, protos] of byLen) {
    const next = l.next('key_len');
    const hit = l.next('key_hit');
    for (const p of protos) out.push(JEq.imm(R2, p, hit));
    out.push(Ja(next), withLabel(JLt.imm(R3, len, done), hit), Ja(whole), withLabel(Nop(), next));
  }
  out.push(
    // No header of its own in the key: whole, and no ports.
    StoreImm(STATE, k('l4'), L4_WHOLE, Size.W),
    Ja(done),
    withLabel(StoreImm(STATE, k('l4'), L4_WHOLE, Size.W), whole),
    JEq.imm(R2, 1, icmp),
    LoadMem(R1, STATE, S.L4, Size.H),
    ToBe(R1, 16),
    StoreMem(STATE, k('sport'), R1, Size.W),
    LoadMem(R1, STATE, S.L4 + 2, Size.H),
    ToBe(R1, 16),
    StoreMem(STATE, k('dport'), R1, Size.W),
    Ja(done),
    withLabel(LoadMem(R1, STATE, S.L4, Size.B), icmp),
    StoreMem(STATE, k('sport'), R1, Size.W),
    LoadMem(R1, STATE, S.L4 + 1, Size.B),
    StoreMem(STATE, k('dport'), R1, Size.W),
    withLabel(Nop(), done),
  );
  return out;
}

/**
 * classify(state): every group's tree from the block in STATE.BLOCK down to a leaf, whose list
 * start becomes the group's cursor; STATE.BLOCK moves to the block after. 0, or 1 when the data
 * is not what the image writer wrote.
 *
 * The trees are walked in lockstep, one level of each per round. A level is a chain of
 * dependent loads (node, key word, threshold, child); walking the groups one after the other
 * pays that latency once per level of every tree, in lockstep the four chains overlap and a
 * packet pays about one per level of its deepest tree. A group that reached its leaf is
 * skipped in later rounds (ClassBench trees differ in depth by 2-3x, so lockstep alone would
 * walk about 40% more nodes). The mask of finished groups is kept in the work entry, whose
 * contents the verifier does not track: in a register, every combination of finished groups
 * would be a state of its own, each verified for every round. Left or right is chosen without
 * a branch.
 */
function classifyFn(l: Labels): Insn[] {
  const bad = l.next('cls_bad');
  const round = l.next('cls_round');
  const at = (g: number): number => FN_KEY + 8 * (g + 1);
  const out: Insn[] = [
    withLabel(Mov.reg(STATE, R1), 'classify'),
    JEq.imm(STATE, 0, bad),
    LoadMem(R1, STATE, S.BLOCK, Size.W),
    ...lookup(MAPS.BLOCKS, R1, FN_KEY, bad),
    LoadMem(R1, R0, BLOCK.NEXT, Size.W),
    StoreMem(STATE, S.BLOCK, R1, Size.W),
  ];
  for (let g = 0; g < GROUPS; g++) {
    out.push(LoadMem(R1, R0, BLOCK.ROOT + 4 * g, Size.W), StoreMem(FP, -at(g), R1, Size.W));
  }
  out.push(StoreImm(STATE, CLS_DONE, 0, Size.W), Mov.imm(R7, 0), withLabel(Nop(), round));
  for (let g = 0; g < GROUPS; g++) {
    const skip = l.next('cls_skip');
    const inner = l.next('cls_inner');
    out.push(
      LoadMem(R6, STATE, CLS_DONE, Size.W),
      JSet.imm(R6, 1 << g, skip),
      LoadMapPtr(R1, MAPS.NODES),
      Mov.reg(R2, FP),
      Add.imm(R2, -at(g)),
      Call.helper(BPF_FUNC_map_lookup_elem),
      JEq.imm(R0, 0, bad),
      LoadMem(R2, R0, NODE.KIND, Size.B),
      JNe.imm(R2, NODE_LEAF, inner),
      // A leaf's list start is its THR word.
      LoadMem(R4, R0, NODE.START, Size.W),
      StoreMem(STATE, cursor(g), R4, Size.W),
      Or.imm(R6, 1 << g),
      StoreMem(STATE, CLS_DONE, R6, Size.W),
      ...copyHead(R4, FN_KEY, STATE, head(g), bad),
      Ja(skip),
      withLabel(LoadMem(R2, R0, NODE.DIM, Size.B), inner),
      And.imm(R2, 7),
      Lsh.imm(R2, 2),
      Mov.reg(R3, STATE),
      Add.reg(R3, R2),
      LoadMem(R3, R3, S.KEY, Size.W),
      LoadMem(R4, R0, NODE.THR, Size.W),
      // right = key > thr: (thr - key) < 0; R1 = left ^ ((left ^ right) & -right)
      Sub.reg(R4, R3),
      Arsh.imm(R4, 63),
      LoadMem(R1, R0, NODE.LEFT, Size.W),
      LoadMem(R2, R0, NODE.RIGHT, Size.W),
      Xor.reg(R2, R1),
      And.reg(R2, R4),
      Xor.reg(R1, R2),
      StoreMem(FP, -at(g), R1, Size.W),
      withLabel(Nop(), skip),
    );
  }
  out.push(
    Add.imm(R7, 1),
    JGt.imm(R7, MAX_DEPTH + 1, bad),
    LoadMem(R6, STATE, CLS_DONE, Size.W),
    JNe.imm(R6, (1 << GROUPS) - 1, round),
    ...ret(0),
    withLabel(Nop(), bad),
    ...ret(1),
  );
  return out;
}

/** ip_packet_match's address/proto/fragment tests on the rule record in R8; → `fail`. */
function ipTest(l: Labels, fail: string): Insn[] {
  const out: Insn[] = [LoadMem(R5, R8, RULE.IPF, Size.B), LoadMem(R4, R8, RULE.INV, Size.B)];
  // Equal values hold unless inverted; different ones fail unless inverted.
  const decide = (eq: string, done: string, invBit: number): Insn[] => [
    Mov.reg(R3, R4),
    And.imm(R3, invBit),
    JEq.reg(R1, R2, eq),
    JEq.imm(R3, 0, fail),
    Ja(done),
    withLabel(JNe.imm(R3, 0, fail), eq),
    withLabel(Nop(), done),
  ];
  const tests: readonly (readonly [number, number, number, number, number])[] = [
    [Ipf.SRC, S.IP + 12, RULE.SRC, RULE.SMSK, IPT_INV_SRCIP],
    [Ipf.DST, S.IP + 16, RULE.DST, RULE.DMSK, IPT_INV_DSTIP],
  ];
  for (const [bit, at, value, mask, inv] of tests) {
    const skip = l.next('ip_skip');
    out.push(
      Mov.reg(R1, R5),
      And.imm(R1, bit),
      JEq.imm(R1, 0, skip),
      LoadMem(R1, STATE, at, Size.W),
      LoadMem(R2, R8, mask, Size.W),
      And.reg(R1, R2),
      LoadMem(R2, R8, value, Size.W),
      ...decide(l.next('ip_eq'), skip, inv),
    );
  }
  const noProto = l.next('ip_noproto');
  out.push(
    Mov.reg(R1, R5),
    And.imm(R1, Ipf.PROTO),
    JEq.imm(R1, 0, noProto),
    LoadMem(R1, STATE, S.IP + 9, Size.B),
    LoadMem(R2, R8, RULE.PROTO, Size.B),
    ...decide(l.next('ip_eq'), noProto, IPT_INV_PROTO),
  );
  // -f: NF_INVF(IPT_INV_FRAG, !fragoff) fails the rule.
  const noFrag = l.next('ip_nofrag');
  const first = l.next('ip_first');
  out.push(
    Mov.reg(R1, R5),
    And.imm(R1, Ipf.FRAG),
    JEq.imm(R1, 0, noFrag),
    Mov.reg(R3, R4),
    And.imm(R3, IPT_INV_FRAG),
    LoadMem(R1, STATE, S.FRAGOFF, Size.W),
    JEq.imm(R1, 0, first),
    JNe.imm(R3, 0, fail),
    Ja(noFrag),
    withLabel(JEq.imm(R3, 0, fail), first),
    withLabel(Nop(), noFrag),
  );
  return out;
}

/**
 * The rule record's boxes (layout.ts RULE) against the key: outside HULL → `fail`; inside EXACT
 * (when the record has one) → act.
 */
function boxTests(l: Labels, fail: string): Insn[] {
  const undecided = l.next('box_undecided');
  // The key outside the box at `at` in the record → `to`.
  const outside = (at: number, to: string): Insn[] =>
    Array.from({ length: KEY_WORDS }, (_, d) => [
      LoadMem(R1, STATE, S.KEY + 4 * d, Size.W),
      LoadMem(R2, R8, at + 4 * d, Size.W),
      JLt.reg(R1, R2, to),
      LoadMem(R2, R8, at + 4 * (KEY_WORDS + d), Size.W),
      JGt.reg(R1, R2, to),
    ]).flat();
  const out: Insn[] = [
    ...outside(RULE.HULL, fail),
    LoadMem(R1, R8, RULE.IPF, Size.B),
    And.imm(R1, Ipf.EXACT),
    JEq.imm(R1, 0, undecided),
    ...outside(RULE.EXACT, undecided),
  ];
  out.push(Ja('act'), withLabel(Nop(), undecided));
  return out;
}

/**
 * CAND: the next candidate in entry order across the groups: the smallest head position (a
 * merge of sorted lists, each ending in a sentinel), found without branches; only the list it
 * came from advances and is looked up again. Covered → act; else the boxes and ipt_ip from the
 * rule record, then its first match in the same step.
 */
function cand(l: Labels, corrupt: string): Insn[] {
  const again = l.next('cand_again');
  const stepEnd = l.next('cand_step_end');
  const exhausted = l.next('cand_empty');
  const offEnd = l.next('cand_offend');
  const out: Insn[] = [
    withLabel(LoadMem(R7, STATE, head(0) + CAND.POS, Size.W), 'cand'),
    Mov.imm(R5, 0),
  ];
  for (let g = 1; g < GROUPS; g++) {
    // (R7, R5) = (pos, g) when pos < R7: R7 ^= (R7 ^ pos) & ((pos - R7) >> 63), R5 alike.
    out.push(
      LoadMem(R1, STATE, head(g) + CAND.POS, Size.W),
      Mov.reg(R3, R1),
      Sub.reg(R3, R7),
      Arsh.imm(R3, 63),
      Xor.reg(R1, R7),
      And.reg(R1, R3),
      Xor.reg(R7, R1),
      Mov.imm(R2, g),
      Xor.reg(R2, R5),
      And.reg(R2, R3),
      Xor.reg(R5, R2),
    );
  }
  out.push(
    JEq.imm32(R7, NO_CAND | 0, exhausted),
    // R8 = the winning group's head, R6 = its rule; its cursor moves on and its head follows.
    And.imm(R5, GROUPS - 1),
    Mov.reg(R8, R5),
    Lsh.imm(R8, 3),
    Add.reg(R8, STATE),
    LoadMem(R6, R8, S.HEADS + CAND.RULE, Size.W),
    Lsh.imm(R5, 2),
    Add.reg(R5, STATE),
    LoadMem(R1, R5, S.GROUPS, Size.W),
    Add.imm(R1, 1),
    StoreMem(R5, S.GROUPS, R1, Size.W),
    ...copyHead(R1, CB_KEY, R8, S.HEADS, corrupt),
    // R6 = rule record index, R7 = (entry << 1) | covered
    Mov.reg(R1, R7),
    Rsh.imm(R1, 1),
    LoadMem(R2, STATE, S.MIN, Size.W),
    JLt.reg(R1, R2, again),
    StoreMem(STATE, S.RULE, R6, Size.W),
    ...lookup(MAPS.RULES, R6, CB_KEY, corrupt),
    Mov.reg(R8, R0),
    And.imm(R7, 1),
    JNe.imm(R7, 0, 'act'),
    ...boxTests(l, again),
    ...ipTest(l, again),
    LoadMem(R1, R8, RULE.MCOUNT, Size.H),
    JEq.imm(R1, 0, 'act'),
    LoadMem(R2, R8, RULE.MFIRST, Size.W),
    StoreMem(STATE, S.MCUR, R2, Size.W),
    Add.reg(R1, R2),
    StoreMem(STATE, S.MEND, R1, Size.W),
    Ja('match'),
    // A candidate turned down: the next one in this step while the budget lasts.
    withLabel(LoadMem(R1, FP, -CB_BUDGET, Size.DW), again),
    JEq.imm(R1, 0, stepEnd),
    Sub.imm(R1, 1),
    StoreMem(FP, -CB_BUDGET, R1, Size.DW),
    Ja('cand'),
    withLabel(Mov.imm(R0, 0), stepEnd),
    Exit(),
    // Every list is done: on to the next block, or off the end of the table (ERROR: drop).
    withLabel(LoadMem(R1, STATE, S.BLOCK, Size.W), exhausted),
    JEq.imm32(R1, -1, offEnd),
    StoreImm(STATE, S.MIN, 0, Size.W),
    phase(Phase.CLASSIFY),
    ...ret(0),
    withLabel(StoreImm(STATE, S.VERDICT, DROP, Size.W), offEnd),
    ...ret(1),
  );
  return out;
}

class Evaluator implements EvalContext {
  constructor(
    readonly noMatch: string,
    readonly hotdrop: string,
    readonly holdsHotdrop: string,
    readonly scratch: number,
    private readonly labels: Labels,
    private readonly flavor: HookFlavor,
  ) {}
  get hz(): number | undefined {
    return this.flavor.hz;
  }
  get ct(): EvalContext['ct'] {
    return this.flavor.ct;
  }
  get kernel(): EvalContext['kernel'] {
    return this.flavor.kernel;
  }
  get ctxLayout(): EvalContext['ctxLayout'] {
    return this.flavor.ctxLayout;
  }
  label(hint: string): string {
    return this.labels.next(hint);
  }
  event(kind: EventKind, opts: EvalEventOptions = {}): Insn[] {
    return this.flavor.event(kind, (h) => this.labels.next(h), this.scratch, -CB_FRAME, opts);
  }
}

const matchFn = (k: number): string => `m_${k}`;

/**
 * m_<k>(ctx, state, record): kind k's evaluator as a global function; M_NO, M_YES or
 * M_HOTDROP.
 */
function matchFunction(
  ext: Evaluated,
  k: number,
  spec: EngineSpec,
  flavor: HookFlavor,
  l: Labels,
): Insn[] {
  const engine = ext.engine;
  if (!engine) throw new Error(`match "${ext.name}" has no engine part`);
  const no = l.next('mf_no');
  const hot = l.next('mf_hot');
  const holdsHot = l.next('mf_holdshot');
  const cg = new Evaluator(no, hot, holdsHot, -FN_SCRATCH, l, flavor);
  return [
    withLabel(Mov.reg(CTX, R1), matchFn(k)),
    Mov.reg(STATE, R2),
    Mov.reg(RECORD, R3),
    JEq.imm(STATE, 0, no),
    JEq.imm(RECORD, 0, no),
    ...engine.evaluate(cg),
    ...ret(M_YES),
    withLabel(Nop(), no),
    ...ret(M_NO),
    withLabel(Nop(), hot),
    ...ret(M_HOTDROP),
    withLabel(Nop(), holdsHot),
    ...ret(M_YES_HOTDROP),
  ];
}

/** MATCH: one match ref → its kind's evaluator (a call) on its record. */
function match(spec: EngineSpec, l: Labels, corrupt: string): Insn[] {
  const pass = l.next('m_pass');
  const fail = l.next('m_fail');
  const holdsHot = l.next('m_holdshot');
  const out: Insn[] = [
    withLabel(LoadMem(R1, STATE, S.MCUR, Size.W), 'match'),
    ...lookup(MAPS.MREFS, R1, CB_KEY, corrupt),
    LoadMem(R6, R0, MREF.KIND, Size.W),
    LoadMem(R1, R0, MREF.INDEX, Size.W),
    StoreMem(FP, -CB_KEY, R1, Size.W),
    LoadMem(R1, STATE, S.MCUR, Size.W),
    Add.imm(R1, 1),
    StoreMem(STATE, S.MCUR, R1, Size.W),
  ];
  const kinds = spec.matches.map(() => l.next('kind'));
  spec.matches.forEach((_, k) => out.push(JEq.imm(R6, k, kinds[k] as string)));
  out.push(Ja(corrupt));
  spec.matches.forEach((ext, k) => {
    out.push(
      withLabel(LoadMapPtr(R1, kindMap(ext.name)), kinds[k] as string),
      Mov.reg(R2, FP),
      Add.imm(R2, -CB_KEY),
      Call.helper(BPF_FUNC_map_lookup_elem),
      JEq.imm(R0, 0, corrupt),
      Mov.reg(R3, R0),
      LoadMem(R1, FP, -CB_FRAME, Size.DW),
      LoadMem(R1, R1, MAIN_FRAME.CTX, Size.DW),
      Mov.reg(R2, STATE),
      Call.local(matchFn(k)),
      JEq.imm(R0, M_YES, pass),
      JEq.imm(R0, M_NO, fail),
      JEq.imm(R0, M_YES_HOTDROP, holdsHot),
      Ja('hotdrop'),
    );
  });
  const done = l.next('m_done');
  out.push(
    withLabel(StoreImm(STATE, S.HOTDROP, 1, Size.W), holdsHot),
    withLabel(LoadMem(R1, STATE, S.MCUR, Size.W), pass),
    LoadMem(R2, STATE, S.MEND, Size.W),
    JGe.reg(R1, R2, done),
    phase(Phase.MATCH),
    ...ret(0),
    withLabel(LoadMem(R1, STATE, S.RULE, Size.W), done),
    ...lookup(MAPS.RULES, R1, CB_KEY, corrupt),
    Mov.reg(R8, R0),
    Ja('act'),
    // ipt_do_table's loop ends on hotdrop after a match fails as after a target.
    withLabel(LoadMem(R1, STATE, S.HOTDROP, Size.W), fail),
    JNe.imm(R1, 0, 'hotdrop'),
    phase(Phase.CAND),
    ...ret(0),
  );
  return out;
}

/** The walk's cursors and next block into a new frame; → `overflow` when the stack is full. */
function push(spec: EngineSpec, overflow: string): Insn[] {
  const out = [
    LoadMem(R1, STATE, S.DEPTH, Size.W),
    JGe.imm(R1, spec.depth, overflow),
    Mov.reg(R2, R1),
    Mul.imm(R2, FRAME.SIZE),
    Mov.reg(R3, STATE),
    Add.reg(R3, R2),
  ];
  for (let g = 0; g < GROUPS; g++) {
    out.push(
      LoadMem(R4, STATE, cursor(g), Size.W),
      StoreMem(R3, S.FRAMES + FRAME.GROUPS + 4 * g, R4, Size.W),
    );
  }
  out.push(
    LoadMem(R4, STATE, S.BLOCK, Size.W),
    StoreMem(R3, S.FRAMES + FRAME.BLOCK, R4, Size.W),
    Add.imm(R1, 1),
    StoreMem(STATE, S.DEPTH, R1, Size.W),
  );
  return out;
}

/** The top frame back into the walk; → `empty` when nothing is pushed. */
function pop(spec: EngineSpec, empty: string, corrupt: string): Insn[] {
  const out = [
    LoadMem(R1, STATE, S.DEPTH, Size.W),
    JEq.imm(R1, 0, empty),
    Sub.imm(R1, 1),
    JGe.imm(R1, spec.depth, corrupt),
    StoreMem(STATE, S.DEPTH, R1, Size.W),
    Mul.imm(R1, FRAME.SIZE),
    // The frame in R6: the heads' lookups clobber R1-R5.
    Mov.reg(R6, STATE),
    Add.reg(R6, R1),
    LoadMem(R4, R6, S.FRAMES + FRAME.BLOCK, Size.W),
    StoreMem(STATE, S.BLOCK, R4, Size.W),
  ];
  for (let g = 0; g < GROUPS; g++) {
    out.push(
      LoadMem(R1, R6, S.FRAMES + FRAME.GROUPS + 4 * g, Size.W),
      StoreMem(STATE, cursor(g), R1, Size.W),
      ...copyHead(R1, CB_KEY, STATE, head(g), corrupt),
    );
  }
  return out;
}

/** act: count the rule in R8 (RULE in the state), then its action. */
function act(spec: EngineSpec, flavor: HookFlavor, l: Labels, corrupt: string): Insn[] {
  const counted = l.next('act_counted');
  const a = {
    verdict: l.next('a_verdict'),
    jump: l.next('a_jump'),
    goto: l.next('a_goto'),
    cont: l.next('a_continue'),
    ret: l.next('a_return'),
    target: l.next('a_target'),
  };
  const overflow = l.next('a_overflow');
  const underflow = l.next('a_underflow');
  const cpuOk = l.next('act_cpu');
  const out: Insn[] = [
    // This CPU's counter of the rule: no other CPU writes it, so the adds never contend.
    withLabel(Call.helper(BPF_FUNC_get_smp_processor_id), 'act'),
    JLt.imm(R0, spec.cpus, cpuOk),
    Mov.imm(R0, spec.cpus - 1),
    withLabel(Mul.imm(R0, spec.counterSlots), cpuOk),
    LoadMem(R1, STATE, S.RULE, Size.W),
    Add.reg(R1, R0),
    StoreMem(FP, -CB_KEY, R1, Size.W),
    LoadMapPtr(R1, MAPS.COUNTERS),
    Mov.reg(R2, FP),
    Add.imm(R2, -CB_KEY),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, counted),
    Mov.imm(R1, 1),
    AtomicAdd(R0, 0, R1, Size.DW),
    LoadMem(R1, STATE, S.SKBLEN, Size.W),
    AtomicAdd(R0, 8, R1, Size.DW),
    withLabel(LoadMem(R1, R8, RULE.ACTION, Size.B), counted),
    // A pending hotdrop lets a target run (LOG logs, REJECT replies), then drops.
    JEq.imm(R1, Act.TARGET_CONTINUE, a.target),
    JEq.imm(R1, Act.TARGET_DROP, a.target),
    LoadMem(R2, STATE, S.HOTDROP, Size.W),
    JNe.imm(R2, 0, 'hotdrop'),
    JEq.imm(R1, Act.VERDICT, a.verdict),
    JEq.imm(R1, Act.JUMP, a.jump),
    JEq.imm(R1, Act.GOTO, a.goto),
    JEq.imm(R1, Act.CONTINUE, a.cont),
    JEq.imm(R1, Act.RETURN, a.ret),
    Ja('hotdrop'),
    withLabel(LoadMem(R1, R8, RULE.ARG0, Size.W), a.verdict),
    StoreMem(STATE, S.VERDICT, R1, Size.W),
    ...ret(1),
    withLabel(phase(Phase.CAND), a.cont),
    ...ret(0),
    withLabel(Nop(), a.jump),
    ...push(spec, overflow),
    withLabel(LoadMem(R1, R8, RULE.ARG0, Size.W), a.goto),
    StoreMem(STATE, S.BLOCK, R1, Size.W),
    LoadMem(R1, R8, RULE.ARG1, Size.W),
    StoreMem(STATE, S.MIN, R1, Size.W),
    phase(Phase.CLASSIFY),
    ...ret(0),
    withLabel(Nop(), a.ret),
    ...pop(spec, underflow, corrupt),
    StoreImm(STATE, S.MIN, 0, Size.W),
    phase(Phase.CAND),
    ...ret(0),
    withLabel(phase(Phase.UNDER), underflow),
    ...ret(0),
    withLabel(Nop(), overflow),
    ...stat(Stat.OVERFLOW, CB_KEY, l),
    Ja('hotdrop'),
  ];
  // Targets: the record of kind ARG0 at ARG1 in R7, the action kept for after the evaluator.
  const tkinds = spec.targets.map(() => l.next('tkind'));
  const after = l.next('t_after');
  out.push(
    withLabel(LoadMem(R1, R8, RULE.ACTION, Size.B), a.target),
    StoreMem(FP, -CB_ACTION, R1, Size.W),
    LoadMem(R1, R8, RULE.ENTRY, Size.W),
    StoreMem(STATE, S.ENTRY, R1, Size.W),
    LoadMem(R6, R8, RULE.ARG0, Size.W),
    LoadMem(R1, R8, RULE.ARG1, Size.W),
    StoreMem(FP, -CB_KEY, R1, Size.W),
  );
  spec.targets.forEach((_, k) => out.push(JEq.imm(R6, k, tkinds[k] as string)));
  out.push(Ja(corrupt));
  spec.targets.forEach((ext, k) => {
    const engine = ext.engine;
    if (!engine) throw new Error(`target "${ext.name}" has no engine part`);
    const cg = new Evaluator('hotdrop', 'hotdrop', 'hotdrop', -CB_SCRATCH, l, flavor);
    out.push(
      withLabel(LoadMapPtr(R1, kindMap(ext.name)), tkinds[k] as string),
      Mov.reg(R2, FP),
      Add.imm(R2, -CB_KEY),
      Call.helper(BPF_FUNC_map_lookup_elem),
      JEq.imm(R0, 0, corrupt),
      Mov.reg(RECORD, R0),
      ...engine.evaluate(cg),
      Ja(after),
    );
  });
  const drop = l.next('t_drop');
  out.push(
    withLabel(LoadMem(R1, STATE, S.HOTDROP, Size.W), after),
    JNe.imm(R1, 0, drop),
    LoadMem(R1, FP, -CB_ACTION, Size.W),
    JEq.imm(R1, Act.TARGET_DROP, drop),
    phase(Phase.CAND),
    ...ret(0),
    withLabel(StoreImm(STATE, S.VERDICT, DROP, Size.W), drop),
    ...ret(1),
  );
  return out;
}

/** The whole program, for every hook of the table. */
export function engineProgram(spec: EngineSpec, flavor: HookFlavor): EngineProgram {
  const l = new Labels();
  const corrupt = 'corrupt';
  const main: Insn[] = [
    withLabel(Mov.reg(R6, R1), 'main'),
    ...claim(spec, l, 'main_drop'),
    ...flavor.prologue(DYNPTR, 'main_free', { replies: spec.replies }),
    ...keyFill(l),
    // HEADER.hook(S.HOOK); the mask keeps the word inside the header for the verifier.
    LoadMem(R2, STATE, S.HOOK, Size.W),
    And.imm(R2, 7),
    Lsh.imm(R2, 3),
    LoadMapValue(R1, MAPS.HEADER, 0),
    Add.reg(R1, R2),
    LoadMem(R2, R1, HEADER.BLOCK, Size.W),
    StoreMem(STATE, S.BLOCK, R2, Size.W),
    LoadMem(R2, R1, HEADER.UNDERFLOW, Size.W),
    StoreMem(STATE, S.UNDER, R2, Size.W),
    StoreImm(STATE, S.MIN, 0, Size.W),
    StoreImm(STATE, S.DEPTH, 0, Size.W),
    StoreImm(STATE, S.HOTDROP, 0, Size.W),
    StoreImm(STATE, S.VERDICT, DROP, Size.W),
    phase(Phase.CLASSIFY),
    StoreMem(FP, -MAIN + MAIN_FRAME.STATE, STATE, Size.DW),
    StoreMem(FP, -MAIN + MAIN_FRAME.CTX, R6, Size.DW),
    Mov.imm(R1, MAX_STEPS),
    LoadFunc(R2, 'walk'),
    Mov.reg(R3, FP),
    Add.imm(R3, -MAIN),
    Mov.imm(R4, 0),
    Call.helper(BPF_FUNC_loop),
    // The callback stored some u32: only ACCEPT accepts.
    LoadMem(R0, STATE, S.VERDICT, Size.W),
    Mov.imm(R7, flavor.drop),
    JNe.imm(R0, ACCEPT, 'main_out'),
    Mov.imm(R7, flavor.accept),
    Ja('main_out'),
    withLabel(Mov.imm(R7, flavor.drop), 'main_free'),
    // The work entry goes back (even again). A plain store: x86-64 orders it after every load
    // and store before it (the generation's reads, the counters' locked adds), and only this
    // invocation writes the word while it is odd.
    withLabel(LoadMem(R1, STATE, S.OWNER, Size.W), 'main_out'),
    Add.imm(R1, 1),
    StoreMem(STATE, S.OWNER, R1, Size.W),
    Mov.reg(R0, R7),
    Exit(),
    withLabel(Mov.imm(R0, flavor.drop), 'main_drop'),
    Exit(),
  ];
  const walk: Insn[] = [
    withLabel(StoreMem(FP, -CB_FRAME, R2, Size.DW), 'walk'),
    LoadMem(STATE, R2, MAIN_FRAME.STATE, Size.DW),
    StoreImm(FP, -CB_BUDGET, CANDS_PER_STEP - 1, Size.DW),
    LoadMem(R1, STATE, S.PHASE, Size.W),
    JEq.imm(R1, Phase.CAND, 'cand'),
    JEq.imm(R1, Phase.MATCH, 'match'),
    JEq.imm(R1, Phase.UNDER, 'under'),
    Mov.reg(R1, STATE),
    Call.local('classify'),
    JNe.imm(R0, 0, corrupt),
    phase(Phase.CAND),
    ...cand(l, corrupt),
    ...match(spec, l, corrupt),
    withLabel(LoadMem(R1, STATE, S.UNDER, Size.W), 'under'),
    StoreMem(STATE, S.RULE, R1, Size.W),
    ...lookup(MAPS.RULES, R1, CB_KEY, corrupt),
    Mov.reg(R8, R0),
    ...act(spec, flavor, l, corrupt),
    withLabel(StoreImm(STATE, S.VERDICT, DROP, Size.W), 'hotdrop'),
    ...ret(1),
    withLabel(Nop(), corrupt),
    ...stat(Stat.CORRUPT, CB_KEY, l),
    StoreImm(STATE, S.VERDICT, DROP, Size.W),
    ...ret(1),
  ];
  const mem = (n: number): { mem: number } => ({ mem: n });
  const funcs: (BtfFunc & { label: string })[] = [
    { name: 'bpfilter_hook', label: 'main', params: ['ptr'] },
    { name: 'bpfilter_walk', label: 'walk', params: ['int', 'ptr'] },
    { name: 'bpfilter_classify', label: 'classify', params: [mem(S.FRAMES)], global: true },
  ];
  const bodies: Insn[] = [...classifyFn(l)];
  spec.matches.forEach((ext, k) => {
    bodies.push(...matchFunction(ext, k, spec, flavor, l));
    funcs.push({
      name: `bpfilter_m_${ext.name}`,
      label: matchFn(k),
      params: [
        { ctx: flavor.ctxType },
        mem(S.FRAMES),
        mem(Math.max(8, ((ext.engine?.recordSize ?? 0) + 7) & ~7)),
      ],
      global: true,
    });
  });
  const insns = relax(pruneUnreachable([...main, ...walk, ...bodies]));
  void spec.workSize;
  return { insns, funcs };
}
