// IR → plan: the table as the kernel's ipt_do_table walks it. Entries keep their blob index (the
// counter slot); every standard target becomes an explicit control transfer to an entry index.
// Codegen turns this into BPF; how entries are tested (one after another today, classified
// later) is decided here and nowhere else.
import { IPT_F_GOTO } from './abi.js';
import { EINVAL, XtError } from './errno.js';
import {
  namesIface,
  type Chain,
  type ExtensionUse,
  type JumpTarget,
  type Rule,
  type RuleIp,
  type Table,
} from './ir.js';

export type Action =
  /** An absolute verdict. */
  | { readonly kind: 'verdict'; readonly verdict: 'ACCEPT' | 'DROP' | 'QUEUE' }
  /** XT_RETURN: pop the jump stack, or with an empty stack go to the hook's underflow. */
  | { readonly kind: 'return' }
  /** A jump to an entry; `push` is false for goto and for a jump to the very next entry. */
  | { readonly kind: 'jump'; readonly to: number; readonly push: boolean }
  /** The ERROR target (chain heads, the table's end) when executed: the kernel drops. */
  | { readonly kind: 'error' }
  /** An extension target (LOG, REJECT, ...). */
  | { readonly kind: 'extension'; readonly target: ExtensionUse }
  /** A jump the kernel accepted only because no hook reaches it. */
  | { readonly kind: 'unreachable' };

export interface PlanEntry {
  /** Blob entry index: the counter slot GET_ENTRIES reports for this entry. */
  readonly index: number;
  /** The ipt_ip part; undefined for the unconditional entries iptables writes itself. */
  readonly ip?: RuleIp;
  readonly matches: readonly ExtensionUse[];
  readonly action: Action;
  /** Where the entry came from, for annotated listings: "INPUT rule 3", "web policy"... */
  readonly source: string;
  /** The rule it came from, when it is one. */
  readonly rule?: Rule;
}

export interface HookPlan {
  readonly hook: number;
  readonly chain: string;
  /** Entry index the hook starts at (hook_entry). */
  readonly entry: number;
  /** Entry index a RETURN with an empty stack goes to (underflow). */
  readonly underflow: number;
}

export interface Plan {
  readonly table: string;
  readonly entries: readonly PlanEntry[];
  readonly hooks: readonly HookPlan[];
  /**
   * Entries control can arrive at other than by falling through: hook entries, underflows, jump
   * targets, and the entries after pushing jumps (where RETURN resumes). Ascending.
   */
  readonly entryPoints: readonly number[];
  /** Deepest jump nesting the plan can reach (0 without pushing jumps): the stack it needs. */
  readonly maxDepth: number;
}

interface ChainPos {
  /** Index of the chain's first rule (or of what follows its head when it has none). */
  readonly start: number;
  /** Index of a user chain's ERROR head. */
  readonly head?: number;
  /** Index of a built-in chain's own policy entry. */
  readonly policy?: number;
}

function positions(table: Table): Map<string, ChainPos> {
  const pos = new Map<string, ChainPos>();
  let i = 0;
  if (table.prelude) {
    pos.set('', { start: 0 });
    i += table.prelude.length;
  }
  for (const c of table.chains) {
    const head = c.kind === 'user' ? i++ : undefined;
    const start = i;
    i += c.rules.length;
    if (c.kind === 'builtin') {
      pos.set(c.name, c.underflowAt === undefined ? { start, policy: i++ } : { start });
    } else {
      pos.set(c.name, { start, ...(head !== undefined ? { head } : {}) });
      if (c.returnCounters !== undefined) i++;
    }
  }
  return pos;
}

function resolve(pos: Map<string, ChainPos>, t: JumpTarget): number {
  const p = pos.get(t.chain);
  if (p === undefined) throw new XtError(EINVAL, `jump to unknown chain "${t.chain}"`);
  if (t.index === -1) {
    if (p.head === undefined) throw new XtError(EINVAL, `chain "${t.chain}" has no head`);
    return p.head;
  }
  return p.start + t.index;
}

function ruleAction(rule: Rule, index: number, pos: Map<string, ChainPos>): Action {
  const t = rule.target;
  switch (t.kind) {
    case 'verdict':
      return t.verdict === 'RETURN' ? { kind: 'return' } : { kind: 'verdict', verdict: t.verdict };
    case 'jump':
    case 'goto': {
      const to = resolve(pos, t);
      const push = t.kind === 'jump' && (rule.ip.flags & IPT_F_GOTO) === 0 && to !== index + 1;
      return { kind: 'jump', to, push };
    }
    case 'extension':
      return t.target.extension.name === 'ERROR'
        ? { kind: 'error' }
        : { kind: 'extension', target: t.target };
    case 'rawJump':
      return { kind: 'unreachable' };
  }
}

function fromRule(
  rule: Rule,
  index: number,
  source: string,
  pos: Map<string, ChainPos>,
): PlanEntry {
  return {
    index,
    ip: rule.ip,
    matches: rule.matches,
    action: ruleAction(rule, index, pos),
    source,
    rule,
  };
}

function chainEntries(
  c: Chain,
  pos: Map<string, ChainPos>,
  policyOf: (c: Chain) => number | undefined,
): PlanEntry[] {
  const out: PlanEntry[] = [];
  const p = pos.get(c.name) as ChainPos;
  if (c.kind === 'user') {
    const head = p.head as number;
    out.push(
      c.head
        ? fromRule(c.head, head, `${c.name} head`, pos)
        : { index: head, matches: [], action: { kind: 'error' }, source: `${c.name} head` },
    );
  }
  c.rules.forEach((r, k) => out.push(fromRule(r, p.start + k, `${c.name} rule ${k + 1}`, pos)));
  const footer = policyOf(c);
  if (footer !== undefined) {
    const action: Action =
      c.kind === 'builtin' ? { kind: 'verdict', verdict: c.policy } : { kind: 'return' };
    out.push({
      index: footer,
      matches: [],
      action,
      source: `${c.name} ${c.kind === 'builtin' ? 'policy' : 'return'}`,
    });
  }
  return out;
}

/** Builds the plan of a validated table (as checkReplace returns it). */
export function planTable(table: Table): Plan {
  const pos = positions(table);
  const entries: PlanEntry[] = (table.prelude ?? []).map((r, k) =>
    fromRule(r, k, `prelude entry ${k}`, pos),
  );
  for (const c of table.chains) {
    entries.push(
      ...chainEntries(c, pos, (ch) => {
        const p = pos.get(ch.name) as ChainPos;
        if (ch.kind === 'builtin') return p.policy;
        return ch.returnCounters !== undefined ? p.start + ch.rules.length : undefined;
      }),
    );
  }
  const endIndex = entries.length;
  entries.push(
    table.end.entry
      ? fromRule(table.end.entry, endIndex, 'table end', pos)
      : { index: endIndex, matches: [], action: { kind: 'error' }, source: 'table end' },
  );

  const hooks: HookPlan[] = [];
  for (const c of table.chains) {
    if (c.kind !== 'builtin') continue;
    const p = pos.get(c.name) as ChainPos;
    const underflow = c.underflowAt ? resolve(pos, c.underflowAt) : (p.policy as number);
    hooks.push({ hook: c.hook, chain: c.name, entry: p.start, underflow });
  }

  const points = new Set<number>();
  for (const h of hooks) points.add(h.entry).add(h.underflow);
  for (const e of entries) {
    if (e.action.kind !== 'jump') continue;
    points.add(e.action.to);
    if (e.action.push) points.add(e.index + 1);
  }
  return {
    table: table.name,
    entries,
    hooks,
    entryPoints: [...points].sort((a, b) => a - b),
    maxDepth: maxDepth(entries),
  };
}

/** True when the entry matches every packet (what iptables writes for policies and footers). */
export function unconditional(e: PlanEntry): boolean {
  if (e.matches.length > 0) return false;
  const ip = e.ip;
  if (ip === undefined) return true;
  return (
    ip.srcMask === 0 &&
    ip.dstMask === 0 &&
    ip.proto === 0 &&
    (ip.flags & ~IPT_F_GOTO) === 0 &&
    ip.invflags === 0 &&
    !namesIface(ip.inIface) &&
    !namesIface(ip.outIface)
  );
}

/**
 * The deepest nesting of pushing jumps any path reaches. Paths follow fall-through and jumps;
 * mark_source_chains already refused loops, so the graph is acyclic: depth[i] is the most
 * pushes on a path from i, found in one iterative post-order walk (a recursion per entry would
 * overflow on large tables).
 */
function maxDepth(entries: readonly PlanEntry[]): number {
  const n = entries.length;
  if (n === 0) return 0;
  // Successors: the jump target (weight 1 if it pushes) and the next entry (weight 0).
  const jumpTo = new Int32Array(n).fill(-1);
  const push = new Uint8Array(n);
  const falls = new Uint8Array(n);
  entries.forEach((e, i) => {
    const a = e.action;
    if (a.kind === 'jump') {
      jumpTo[i] = a.to;
      push[i] = a.push ? 1 : 0;
    }
    const stops = a.kind !== 'extension' && a.kind !== 'unreachable' && unconditional(e);
    falls[i] = !stops && i + 1 < n ? 1 : 0;
  });
  const depth = new Int32Array(n).fill(-1);
  const state = new Uint8Array(n); // 0 new, 1 on the stack, 2 done
  const stack = new Int32Array(n);
  let best = 0;
  for (let root = 0; root < n; root++) {
    if (state[root] !== 0) continue;
    let sp = 0;
    stack[sp++] = root;
    state[root] = 1;
    while (sp > 0) {
      const i = stack[sp - 1] as number;
      const j = jumpTo[i] as number;
      if (j >= 0 && j < n && state[j] === 0) {
        state[j] = 1;
        stack[sp++] = j;
        continue;
      }
      if (falls[i] && state[i + 1] === 0) {
        state[i + 1] = 1;
        stack[sp++] = i + 1;
        continue;
      }
      sp--;
      let d = 0;
      if (j >= 0 && j < n) d = Math.max(d, (push[i] as number) + Math.max(0, depth[j] as number));
      if (falls[i]) d = Math.max(d, Math.max(0, depth[i + 1] as number));
      depth[i] = d;
      state[i] = 2;
      if (d > best) best = d;
    }
  }
  return best;
}
