// What the helper's main thread keeps of a table it serves. The Table IR holds extension objects
// (functions), which cannot cross to the thread that decodes and compiles tables (bpf/engine/
// compute.ts), and the main thread needs little of it: the checks a replace or a counter update
// runs against the current table, `bpfilter status`, and (laid out, table.ts LaidOut) what
// GET_INFO and GET_ENTRIES answer. All of it is plain data.
import { entryCount, type Rule, type Table } from './ir.js';

export interface TableView {
  /** "filter", ... */
  readonly name: string;
  /** ipt_replace.valid_hooks. */
  readonly validHooks: number;
  /** Blob entries (= counters). */
  readonly entries: number;
  /** Rules in all chains, as `iptables -S` lists them (no policies, chain heads or footers). */
  readonly rules: number;
  readonly chains: number;
  /** The name of every extension a rule uses, matches and targets, once each. */
  readonly uses: readonly string[];
}

export function viewOf(table: Table): TableView {
  const uses = new Set<string>();
  let rules = 0;
  const note = (r: Rule): void => {
    for (const m of r.matches) uses.add(m.extension.name);
    if (r.target.kind === 'extension') uses.add(r.target.target.extension.name);
  };
  for (const r of table.prelude ?? []) note(r);
  for (const c of table.chains) {
    rules += c.rules.length;
    for (const r of c.rules) note(r);
  }
  return {
    name: table.name,
    validHooks: table.validHooks,
    entries: entryCount(table),
    rules,
    chains: table.chains.length,
    uses: [...uses].sort(),
  };
}
