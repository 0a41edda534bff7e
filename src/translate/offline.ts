// Offline translation: iptables-save text → what the helper would load, without loading it: the
// plan, the blocks and their classifier trees, each rule's data as the engine keeps it (its
// region, its record and its matches' records), and the engine program of each hook. The flavor
// (which supplies the prologue and the kernel facts it needs) is the caller's.
import { formatInsn, layout } from '../bpf/asm/index.js';
import { engineProgram } from '../bpf/codegen/engine.js';
import type { HookFlavor } from '../bpf/codegen/flavor.js';
import { RULE, WORK_PER_CPU } from '../bpf/codegen/layout.js';
import { workSize } from '../bpf/codegen/state.js';
import { buildImage, kindsOf, needs, recordSize, refusals } from '../bpf/engine/image.js';
import { planTables, tableUses } from '../bpf/engine/tables.js';
import { poolDepthFor } from '../bpf/engine/compile.js';
import { HOOK_NAMES } from './abi.js';
import { classify, type Classified } from './classify/blocks.js';
import { depth } from './classify/hypersplit.js';
import { bounds, FIELDS, FIELD_MAX, isExact, type Box } from './classify/key.js';
import { entryRegion } from './classify/region.js';
import { planTable, type Action, type Plan, type PlanEntry } from './plan.js';
import { parseSave, SaveError, type SavedRule, type SaveFile, type SkippedTable } from './save.js';

/** One instruction of a listing. */
export interface ListedInsn {
  /** Slot index in its program (ld_imm64 takes two). */
  readonly pc: number;
  /** Labels naming it (jump targets, subprograms). */
  readonly labels?: readonly string[];
  /** As the disassembler prints it, e.g. `if r1 != 22 goto cand_3`. */
  readonly text: string;
}

export interface ListedEntry {
  /** Blob entry index (the counter slot). */
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
  /** Its block. */
  readonly block: number;
  /** The packets the classifier may hand it (classify/key.ts), as boxes. */
  readonly region: readonly string[];
  /** Its rule record, hex. */
  readonly record: string;
  /** Its matches as the engine evaluates them: kind and record (hex), in order. */
  readonly matches: readonly { readonly kind: string; readonly record: string }[];
}

export interface ListedBlock {
  readonly index: number;
  readonly first: number;
  readonly last: number;
  /** Per group: rules, tree nodes, deepest leaf, candidates in all leaves. */
  readonly groups: readonly {
    readonly rules: number;
    readonly nodes: number;
    readonly depth: number;
    readonly candidates: number;
  }[];
}

/** Where a hook starts in the table's data: what its header word says. */
export interface ListedHook {
  readonly hook: string;
  readonly chain: string;
  /** First block and the underflow entry (the policy). */
  readonly block: number;
  readonly underflow: number;
}

/** The engine program, one for every hook. */
export interface ListedProgram {
  /** Program size in instruction slots. */
  readonly slots: number;
  readonly insns: readonly ListedInsn[];
}

export interface Translation {
  readonly table: string;
  /** Tables of the text other than filter, which the helper does not have. */
  readonly skipped: readonly SkippedTable[];
  /** Deepest jump nesting. */
  readonly maxDepth: number;
  /** Extensions the engine programs evaluate. */
  readonly kinds: { readonly matches: readonly string[]; readonly targets: readonly string[] };
  readonly blocks: readonly ListedBlock[];
  readonly entries: readonly ListedEntry[];
  readonly hooks: readonly ListedHook[];
  readonly program: ListedProgram;
}

/** A rule the engine refuses: which and why. */
export interface Refusal {
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
 * helper would refuse at SET_REPLACE (with its line) and for rules the engine refuses (each
 * named).
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
  const c = classify(plan);
  const refused = refusals(c, flavor.hz).map((r): Refusal => {
    const entry = plan.entries[r.entry] as PlanEntry;
    const s = rules.get(entry.source);
    return {
      source: entry.source,
      reason: r.reason,
      ...(s ? { chain: s.chain, rule: s.rule, line: s.line, text: s.text } : {}),
    };
  });
  if (refused.length > 0) {
    const lines = refused.map(
      (r) =>
        `${r.line !== undefined ? `line ${r.line}: ` : ''}${r.source}${r.text !== undefined ? ` (${r.text})` : ''}: ${r.reason}`,
    );
    throw new TranslateError(`cannot translate:\n${lines.join('\n')}`, refused);
  }
  const kinds = kindsOf(c);
  const need = needs(c, kinds);
  // Half 0 of maps exactly as big as this table needs: the indexes are the entries' own.
  // A fresh namespace: every table the rules name is new.
  const tables = planTables(tableUses(plan.entries), new Map()).slots;
  const img = buildImage(c, kinds, need, 0, flavor.hz, tables);
  const poolDepth = poolDepthFor(plan.maxDepth);
  const prog = engineProgram(
    {
      matches: kinds.matches,
      targets: kinds.targets,
      replies: kinds.targets.some((t) => t.engine?.sendsReplies === true),
      depth: poolDepth,
      workEntries: WORK_PER_CPU,
      workSize: workSize(poolDepth),
      counterSlots: 2 * need.rules,
      cpus: 1,
    },
    flavor,
  );
  const { positions, total } = layout(prog.insns);
  const hooks = plan.hooks.map((h): ListedHook => {
    const [block, underflow] = img.hooks.get(h.hook) ?? [0, 0];
    return { hook: hookName(h.hook), chain: h.chain, block, underflow };
  });
  const program: ListedProgram = {
    slots: total,
    insns: prog.insns.map((insn, k) => ({
      pc: positions[k] as number,
      ...(insn.labels?.length ? { labels: insn.labels } : {}),
      text: formatInsn(insn),
    })),
  };
  return {
    table: plan.table,
    skipped: file.skipped,
    maxDepth: plan.maxDepth,
    kinds: { matches: kinds.matches.map((k) => k.name), targets: kinds.targets.map((k) => k.name) },
    blocks: listBlocks(c),
    entries: listEntries(c, img.rules, img.mrefs, img.records, kinds.matches, rules),
    hooks,
    program,
  };
}

function listBlocks(c: Classified): ListedBlock[] {
  return c.blocks.map((b, index) => ({
    index,
    first: b.first,
    last: b.last,
    groups: b.trees.map((t) => {
      const rules = new Set<number>();
      for (const v of t.list) rules.add(v >>> 1);
      return { rules: rules.size, nodes: t.nodes, depth: depth(t), candidates: t.list.length };
    }),
  }));
}

function boxText(b: Box): string {
  const parts: string[] = [];
  FIELDS.forEach((f) => {
    const [lo, hi] = bounds(b, f);
    if (lo === 0 && hi === FIELD_MAX[f]) return;
    parts.push(lo === hi ? `${f} ${lo}` : `${f} ${lo}-${hi}`);
  });
  return `{${parts.join(', ')}}${isExact(b) ? '' : ' (decided at run time)'}`;
}

function listEntries(
  c: Classified,
  records: Buffer,
  mrefs: Buffer,
  kindRecords: ReadonlyMap<string, Buffer>,
  matchKinds: readonly {
    readonly name: string;
    readonly engine?: { readonly recordSize: number };
  }[],
  rules: ReadonlyMap<string, SavedRule>,
): ListedEntry[] {
  const plan = c.plan;
  return plan.entries.map((entry) => {
    const r = rules.get(entry.source);
    const at = entry.index * RULE.SIZE;
    const rec = records.subarray(at, at + RULE.SIZE);
    const first = rec.readUInt32LE(RULE.MFIRST);
    const count = rec.readUInt16LE(RULE.MCOUNT);
    const matches = Array.from({ length: count }, (_, k) => {
      const kind = mrefs.readUInt32LE(8 * (first + k));
      const index = mrefs.readUInt32LE(8 * (first + k) + 4);
      const ext = matchKinds[kind];
      const name = ext?.name ?? `kind ${kind}`;
      const size = ext ? recordSize(ext as Parameters<typeof recordSize>[0]) : 0;
      const bytes = kindRecords.get(name)?.subarray(index * size, (index + 1) * size);
      return { kind: name, record: bytes?.toString('hex') ?? '' };
    });
    return {
      index: entry.index,
      chain: r?.chain ?? chainOf(entry.source),
      ...(r ? { rule: r.rule, line: r.line } : {}),
      source: entry.source,
      text: r?.text ?? entryText(entry),
      action: actionText(plan, entry.action),
      block: c.blockOf[entry.index] as number,
      region: entryRegion(entry).map(boxText),
      record: rec.toString('hex'),
      matches,
    };
  });
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

function insnLines(insns: readonly ListedInsn[]): string[] {
  const out: string[] = [];
  for (const i of insns) {
    for (const l of i.labels ?? []) out.push(`${l}:`);
    out.push(`${String(i.pc).padStart(6)}: ${i.text}`);
  }
  return out;
}

/** The translation as text: the plan and blocks, each rule's data under its line, programs. */
export function formatTranslation(t: Translation): string {
  const kinds = [...t.kinds.matches, ...t.kinds.targets];
  const out: string[] = [
    `# table ${t.table}: ${t.entries.length} entries in ${t.blocks.length} blocks, jump depth ${t.maxDepth}, ` +
      `extensions: ${kinds.length ? kinds.join(', ') : 'none'}`,
  ];
  for (const s of t.skipped) {
    out.push(`# table ${s.name} (line ${s.line}) skipped: only filter is translated`);
  }
  out.push('', '# blocks (a classifier tree per group)');
  for (const b of t.blocks) {
    const groups = b.groups
      .map(
        (g) =>
          `${g.rules} rules / ${g.nodes} nodes / depth ${g.depth} / ${g.candidates} candidates`,
      )
      .join('; ');
    out.push(`#   b${b.index}  e${b.first}..e${b.last}  ${groups}`);
  }
  out.push('', '# entries');
  for (const e of t.entries) {
    const where = e.line !== undefined ? ` (line ${e.line})` : '';
    out.push(
      '',
      `# e${e.index} ${e.source}${where}: ${e.text}`,
      `#   → ${e.action}`,
      `#   block b${e.block}, region ${e.region.length ? e.region.join(' ∪ ') : 'none (never holds)'}`,
      `#   record ${e.record}`,
      ...e.matches.map((m) => `#   match ${m.kind} ${m.record}`),
    );
  }
  out.push('', '# hooks');
  for (const h of t.hooks) {
    out.push(
      `#   ${h.hook}: chain ${h.chain}, first block b${h.block}, underflow rule ${h.underflow}`,
    );
  }
  out.push('', `## program (every hook): ${t.program.slots} insns`, ...insnLines(t.program.insns));
  return out.join('\n') + '\n';
}
