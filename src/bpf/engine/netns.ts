// State a namespace keeps across rulesets (types.ts NetnsMap): its maps, adopted from their pins
// or created and pinned beside the namespace's other objects, and the named tables in them —
// which slot each name has, kept while rulesets name it, as the kernel keeps a recent list or a
// hashlimit table while some rule refers to it (checkentry of the new rules runs before the old
// rules' destroy, so a table named on both sides of a replace survives it).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Evaluated, NetnsMap, NetnsTables } from '../../translate/ext/types.js';
import type { PlanEntry } from '../../translate/plan.js';
import { pinExists } from '../bpffs.js';
import {
  BPF_F_LOCK,
  btfLoad,
  close,
  MAP_F_NO_PREALLOC,
  mapCreate,
  mapDelete,
  mapInfo,
  mapKeys,
  mapLookupLocked,
  MapType,
  mapUpdate,
  objGet,
  objPin,
  u32,
} from '../syscall.js';

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

/** Creates `desc`'s map (and its BTF, closed once the map holds it). */
export function createNetnsMap(desc: NetnsMap): number {
  let btf: { fd: number; keyTypeId: number; valueTypeId: number } | undefined;
  if (desc.btf) {
    const b = desc.btf();
    btf = { fd: btfLoad(b.blob), keyTypeId: b.keyTypeId, valueTypeId: b.valueTypeId };
  }
  try {
    return mapCreate({
      type:
        desc.type === 'array'
          ? MapType.ARRAY
          : desc.type === 'hash'
            ? MapType.HASH
            : MapType.LPM_TRIE,
      keySize: desc.keySize,
      valueSize: desc.valueSize,
      maxEntries: desc.maxEntries,
      name: `bpf_n_${desc.map}`,
      ...(desc.type === 'array' ? {} : { flags: MAP_F_NO_PREALLOC }),
      ...(btf ? { btf } : {}),
    });
  } finally {
    if (btf) close(btf.fd);
  }
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

/**
 * The tables `entries` name, in rule order (the kernel's checkentry order: the first rule naming
 * a table creates it), against the tables the namespace has now.
 */
export function planTables(entries: readonly PlanEntry[], current: TableSlots): TablePlan {
  const slots = new Map<string, Map<string, number>>();
  const writes: TablePlan['writes'][number][] = [];
  const seen = new Set<string>();
  const taken = (map: string): Set<number> => {
    const s = new Set<number>(current.get(map)?.values() ?? []);
    for (const v of slots.get(map)?.values() ?? []) s.add(v);
    return s;
  };
  for (const e of entries) {
    for (const m of e.matches) {
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
  }
  const drops: { map: string; slot: number }[] = [];
  for (const [map, names] of current) {
    for (const [name, slot] of names) {
      if (!slots.get(map)?.has(name)) drops.push({ map, slot });
    }
  }
  return { slots, writes, drops };
}

/** Deletes the keys of `fd` that start with `slot` (a dropped table's, in a slotsOf map). */
function dropSlot(fd: number, keySize: number, slot: number): void {
  for (const k of mapKeys(fd, keySize)) {
    if (k.readUInt32LE(0) !== slot) continue;
    try {
      mapDelete(fd, k);
    } catch {
      // gone meanwhile (the collector)
    }
  }
}

/** One namespace's maps and tables. Without `dir` (a test load) nothing is pinned. */
export class NetnsState {
  private readonly fds = new Map<string, { fd: number; desc: NetnsMap }>();
  private slots: TableSlots = new Map();

  constructor(
    private readonly dir?: string,
    /** Told of every map the first time it is opened here (created or adopted). */
    private readonly onOpen?: (desc: NetnsMap, fd: number) => void,
  ) {}

  /** The map `desc` describes: this namespace's, adopted from its pin, or new (and pinned). */
  open(desc: NetnsMap): number {
    const have = this.fds.get(desc.map);
    if (have) return have.fd;
    const pin = this.dir === undefined ? undefined : join(this.dir, `ns_${desc.map}`);
    let fd: number | undefined;
    if (pin !== undefined && pinExists(pin)) {
      fd = objGet(pin);
      const info = mapInfo(fd);
      if (info.valueSize !== desc.valueSize || info.keySize !== desc.keySize) {
        // An earlier helper's layout: start over (what it held cannot be read here).
        close(fd);
        fd = undefined;
      }
    }
    if (fd === undefined) {
      fd = createNetnsMap(desc);
      if (pin !== undefined) {
        // A pin of another layout goes.
        rmSync(pin, { force: true });
        objPin(fd, pin);
      }
    } else if (desc.tables?.recover) {
      this.recover(desc, fd);
    }
    this.fds.set(desc.map, { fd, desc });
    this.onOpen?.(desc, fd);
    return fd;
  }

  /** The names of an adopted map's tables, read back from their values. */
  private recover(desc: NetnsMap, fd: number): void {
    const tables = desc.tables;
    if (!tables?.recover) return;
    const names = new Map<string, number>();
    for (const k of mapKeys(fd, desc.keySize)) {
      const slot = k.readUInt32LE(0);
      const name = tables.recover(mapLookupLocked(fd, k, desc.valueSize));
      if (name !== undefined) names.set(name, slot);
    }
    const next = new Map(this.slots);
    next.set(desc.map, names);
    this.slots = next;
  }

  fd(map: string): number | undefined {
    return this.fds.get(map)?.fd;
  }

  get tables(): TableSlots {
    return this.slots;
  }

  /** Writes what `plan` creates or joins; from then on its slots are the namespace's. */
  prepare(plan: TablePlan): void {
    for (const w of plan.writes) {
      const m = this.fds.get(w.map);
      if (!m) throw new Error(`namespace map "${w.map}" is not open`);
      const key = u32(w.slot);
      const value = w.value(() => mapLookupLocked(m.fd, key, m.desc.valueSize));
      if (value) mapUpdate(m.fd, key, value, BPF_F_LOCK);
    }
    const merged = new Map<string, Map<string, number>>();
    for (const [map, names] of this.slots) merged.set(map, new Map(names));
    for (const [map, names] of plan.slots) merged.set(map, new Map(names));
    this.slots = merged;
  }

  /** After the switch and its grace period: the tables the old rules alone named go. */
  commit(plan: TablePlan): void {
    for (const d of plan.drops) {
      const m = this.fds.get(d.map);
      if (m?.desc.type === 'hash') {
        try {
          mapDelete(m.fd, u32(d.slot));
        } catch {
          // never written
        }
      }
      for (const keyed of this.fds.values()) {
        if (keyed.desc.slotsOf === d.map) dropSlot(keyed.fd, keyed.desc.keySize, d.slot);
      }
    }
    const next = new Map<string, ReadonlyMap<string, number>>();
    for (const map of new Set([...this.slots.keys()])) {
      next.set(map, plan.slots.get(map) ?? new Map());
    }
    this.slots = next;
  }

  close(): void {
    for (const { fd } of this.fds.values()) close(fd);
    this.fds.clear();
  }
}
