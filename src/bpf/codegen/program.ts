// Plan → one BPF program per hook. Entries become straight-line code in blob order, each labelled
// `e<index>`: the ipt_ip test, each match's code, the entry's counter, its action. Without
// pushing jumps the walk is static (gotos and RETURN-to-underflow are plain jumps). With them,
// the program runs the walk as a bpf_loop callback that keeps the jump stack in the packet state
// and resumes after a RETURN through a dispatch on entry points (docs/translator.md).
import {
  AtomicAdd,
  Call,
  Exit,
  FP,
  Ja,
  JEq,
  JGe,
  JNe,
  LoadFunc,
  LoadMapPtr,
  LoadMem,
  Lsh,
  Mov,
  Add,
  Sub,
  R0,
  R1,
  R2,
  R3,
  R4,
  Size,
  StoreImm,
  StoreMem,
  withComment,
  withLabel,
  pruneUnreachable,
  relax,
  Class,
  JmpOp,
  Nop,
  opClass,
  opOp,
  type Insn,
} from '../asm/index.js';
import type { Action, HookPlan, Plan, PlanEntry } from '../../translate/plan.js';
import { unconditional } from '../../translate/plan.js';
import { Unsupported, type CodegenContext } from './context.js';
import { ipMatch } from './ip.js';
import type { HookFlavor } from './flavor.js';
import { S, STATE, stateSize } from './state.js';
import { NF_INET_LOCAL_OUT } from '../../translate/abi.js';
import type { EventKind, EventOptions } from './event.js';
import type { CtLayout } from './ct.js';

export const COUNTERS_MAP = 'counters';
const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_loop = 181;
/** Upper bound on chain-walk steps (one per RETURN that pops); bpf_loop allows 1 << 23. */
const MAX_STEPS = 1 << 20;
/**
 * Jump stack slots that fit: the state (216 bytes + 4 per slot), dynptr, key and match scratch
 * (48) in the program's frame plus the callback's 32 stay within the 512 bytes of BPF stack.
 */
export const MAX_DEPTH = 48;

export interface HookProgram {
  readonly hook: HookPlan;
  readonly insns: readonly Insn[];
  /** Present when the program has a bpf_loop callback: its first instruction's label. */
  readonly callback?: string;
  /** Jump stack slots the state holds. */
  readonly stackSlots: number;
}

const e = (i: number): string => `e${i}`;

/** Entries the walk from `hook` can reach, ascending. */
export function reachable(plan: Plan, hook: HookPlan): number[] {
  const seen = new Set<number>();
  // The underflow runs only when a RETURN finds the stack empty; code nothing reaches would make
  // the verifier refuse the program.
  const todo = [hook.entry];
  while (todo.length) {
    const i = todo.pop() as number;
    if (seen.has(i) || i < 0 || i >= plan.entries.length) continue;
    seen.add(i);
    const entry = plan.entries[i] as PlanEntry;
    const a = entry.action;
    if (a.kind === 'jump') {
      todo.push(a.to);
      if (a.push) todo.push(i + 1);
    }
    if (a.kind === 'return') todo.push(hook.underflow);
    const terminal =
      a.kind === 'verdict' ||
      a.kind === 'return' ||
      a.kind === 'error' ||
      a.kind === 'jump' ||
      (a.kind === 'extension' && a.target.extension.verdict?.(a.target.value) === 'drop');
    if (!(terminal && unconditional(entry))) todo.push(i + 1);
  }
  return [...seen].sort((a, b) => a - b);
}

/** Verdicts inside the walk; the flavor maps them to return values at the end. */
const ACCEPT = 1;
const DROP = 0;

function verdictOf(a: Action & { kind: 'verdict' }): number {
  if (a.verdict === 'QUEUE') throw new Unsupported('QUEUE has no BPF equivalent');
  return a.verdict === 'ACCEPT' ? ACCEPT : DROP;
}

class Emitter implements CodegenContext {
  private n = 0;
  noMatch = '';
  hotdrop = '';
  entry = 0;
  match = 0;
  constructor(
    readonly scratch: number,
    readonly hz: number | undefined,
    private readonly flavor: HookFlavor,
    private readonly hook: number,
  ) {}
  get ct(): CtLayout | undefined {
    return this.flavor.ct;
  }
  label(hint: string): string {
    return `${hint}_${this.n++}`;
  }
  event(kind: EventKind, info: Buffer, opts: EventOptions = {}): Insn[] {
    return this.flavor.event(kind, info, this.entry, this.hook, (h) => this.label(h), opts);
  }
}

/** Adds 1 packet and skb->len bytes to the per-CPU counter slot of entry `index`. */
function count(index: number, keySlot: number, skip: string): Insn[] {
  return [
    StoreImm(FP, -keySlot, index, Size.W),
    LoadMapPtr(R1, COUNTERS_MAP),
    Mov.reg(R2, FP),
    Add.imm(R2, -keySlot),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, skip),
    Mov.imm(R1, 1),
    AtomicAdd(R0, 0, R1, Size.DW),
    LoadMem(R1, STATE, S.SKBLEN, Size.W),
    AtomicAdd(R0, 8, R1, Size.DW),
  ];
}

const INVERSE: Readonly<Record<number, number>> = {
  [JmpOp.JEQ]: JmpOp.JNE,
  [JmpOp.JNE]: JmpOp.JEQ,
  [JmpOp.JGT]: JmpOp.JLE,
  [JmpOp.JLE]: JmpOp.JGT,
  [JmpOp.JGE]: JmpOp.JLT,
  [JmpOp.JLT]: JmpOp.JGE,
  [JmpOp.JSGT]: JmpOp.JSLE,
  [JmpOp.JSLE]: JmpOp.JSGT,
  [JmpOp.JSGE]: JmpOp.JSLT,
  [JmpOp.JSLT]: JmpOp.JSGE,
};

/**
 * `if (fails) goto noMatch` becomes `if (!fails) goto holds; goto noMatch; holds:`. Same
 * verdicts; what changes is the verifier's walk. It follows the fall-through and keeps the
 * taken branch pending: written the first way, every test of every rule leaves a branch pending
 * while it explores the rules after it, and at 8192 pending branches it refuses the program
 * (some 1,600 ordinary rules). Written this way it descends the rules along their failing
 * first tests, one pending branch per rule, and takes the rest one rule at a time.
 */
function failFirst(code: readonly Insn[], noMatch: string, cg: Emitter): Insn[] {
  const out: Insn[] = [];
  let pending: string[] = [];
  for (const insn of code) {
    const op = opOp(insn.code);
    const cls = opClass(insn.code);
    const inverse = INVERSE[op];
    const conditional = cls === Class.JMP || cls === Class.JMP32;
    const labelled = pending.length ? { labels: [...(insn.labels ?? []), ...pending] } : {};
    pending = [];
    if (!conditional || inverse === undefined || insn.ref?.name !== noMatch) {
      out.push({ ...insn, ...labelled });
      continue;
    }
    const holds = cg.label('holds');
    out.push(
      {
        ...insn,
        ...labelled,
        code: (insn.code & ~0xf0) | inverse,
        ref: { kind: 'label', name: holds },
      },
      Ja(noMatch),
    );
    pending = [holds];
  }
  if (pending.length) out.push(withLabel(Nop(), pending[0] as string));
  return out;
}

/** The number of matches in the plan: per-match state is keyed below it. */
export function matchCount(plan: Plan): number {
  return plan.entries.reduce((n, e) => n + e.matches.length, 0);
}

function matchCode(entry: PlanEntry, firstMatch: number, cg: Emitter): Insn[] {
  const out: Insn[] = entry.ip ? ipMatch(entry.ip, cg) : [];
  entry.matches.forEach((m, k) => {
    const ext = m.extension;
    if (!ext.codegen) throw new Unsupported(`match "${ext.name}" is not translated yet`);
    cg.match = firstMatch + k;
    out.push(...ext.codegen(m.value, m.revision, cg));
  });
  return out;
}

interface Walk {
  /** Code ending the walk with `verdict`. */
  verdict(v: number): Insn[];
  /** Code for a pushing jump from entry `from` to entry `to`. */
  call(from: number, to: number): Insn[];
  /** Code for RETURN. */
  ret(): Insn[];
}

function staticWalk(hook: HookPlan, flavor: HookFlavor): Walk {
  return {
    verdict: (v) => [Mov.imm(R0, v === ACCEPT ? flavor.accept : flavor.drop), Exit()],
    call: () => {
      throw new Error('static walk has no pushing jumps');
    },
    ret: () => [Ja(e(hook.underflow))],
  };
}

/** The callback's walk: verdicts end the loop, RETURN pops into NEXT and asks for another step. */
function loopWalk(hook: HookPlan, slots: number): Walk {
  const end = (v: number): Insn[] => [
    StoreImm(STATE, S.VERDICT, v, Size.W),
    Mov.imm(R0, 1),
    Exit(),
  ];
  return {
    verdict: end,
    call: (from, to) => [
      LoadMem(R1, STATE, S.SP, Size.W),
      JGe.imm(R1, slots, 'overflow'),
      Mov.reg(R2, R1),
      Lsh.imm(R2, 2),
      Mov.reg(R3, STATE),
      Add.reg(R3, R2),
      StoreImm(R3, S.STACK, from + 1, Size.W),
      Add.imm(R1, 1),
      StoreMem(STATE, S.SP, R1, Size.W),
      Ja(e(to)),
    ],
    ret: () => {
      return [
        LoadMem(R1, STATE, S.SP, Size.W),
        JEq.imm(R1, 0, e(hook.underflow)),
        Sub.imm(R1, 1),
        StoreMem(STATE, S.SP, R1, Size.W),
        JGe.imm(R1, slots, 'overflow'),
        Lsh.imm(R1, 2),
        Mov.reg(R3, STATE),
        Add.reg(R3, R1),
        LoadMem(R2, R3, S.STACK, Size.W),
        StoreMem(STATE, S.NEXT, R2, Size.W),
        Mov.imm(R0, 0),
        Exit(),
      ];
    },
  };
}

/** A target extension's code, then its verdict: the next entry (`next`) or a drop. */
function targetCode(
  a: Action & { kind: 'extension' },
  walk: Walk,
  next: string,
  cg: Emitter,
): Insn[] {
  const ext = a.target.extension;
  if (!ext.codegen || !ext.verdict) {
    throw new Unsupported(`target "${ext.name}" is not translated yet`);
  }
  const code = [...ext.codegen(a.target.value, a.target.revision, cg)];
  return ext.verdict(a.target.value) === 'drop'
    ? [...code, ...walk.verdict(DROP)]
    : [...code, Ja(next)];
}

function actionCode(entry: PlanEntry, walk: Walk, cg: Emitter): Insn[] {
  const a = entry.action;
  switch (a.kind) {
    case 'verdict':
      return walk.verdict(verdictOf(a));
    case 'jump':
      return a.push ? walk.call(entry.index, a.to) : [Ja(e(a.to))];
    case 'return':
      return walk.ret();
    case 'error':
    case 'unreachable':
      return walk.verdict(DROP);
    case 'extension':
      return targetCode(a, walk, e(entry.index + 1), cg);
  }
}

function entriesCode(
  plan: Plan,
  order: readonly number[],
  walk: Walk,
  keySlot: number,
  cg: Emitter,
  dropStub: (label: string) => Insn[],
): Insn[] {
  const out: Insn[] = [];
  const firstMatch: number[] = [];
  let matches = 0;
  for (const entry of plan.entries) {
    firstMatch.push(matches);
    matches += entry.matches.length;
  }
  order.forEach((i, k) => {
    const entry = plan.entries[i] as PlanEntry;
    // A drop stub after each entry that needs one: a single one at the end would be out of
    // jump range (16 bits) in big programs once the verifier has expanded helper calls.
    cg.hotdrop = cg.label('hotdrop');
    cg.noMatch = k + 1 < order.length ? e(order[k + 1] as number) : cg.hotdrop;
    cg.entry = i;
    const counted = cg.label('counted');
    const action = actionCode(entry, walk, cg);
    const body = [
      ...failFirst(matchCode(entry, firstMatch[i] as number, cg), cg.noMatch, cg),
      ...count(i, keySlot, counted),
      withLabel(action[0] as Insn, counted),
      ...action.slice(1),
    ];
    body[0] = withComment(withLabel(body[0] as Insn, e(i)), entry.source);
    out.push(...body);
    // The action never falls through, so the stub is only reached by its jumps.
    if (references(body, cg.hotdrop)) out.push(...dropStub(cg.hotdrop));
  });
  return out;
}

/** Binary search over entry points: jumps to e<NEXT>. */
function dispatch(points: readonly number[], cg: Emitter): Insn[] {
  if (points.length === 1) return [Ja(e(points[0] as number))];
  const mid = Math.floor(points.length / 2);
  const right = cg.label('dispatch');
  const hi = dispatch(points.slice(mid), cg);
  return [
    JGe.imm(R1, points[mid] as number, right),
    ...dispatch(points.slice(0, mid), cg),
    withLabel(hi[0] as Insn, right),
    ...hi.slice(1),
  ];
}

function references(code: readonly Insn[], label: string): boolean {
  return code.some((i) => i.ref?.kind === 'label' && i.ref.name === label);
}

export function compileHook(plan: Plan, hook: HookPlan, flavor: HookFlavor): HookProgram {
  const order = reachable(plan, hook);
  // The bpf_loop walk keeps a jump stack: only pushing jumps need it.
  const looped = order.some((i) => {
    const a = (plan.entries[i] as PlanEntry).action;
    return a.kind === 'jump' && a.push;
  });
  const slots = looped ? Math.max(1, plan.maxDepth) : 0;
  if (slots > MAX_DEPTH) {
    throw new Unsupported(
      `jumps nest ${slots} deep; the jump stack on the BPF stack holds ${MAX_DEPTH}`,
    );
  }
  const size = stateSize(slots);
  const stateOff = size;
  // Below the state: the dynptr (16 bytes), the counter key (8), then 24 bytes for matches.
  // The callback has its own frame: key right below its frame pointer, scratch below that.
  const keySlot = looped ? 8 : stateOff + 16 + 8;
  const cg = new Emitter(-(keySlot + 24), flavor.hz, flavor, hook.hook);
  const mainDrop = (label: string): Insn[] => [withLabel(Mov.imm(R0, flavor.drop), label), Exit()];
  const drop = mainDrop('hotdrop');
  // Replies the helper sends leave through LOCAL_OUT: only there do they need recognising.
  const replies =
    hook.hook === NF_INET_LOCAL_OUT &&
    plan.entries.some(
      (x) => x.action.kind === 'extension' && x.action.target.extension.sendsReplies === true,
    );
  const prologue = flavor.prologue(stateOff, size, 'hotdrop', { replies });
  if (!looped) {
    const walk = staticWalk(hook, flavor);
    const body = entriesCode(plan, order, walk, keySlot, cg, mainDrop);
    // The prologue's drop sits right after it, in reach of its jumps.
    const insns = relax(pruneUnreachable([...prologue, Ja(e(hook.entry)), ...drop, ...body]));
    return { hook, insns, stackSlots: 0 };
  }
  const walk = loopWalk(hook, slots);
  const cbDrop = (label: string): Insn[] => [
    withLabel(StoreImm(STATE, S.VERDICT, DROP, Size.W), label),
    Mov.imm(R0, 1),
    Exit(),
  ];
  const body = entriesCode(plan, order, walk, keySlot, cg, cbDrop);
  const reached = new Set(order);
  const points = plan.entryPoints.filter((p) => reached.has(p));
  const main = [
    ...prologue,
    StoreImm(STATE, S.NEXT, hook.entry, Size.W),
    Mov.imm(R1, MAX_STEPS),
    LoadFunc(R2, 'walk'),
    Mov.reg(R3, STATE),
    Mov.imm(R4, 0),
    Call.helper(BPF_FUNC_loop),
    // The verifier only knows the callback wrote some u32 there: clamp to the two verdicts.
    LoadMem(R0, STATE, S.VERDICT, Size.W),
    Mov.imm(R1, flavor.drop),
    JNe.imm(R0, ACCEPT, 'done'),
    Mov.imm(R1, flavor.accept),
    withLabel(Mov.reg(R0, R1), 'done'),
    Exit(),
    ...drop,
  ];
  const callback = [
    withLabel(Mov.reg(STATE, R2), 'walk'),
    LoadMem(R1, STATE, S.NEXT, Size.W),
    ...dispatch(points, cg),
    ...body,
    // The kernel's stack is sized so it cannot overflow; ours is sized by plan.maxDepth, so
    // reaching here means a bug: drop rather than guess.
    ...cbDrop('overflow'),
  ];
  return {
    hook,
    insns: relax(pruneUnreachable([...main, ...callback])),
    callback: 'walk',
    stackSlots: slots,
  };
}
