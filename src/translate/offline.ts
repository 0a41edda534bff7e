// Offline translation: iptables-save text → the plan and the BPF the helper would load, per
// hook, with every instruction attributed to the rule it implements. Nothing is loaded: the
// flavor (which supplies the prologue and the kernel facts it needs) is the caller's.
import { formatInsn, layout, type Insn } from '../bpf/asm/index.js';
import { Unsupported } from '../bpf/codegen/context.js';
import type { HookFlavor } from '../bpf/codegen/flavor.js';
import { compileHook, reachable, type HookProgram } from '../bpf/codegen/program.js';
import { HOOK_NAMES } from './abi.js';
import { planTable, type Action, type HookPlan, type Plan, type PlanEntry } from './plan.js';
import { parseSave, SaveError, type SavedRule, type SaveFile, type SkippedTable } from './save.js';

/** One instruction of a listing. */
export interface ListedInsn {
  /** Slot index in its program (ld_imm64 takes two). */
  readonly pc: number;
  /** Labels naming it (jump targets: e<index> for entries). */
  readonly labels?: readonly string[];
  /** As the disassembler prints it, e.g. `if r1 != 22 goto e5`. */
  readonly text: string;
}

export interface ListedEntry {
  /** Blob entry index (the counter slot; label e<index>). */
  readonly index: number;
  readonly chain: string;
  /** 1-based rule number in its chain; absent for policies, chain heads, returns, the end. */
  readonly rule?: number;
  /** The save line it came from. */
  readonly line?: number;
  /** "INPUT rule 3", "INPUT policy", "web return", ... */
  readonly source: string;
  /** The rule as written (`-A INPUT -p tcp --dport 22 -j ACCEPT`), or what the entry is. */
  readonly text: string;
  /** What the entry does when it matches, as the plan says. */
  readonly action: string;
  readonly insns: readonly ListedInsn[];
}

export interface ListedHook {
  readonly hook: string;
  readonly chain: string;
  /** Entry indexes the hook starts at and a RETURN with an empty stack goes to. */
  readonly entry: number;
  readonly underflow: number;
  /** True when the walk runs in a bpf_loop callback (pushing jumps). */
  readonly callback: boolean;
  /** Jump stack slots. */
  readonly stackSlots: number;
  /** Program size in instruction slots. */
  readonly slots: number;
  /** The program before the first entry: prologue (and, with a callback, the main program). */
  readonly prologue: readonly ListedInsn[];
  /** The callback's head: dispatch on the entry to resume at. */
  readonly dispatch: readonly ListedInsn[];
  /** Entries the hook reaches, in program order. */
  readonly entries: readonly ListedEntry[];
  /** Code after the last entry (hotdrop, stack overflow). */
  readonly epilogue: readonly ListedInsn[];
}

export interface Translation {
  readonly table: string;
  /** Tables of the text other than filter, which the helper does not have. */
  readonly skipped: readonly SkippedTable[];
  /** Deepest jump nesting. */
  readonly maxDepth: number;
  readonly hooks: readonly ListedHook[];
}

/** A rule the translator refuses (codegen Unsupported): which and why. */
export interface Refusal {
  readonly hook: string;
  readonly source: string;
  readonly reason: string;
  readonly chain?: string;
  readonly rule?: number;
  readonly line?: number;
  readonly text?: string;
}

export class TranslateError extends Error {
  constructor(
    message: string,
    readonly refusals: readonly Refusal[] = [],
    readonly line?: number,
  ) {
    super(message);
    this.name = 'TranslateError';
  }
}

const hookName = (h: number): string => HOOK_NAMES[h] ?? `hook ${h}`;

/**
 * Translates the filter table of an iptables-save text. Throws TranslateError: for text the
 * helper would refuse at SET_REPLACE (with its line) and for rules codegen refuses (each named).
 */
export function translateSave(text: string, flavor: HookFlavor): Translation {
  let file: SaveFile;
  try {
    file = parseSave(text);
  } catch (e) {
    if (e instanceof SaveError) throw new TranslateError(e.message, [], e.line);
    throw e;
  }
  const saved = file.tables[0];
  if (saved === undefined || file.tables.length > 1) {
    throw new TranslateError(`expected one *filter table, found ${file.tables.length}`);
  }
  const plan = planTable(saved.table);
  const rules = new Map(saved.rules.map((r) => [`${r.chain} rule ${r.rule}`, r]));
  const programs: HookProgram[] = [];
  const refusals: Refusal[] = [];
  for (const h of plan.hooks) {
    try {
      programs.push(compileHook(plan, h, flavor));
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      refusals.push(...culprits(plan, h, flavor, e, rules));
    }
  }
  if (refusals.length > 0) {
    const lines = refusals.map(
      (r) =>
        `${r.line !== undefined ? `line ${r.line}: ` : ''}${r.source}${r.text !== undefined ? ` (${r.text})` : ''}: ${r.reason}`,
    );
    throw new TranslateError(`cannot translate:\n${lines.join('\n')}`, refusals);
  }
  return {
    table: plan.table,
    skipped: file.skipped,
    maxDepth: plan.maxDepth,
    hooks: programs.map((p) => listHook(plan, p, rules)),
  };
}

/**
 * Which entries of hook `h` codegen refuses: each reachable entry is compiled alone (the others
 * replaced by a plain DROP), as compileHook would compile it in place. A refusal no single
 * entry explains (jump nesting) is reported for the hook.
 */
function culprits(
  plan: Plan,
  h: HookPlan,
  flavor: HookFlavor,
  whole: Unsupported,
  rules: ReadonlyMap<string, SavedRule>,
): Refusal[] {
  const out: Refusal[] = [];
  const stub = (e: PlanEntry): PlanEntry => ({
    index: e.index,
    matches: [],
    action: { kind: 'verdict', verdict: 'DROP' },
    source: e.source,
  });
  for (const i of reachable(plan, h)) {
    const alone: Plan = {
      ...plan,
      entries: plan.entries.map((e) => (e.index === i ? e : stub(e))),
      maxDepth: 1,
    };
    try {
      compileHook(alone, { ...h, entry: i }, flavor);
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      const entry = plan.entries[i] as PlanEntry;
      const r = rules.get(entry.source);
      out.push({
        hook: hookName(h.hook),
        source: entry.source,
        reason: e.message,
        ...(r ? { chain: r.chain, rule: r.rule, line: r.line, text: r.text } : {}),
      });
    }
  }
  if (out.length === 0)
    out.push({ hook: hookName(h.hook), source: h.chain, reason: whole.message });
  return out;
}

function actionText(plan: Plan, a: Action): string {
  switch (a.kind) {
    case 'verdict':
      return a.verdict;
    case 'return':
      return 'RETURN';
    case 'jump': {
      const to = plan.entries[a.to]?.source ?? `entry ${a.to}`;
      return `${a.push ? 'jump' : 'goto'} e${a.to} (${to})`;
    }
    case 'error':
      return 'ERROR (drop)';
    case 'extension': {
      const t = a.target;
      return `${t.extension.name} ${t.extension.format(t.value, t.revision)}`.trim();
    }
    case 'unreachable':
      return 'unreachable jump';
  }
}

/** What an entry that is not a rule stands for, in save-like words. */
function entryText(e: PlanEntry): string {
  const a = e.action;
  if (/ policy$/.test(e.source) && a.kind === 'verdict') {
    return `:${e.source.replace(/ policy$/, '')} ${a.verdict}`;
  }
  return e.source;
}

function chainOf(source: string): string {
  return source.replace(/ (rule \d+|policy|head|return)$/, '');
}

const ENTRY_LABEL = /^e(\d+)$/;
const TAIL_LABELS = new Set(['overflow']);

function listHook(
  plan: Plan,
  prog: HookProgram,
  rules: ReadonlyMap<string, SavedRule>,
): ListedHook {
  const { positions, total } = layout(prog.insns);
  const prologue: ListedInsn[] = [];
  const dispatch: ListedInsn[] = [];
  const epilogue: ListedInsn[] = [];
  const entries: { entry: PlanEntry; insns: ListedInsn[] }[] = [];
  let into: ListedInsn[] = prologue;
  prog.insns.forEach((insn: Insn, k) => {
    const labels = insn.labels ?? [];
    const entryLabel = labels.map((l) => ENTRY_LABEL.exec(l)?.[1]).find((x) => x !== undefined);
    if (entryLabel !== undefined && into !== epilogue) {
      const entry = plan.entries[Number(entryLabel)] as PlanEntry;
      const listed = { entry, insns: [] };
      entries.push(listed);
      into = listed.insns;
    } else if (labels.includes('walk')) {
      into = dispatch;
    } else if (entries.length > 0 && labels.some((l) => TAIL_LABELS.has(l))) {
      into = epilogue;
    }
    into.push({
      pc: positions[k] as number,
      ...(labels.length > 0 ? { labels } : {}),
      text: formatInsn(insn),
    });
  });
  return {
    hook: hookName(prog.hook.hook),
    chain: prog.hook.chain,
    entry: prog.hook.entry,
    underflow: prog.hook.underflow,
    callback: prog.callback !== undefined,
    stackSlots: prog.stackSlots,
    slots: total,
    prologue,
    dispatch,
    entries: entries.map(({ entry, insns }) => {
      const r = rules.get(entry.source);
      return {
        index: entry.index,
        chain: r?.chain ?? chainOf(entry.source),
        ...(r ? { rule: r.rule, line: r.line } : {}),
        source: entry.source,
        text: r?.text ?? entryText(entry),
        action: actionText(plan, entry.action),
        insns,
      };
    }),
    epilogue,
  };
}

function insnLines(insns: readonly ListedInsn[]): string[] {
  const out: string[] = [];
  for (const i of insns) {
    for (const l of i.labels ?? []) out.push(`${l}:`);
    out.push(`${String(i.pc).padStart(6)}: ${i.text}`);
  }
  return out;
}

/** The translation as text: per hook the plan, then the program with a header per entry. */
export function formatTranslation(t: Translation): string {
  const out: string[] = [`# table ${t.table}: ${t.hooks.length} hooks, jump depth ${t.maxDepth}`];
  for (const s of t.skipped) {
    out.push(`# table ${s.name} (line ${s.line}) skipped: only filter is translated`);
  }
  for (const h of t.hooks) {
    out.push(
      '',
      `## hook ${h.hook}: chain ${h.chain}, entry e${h.entry}, underflow e${h.underflow}, ` +
        `${h.slots} insns${h.callback ? `, bpf_loop walk, jump stack of ${h.stackSlots}` : ''}`,
      '',
      '# plan',
    );
    const width = Math.max(...h.entries.map((e) => `e${e.index}`.length));
    const sources = Math.max(...h.entries.map((e) => e.source.length));
    for (const e of h.entries) {
      out.push(`#   ${`e${e.index}`.padEnd(width)}  ${e.source.padEnd(sources)}  → ${e.action}`);
    }
    out.push('', '# prologue', ...insnLines(h.prologue));
    if (h.dispatch.length > 0)
      out.push('', '# callback: dispatch on NEXT', ...insnLines(h.dispatch));
    for (const e of h.entries) {
      const where = e.line !== undefined ? ` (line ${e.line})` : '';
      out.push('', `# ${e.source}${where}: ${e.text}`, `#   → ${e.action}`, ...insnLines(e.insns));
    }
    if (h.epilogue.length > 0) out.push('', '# epilogue', ...insnLines(h.epilogue));
  }
  return out.join('\n') + '\n';
}
