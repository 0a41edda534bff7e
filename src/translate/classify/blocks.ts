// The plan cut into blocks, each classified by its own tree (hypersplit.ts). A block is a run of
// entries ending at an unconditional one (a policy, a RETURN footer, a chain's ERROR head, an
// unconditional rule): ipt_do_table only ever walks forward inside a block, so "the first entry
// at or after p that holds" is the block's tree plus a lower bound. After the last entry of a
// block has matched and continued (an unconditional LOG or jump), the walk goes on with the next.
import type { Plan, PlanEntry } from '../plan.js';
import { unconditional } from '../plan.js';
import { buildTree, partition, type ClassifierRule, type Tree } from './hypersplit.js';
import type { TreeCache } from './incremental.js';
import { entryRegion } from './region.js';

export interface Block {
  /** First and last entry index (inclusive). */
  readonly first: number;
  readonly last: number;
  /** One tree per group of rules (hypersplit.ts: groups). */
  readonly trees: readonly Tree[];
}

export interface Classified {
  readonly plan: Plan;
  readonly blocks: readonly Block[];
  /** Block index of each entry. */
  readonly blockOf: Int32Array;
}

/** Whether nothing after the entry in its block runs once it holds. */
export function terminal(e: PlanEntry): boolean {
  const a = e.action;
  switch (a.kind) {
    case 'verdict':
    case 'return':
    case 'error':
    case 'unreachable':
      return true;
    case 'jump':
      // A goto ends the walk here; a pushing jump comes back; a jump to the very next entry is
      // XT_CONTINUE in all but name.
      return !a.push && a.to !== e.index + 1;
    case 'extension':
      return a.target.extension.engine?.verdict?.(a.target.value) === 'drop';
  }
}

/**
 * Entry index ranges of the blocks, in order: each ends at an unconditional entry, and each hook
 * entry, underflow and jump target starts one. A leaf's list stops at a rule that ends every
 * walk through the leaf, which holds for walks entering the block before that rule; a walk
 * entering after it (a jump into the middle of a chain, which only non-iptables blobs make)
 * would miss what the list left out. Returns are the exception that needs no block: the entry
 * after a jump is entered only by packets that went through the jump, with the same key.
 */
export function blockRanges(plan: Plan): [number, number][] {
  const starts = new Set(plan.hooks.flatMap((h) => [h.entry, h.underflow]));
  for (const e of plan.entries) if (e.action.kind === 'jump') starts.add(e.action.to);
  const out: [number, number][] = [];
  let first = 0;
  plan.entries.forEach((e, i) => {
    if (i > first && starts.has(i)) {
      out.push([first, i - 1]);
      first = i;
    }
    if (unconditional(e) || i === plan.entries.length - 1) {
      out.push([first, i]);
      first = i + 1;
    }
  });
  return out;
}

export function classifierRule(e: PlanEntry): ClassifierRule {
  return { region: entryRegion(e), terminal: terminal(e) };
}

/** The plan's blocks and their trees, reusing and editing the trees `cache` kept when given. */
export function classify(plan: Plan, cache?: TreeCache): Classified {
  const blockOf = new Int32Array(plan.entries.length);
  cache?.begin();
  const blocks = blockRanges(plan).map(([first, last], b) => {
    blockOf.fill(b, first, last + 1);
    const rules = plan.entries.slice(first, last + 1).map(classifierRule);
    const trees = cache
      ? cache.trees(rules)
      : partition(rules).members.map((g) => buildTree(rules, g));
    return { first, last, trees };
  });
  cache?.end();
  return { plan, blocks, blockOf };
}
