// State a namespace keeps across rulesets (types.ts NetnsMap): its maps, adopted from their pins
// or created and pinned beside the namespace's other objects, and the named tables in them —
// which slot each name has, kept while rulesets name it, as the kernel keeps a recent list or a
// hashlimit table while some rule refers to it (checkentry of the new rules runs before the old
// rules' destroy, so a table named on both sides of a replace survives it).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NetnsMap } from '../../translate/ext/types.js';
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
import type { TablePlan, TableSlots } from './tables.js';

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
