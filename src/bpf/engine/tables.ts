// Which named namespace tables (types.ts NetnsTables: recent lists, hashlimit tables) a ruleset
// uses and which slot each gets, decided from the ruleset alone; NetnsState (netns.ts) writes the
// decision into the namespace's maps. Pure, so the compute worker and tests can run it.
import type { Evaluated, NetnsMap, NetnsTables } from '../../translate/ext/types.js';
import type { ExtensionUse } from '../../translate/ir.js';
import type { PlanEntry } from '../../translate/plan.js';

/** An engine's namespace maps, one or several. */
export function mapsOf(engine: Evaluated['engine']): readonly NetnsMap[] {
  const m = engine?.netns;
  if (m === undefined) return [];
  return isList(m) ? m : [m];
}

const isList = (m: NetnsMap | readonly NetnsMap[]): m is readonly NetnsMap[] => Array.isArray(m);

/** The map of an engine that holds its named tables. */
export function tablesMap(engine: Evaluated['engine']): NetnsMap | undefined {
  return mapsOf(engine).find((d) => d.tables !== undefined);
}

/** The namespace maps the kinds of a ruleset use, once each. */
export function netnsMaps(kinds: readonly Evaluated[]): NetnsMap[] {
  const out = new Map<string, NetnsMap>();
  for (const k of kinds) for (const m of mapsOf(k.engine)) if (!out.has(m.map)) out.set(m.map, m);
  return [...out.values()];
}

/** name → slot, per namespace map. */
export type TableSlots = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** What a ruleset does to the namespace's named tables. */
export interface TablePlan {
  readonly slots: TableSlots;
  /** Tables to write before the switch: new ones' first values, joined ones' new values. */
  readonly writes: readonly {
    readonly map: string;
    readonly slot: number;
    value(current: () => Buffer): Buffer | undefined;
  }[];
  /** Tables no rule names any more: dropped once no packet can read them. */
  readonly drops: readonly { readonly map: string; readonly slot: number }[];
}

/** The matches of `entries` that name a namespace table, in rule order. */
export function tableUses(entries: readonly PlanEntry[]): ExtensionUse[] {
  const out: ExtensionUse[] = [];
  for (const e of entries)
    for (const m of e.matches) if (tablesMap(m.extension.engine)) out.push(m);
  return out;
}

/**
 * The tables `uses` name, in rule order (the kernel's checkentry order: the first rule naming
 * a table creates it), against the tables the namespace has now.
 */
export function planTables(uses: readonly ExtensionUse[], current: TableSlots): TablePlan {
  const slots = new Map<string, Map<string, number>>();
  const writes: TablePlan['writes'][number][] = [];
  const seen = new Set<string>();
  const taken = (map: string): Set<number> => {
    const s = new Set<number>(current.get(map)?.values() ?? []);
    for (const v of slots.get(map)?.values() ?? []) s.add(v);
    return s;
  };
  for (const m of uses) {
    const desc = tablesMap(m.extension.engine);
    const tables: NetnsTables | undefined = desc?.tables;
    if (!desc || !tables) continue;
    const name = tables.name(m.value, m.revision);
    const key = `${desc.map}\0${name}`;
    const mine = slots.get(desc.map) ?? new Map<string, number>();
    slots.set(desc.map, mine);
    const had = current.get(desc.map)?.get(name);
    if (!seen.has(key) && had === undefined) {
      const used = taken(desc.map);
      let slot = 0;
      while (used.has(slot)) slot++;
      if (slot >= tables.slots) {
        throw new Error(`more than ${tables.slots} tables of "${m.extension.name}" at once`);
      }
      mine.set(name, slot);
      const value = tables.create(m.value, m.revision);
      writes.push({ map: desc.map, slot, value: () => value });
    } else {
      const slot = mine.get(name) ?? (had as number);
      mine.set(name, slot);
      const join = tables.join;
      if (join) {
        writes.push({
          map: desc.map,
          slot,
          value: (cur) => join.call(tables, cur(), m.value, m.revision),
        });
      }
    }
    seen.add(key);
  }
  const drops: { map: string; slot: number }[] = [];
  for (const [map, names] of current) {
    for (const [name, slot] of names) {
      if (!slots.get(map)?.has(name)) drops.push({ map, slot });
    }
  }
  return { slots, writes, drops };
}
