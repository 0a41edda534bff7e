// One engine instance: the maps of a table's ruleset data (both halves) and the programs that
// read them, for one namespace (or a test load). A replace that keeps the extensions and fits
// the maps writes the idle half and switches the header: no program is loaded. Anything else
// builds a new instance (engine/image.ts says which).
import { assemble } from '../asm/index.js';
import { funcInfoBtf } from '../codegen/btf.js';
import { engineProgram, type EngineSpec } from '../codegen/engine.js';
import { BUDGET_MAP, BUDGET_VALUE_SIZE, EVENTS_MAP, REPLIES_MAP } from '../codegen/event.js';
import type { HookFlavor } from '../codegen/flavor.js';
import {
  BLOCK,
  CAND,
  HEADER,
  MAPS,
  MREF,
  NODE,
  RULE,
  STATS,
  WORK_PER_CPU,
  kindMap,
} from '../codegen/layout.js';
import { S, workSize } from '../codegen/state.js';
import type { Evaluated } from '../../translate/ext/types.js';
import { ZERO_COUNTERS, type XtCounters } from '../../translate/ir.js';
import type { HookPlan } from '../../translate/plan.js';
import { NF_INET_LOCAL_OUT } from '../../translate/abi.js';
import { graceAsync, mmapShared, wallClock, type Mapping } from '../../sys/libc.js';
import {
  BpfError,
  MAP_F_MMAPABLE,
  MapType,
  btfLoad,
  close,
  mapCreate,
  mapInfo,
  mapUpdate,
  mapValues,
  possibleCpus,
  progLoadVerified,
  progLoadVerifiedAsync,
  u32,
  type ProgSpec,
  type Verified,
} from '../syscall.js';
import { headerWords, recordSize, type Capacity, type Image, type Kinds } from './image.js';
import { NetnsState } from './netns.js';
import { netnsMaps } from './tables.js';

/** Maps a ruleset shares with its namespace; without them (a test load) it gets its own. */
export interface SharedMaps {
  readonly events?: () => number;
  readonly replies?: () => number;
  /** The namespace's event ceilings (event.ts: BUDGET_MAP). */
  readonly budget?: () => number;
  /** The namespace's state maps (netns.ts). */
  readonly netns?: NetnsState;
}

export interface InstanceSpec {
  readonly table: string;
  readonly hooks: readonly HookPlan[];
  readonly kinds: Kinds;
  readonly cap: Capacity;
  /** Jump frames per work entry. */
  readonly poolDepth: number;
  readonly flavor: HookFlavor;
  readonly shared?: SharedMaps;
}

interface EngineMap {
  readonly fd: number;
  /** The mapped bytes of the header and the counters, which stay mapped. */
  readonly mapping?: Mapping;
  /** How many bytes an mmapable map maps. */
  readonly mapBytes?: number;
  readonly valueSize: number;
}

/**
 * Maps read or written between applies. The rule data maps are mapped only while a generation
 * is written into them: mapped, their pages count in the helper's RSS (140 MB at 100k rules)
 * although they are the kernel's memory either way.
 */
const KEPT_MAPPED = new Set<string>([MAPS.HEADER, MAPS.COUNTERS]);

/** How long quiesce() waits for packets in flight before it waits for a grace period. */
const QUIESCE_MS = 20;

export class EngineInstance {
  private readonly maps = new Map<string, EngineMap>();
  /** Fds this instance closes (its own maps and BTF, not the shared ones). */
  private readonly owned: number[] = [];
  /** Program fd per hook: the one program at each. */
  readonly progs = new Map<number, number>();
  /** Instructions the verifier processed for it. */
  processed = 0;
  /** The half packets read (the header's), or -1 before the first switch. */
  active = -1;
  /** Entries of the generation in each half, for reading its counters. */
  readonly entries: [number, number] = [0, 0];
  /** A test load's own namespace state (a backend's outlives its instances). */
  private ownNetns: NetnsState | undefined;

  private constructor(readonly spec: InstanceSpec) {}

  /** Creates the maps and loads (verifies) the program; closes everything on error. */
  static create(spec: InstanceSpec): EngineInstance {
    const inst = new EngineInstance(spec);
    try {
      inst.createMaps();
      inst.loaded(progLoadVerified(inst.program()));
    } catch (e) {
      inst.close();
      throw e;
    }
    return inst;
  }

  /**
   * create, with the verifier's work off the calling thread (the daemon: other namespaces are
   * answered meanwhile).
   */
  static async createAsync(spec: InstanceSpec): Promise<EngineInstance> {
    const inst = new EngineInstance(spec);
    try {
      inst.createMaps();
      inst.loaded(await progLoadVerifiedAsync(inst.program()));
    } catch (e) {
      inst.close();
      throw e;
    }
    return inst;
  }

  private add(name: string, fd: number, valueSize: number, mapBytes?: number): void {
    this.owned.push(fd);
    const mapping =
      mapBytes !== undefined && KEPT_MAPPED.has(name) ? mmapShared(fd, mapBytes) : undefined;
    this.maps.set(name, {
      fd,
      valueSize,
      ...(mapping ? { mapping } : {}),
      ...(mapBytes !== undefined ? { mapBytes } : {}),
    });
  }

  private array(name: string, kernelName: string, valueSize: number, entries: number): void {
    const n = Math.max(1, entries);
    const fd = mapCreate({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize,
      maxEntries: n,
      name: kernelName,
      flags: MAP_F_MMAPABLE,
    });
    this.add(name, fd, valueSize, pageAligned(n * ((valueSize + 7) & ~7)));
  }

  private createMaps(): void {
    const { cap, table, kinds } = this.spec;
    const t = table.slice(0, 3);
    this.array(MAPS.HEADER, `bpf_${t}_hdr`, HEADER.SIZE, 1);
    this.array(MAPS.BLOCKS, `bpf_${t}_blocks`, BLOCK.SIZE, 2 * cap.blocks);
    this.array(MAPS.NODES, `bpf_${t}_nodes`, NODE.SIZE, 2 * cap.nodes);
    this.array(MAPS.LISTS, `bpf_${t}_lists`, CAND.SIZE, 2 * cap.lists);
    this.array(MAPS.RULES, `bpf_${t}_rules`, RULE.SIZE, 2 * cap.rules);
    this.array(MAPS.MREFS, `bpf_${t}_mrefs`, MREF.SIZE, 2 * cap.mrefs);
    for (const k of [...kinds.matches, ...kinds.targets]) {
      this.array(
        kindMap(k.name),
        `bpf_k_${k.name}`,
        recordSize(k),
        2 * (cap.records.get(k.name) ?? 0),
      );
    }
    // Counters per CPU, but not a PERCPU_ARRAY: that allocates every element on its own (170 ms
    // for 64k entries here) and is read back only by syscall. One mmapable array with a run of
    // slots per CPU is created in a millisecond, read and zeroed in place.
    this.array(MAPS.COUNTERS, `bpf_${table}_cnt`, 16, possibleCpus() * this.counterSlots());
    this.add(
      MAPS.STATS,
      mapCreate({
        type: MapType.PERCPU_ARRAY,
        keySize: 4,
        valueSize: 8,
        maxEntries: STATS,
        name: `bpf_${t}_stats`,
      }),
      8,
    );
    // Mmapable for quiesce(), which reads the owner words; mapped only while it does.
    this.array(
      MAPS.WORK,
      `bpf_${t}_work`,
      workSize(this.spec.poolDepth),
      possibleCpus() * WORK_PER_CPU,
    );
    const ns = this.netns();
    for (const desc of netnsMaps([...kinds.matches, ...kinds.targets])) {
      this.maps.set(desc.map, { fd: ns.open(desc), valueSize: desc.valueSize });
    }
    for (const k of kinds.matches) {
      const state = k.engine?.state;
      if (!state || this.maps.has(state.map)) continue;
      const slots = 2 * Math.max(1, cap.slots.get(state.map) ?? 0);
      let btf: { fd: number; keyTypeId: number; valueTypeId: number } | undefined;
      if (state.btf) {
        const b = state.btf();
        const fd = btfLoad(b.blob);
        this.owned.push(fd);
        btf = { fd, keyTypeId: b.keyTypeId, valueTypeId: b.valueTypeId };
      }
      this.add(
        state.map,
        mapCreate({
          type: MapType.ARRAY,
          keySize: 4,
          valueSize: state.valueSize,
          maxEntries: slots,
          name: `bpf_s_${state.map}`,
          ...(btf ? { btf } : {}),
        }),
        state.valueSize,
      );
    }
  }

  /** The namespace state this instance's programs use. */
  netns(): NetnsState {
    const shared = this.spec.shared?.netns;
    if (shared) return shared;
    this.ownNetns ??= new NetnsState();
    return this.ownNetns;
  }

  private shared(name: string): number {
    const own = this.maps.get(name);
    if (own) return own.fd;
    const shared = this.spec.shared;
    const get =
      name === EVENTS_MAP ? shared?.events : name === BUDGET_MAP ? shared?.budget : shared?.replies;
    if (get) {
      const fd = get();
      this.maps.set(name, { fd, valueSize: 0 });
      return fd;
    }
    // A test load: maps of its own (a budget without ceilings).
    const fd =
      name === BUDGET_MAP
        ? mapCreate({
            type: MapType.ARRAY,
            keySize: 4,
            valueSize: BUDGET_VALUE_SIZE,
            maxEntries: 1,
            name: 'bpf_test_bud',
          })
        : name === EVENTS_MAP
          ? mapCreate({
              type: MapType.RINGBUF,
              keySize: 0,
              valueSize: 0,
              maxEntries: 1 << 16,
              name: 'bpf_test_ev',
            })
          : mapCreate({
              type: MapType.ARRAY,
              keySize: 4,
              valueSize: 272,
              maxEntries: 1,
              name: 'bpf_test_rep',
            });
    this.add(name, fd, 0);
    return fd;
  }

  private resolve(name: string): number {
    if (name === EVENTS_MAP || name === REPLIES_MAP || name === BUDGET_MAP) {
      return this.shared(name);
    }
    const m = this.maps.get(name);
    if (!m) throw new Error(`engine program references map "${name}" it does not have`);
    return m.fd;
  }

  /**
   * The engine program for every hook of the table, assembled, with its BTF. One program, not
   * one per hook: the hook's header word is read by the hook the packet is at, and each load is
   * the verifier's whole work again (three of ~24 ms for a 10k table), which on two cores took
   * the CPU from the classification of the restore it was loaded for.
   */
  private program(): ProgSpec {
    const { flavor, kinds, hooks, table } = this.spec;
    const spec: EngineSpec = {
      matches: kinds.matches,
      targets: kinds.targets,
      replies:
        kinds.targets.some((t) => t.engine?.sendsReplies === true) &&
        hooks.some((h) => h.hook === NF_INET_LOCAL_OUT),
      depth: this.spec.poolDepth,
      workEntries: possibleCpus() * WORK_PER_CPU,
      workSize: workSize(this.spec.poolDepth),
      counterSlots: this.counterSlots(),
      cpus: possibleCpus(),
    };
    const prog = engineProgram(spec, flavor);
    const code = assemble(prog.insns, { maps: (n) => this.resolve(n) });
    const btf = funcInfoBtf(prog.funcs);
    const btfFd = btfLoad(btf.blob);
    this.owned.push(btfFd);
    // func_info: {insn_off, type_id} per subprogram, in instruction order.
    const subs = prog.funcs
      .map((f) => ({
        at: code.labels.get(f.label) as number,
        id: btf.funcs.get(f.name) as number,
      }))
      .sort((a, b) => a.at - b.at);
    const funcInfo = Buffer.alloc(8 * subs.length);
    subs.forEach((f, i) => {
      funcInfo.writeUInt32LE(f.at, 8 * i);
      funcInfo.writeUInt32LE(f.id, 8 * i + 4);
    });
    return {
      type: flavor.progType,
      expectedAttachType: flavor.expectedAttachType,
      name: `bpf_${table}`,
      insns: code.bytes,
      btf: { fd: btfFd, funcInfo },
    };
  }

  private loaded(v: Verified): void {
    this.owned.push(v.fd);
    this.processed = v.processed;
    for (const h of this.spec.hooks) this.progs.set(h.hook, v.fd);
  }

  private bytes(name: string): Buffer {
    const m = this.maps.get(name)?.mapping;
    if (!m) throw new Error(`map "${name}" is not mapped`);
    return m.bytes;
  }

  /** The map fd of `name` (counters, header...), for pins and tests. */
  fd(name: string): number {
    const m = this.maps.get(name);
    if (!m) throw new Error(`no map "${name}"`);
    return m.fd;
  }

  /** The half the next generation goes to. */
  idle(): number {
    return this.active === 0 ? 1 : 0;
  }

  /**
   * Writes `image` into its half (which no packet reads: the header names the other one, and
   * the last switch's grace period has passed). State slots it uses start fresh.
   */
  write(image: Image): void {
    const mapped: Mapping[] = [];
    try {
      this.writeMapped(image, (name) => {
        const m = this.maps.get(name);
        if (m?.mapBytes === undefined) throw new Error(`map "${name}" is not mmapable`);
        const mapping = mmapShared(m.fd, m.mapBytes);
        mapped.push(mapping);
        return mapping.bytes;
      });
    } finally {
      for (const m of mapped) m.unmap();
    }
  }

  private writeMapped(image: Image, into: (name: string) => Buffer): void {
    const { cap } = this.spec;
    const put = (name: string, buf: Buffer, perHalf: number, size: number): void => {
      if (buf.length) buf.copy(into(name), image.half * perHalf * size);
    };
    put(MAPS.BLOCKS, image.blocks, cap.blocks, BLOCK.SIZE);
    put(MAPS.NODES, image.nodes, cap.nodes, NODE.SIZE);
    put(MAPS.LISTS, image.lists, cap.lists, CAND.SIZE);
    put(MAPS.RULES, image.rules, cap.rules, RULE.SIZE);
    put(MAPS.MREFS, image.mrefs, cap.mrefs, MREF.SIZE);
    for (const [name, buf] of image.records) {
      const k = this.kind(name);
      put(kindMap(name), buf, cap.records.get(name) ?? 0, recordSize(k));
    }
    for (const [map, n] of image.slots) {
      const m = this.maps.get(map);
      if (!m || n === 0) continue;
      const start = image.half * (cap.slots.get(map) ?? 0);
      const state = this.spec.kinds.matches.find((x) => x.engine?.state?.map === map)?.engine
        ?.state;
      const fresh = state?.fresh?.(wallClock()) ?? Buffer.alloc(m.valueSize);
      for (let k = 0; k < n; k++) mapUpdate(m.fd, u32(start + k), fresh);
    }
    this.entries[image.half] = image.entries;
  }

  private kind(name: string): Evaluated {
    const k = [...this.spec.kinds.matches, ...this.spec.kinds.targets].find((x) => x.name === name);
    if (!k) throw new Error(`no kind "${name}"`);
    return k;
  }

  /**
   * Points every hook at `image`'s half: one atomic 8-byte store per hook. `tag` names the table
   * in that half (HEADER.tag), stored first: until the hooks move, no one reads it as current.
   */
  switchTo(image: Image, tag = 0n): void {
    const header = this.bytes(MAPS.HEADER);
    header.writeBigUInt64LE(tag, HEADER.tag(image.half));
    const words = new BigUint64Array(header.buffer, header.byteOffset, HEADER.SIZE / 8);
    for (const [off, v] of headerWords(image.hooks)) Atomics.store(words, off / 8, v);
    header.writeUInt32LE(image.half, HEADER.HALF);
    this.active = image.half;
  }

  /**
   * Resolves once no packet reads the generation the header named before the last switch:
   * every work entry held when this looks has been released since (engine.ts claim: the owner
   * word is odd while held and moves on at every claim and release). A packet claims its entry
   * before it reads the header, so one that claims after this looks reads the new header: the
   * header's hook words are stored with Atomics.store (a locked xchg) and the owner words loaded
   * after it, while the packet's claim is a cmpxchg before its load of the header; with a full
   * barrier on either side, at least one sees the other's store. Packets take microseconds; an
   * entry held past `waitMs` (a process-context hook preempted in the middle) falls back to an
   * RCU grace period, as a program swap does (backend.ts).
   */
  async quiesce(waitMs = QUIESCE_MS): Promise<void> {
    const m = this.maps.get(MAPS.WORK);
    if (m?.mapBytes === undefined) throw new Error('work map is not mmapable');
    const mapping = mmapShared(m.fd, m.mapBytes);
    try {
      const b = mapping.bytes;
      const words = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
      const stride = ((m.valueSize + 7) & ~7) >> 2;
      const entries = possibleCpus() * WORK_PER_CPU;
      let held: [number, number][] = [];
      for (let e = 0; e < entries; e++) {
        const at = e * stride + (S.OWNER >> 2);
        const v = Atomics.load(words, at);
        if (v & 1) held.push([at, v]);
      }
      const deadline = performance.now() + waitMs;
      for (;;) {
        held = held.filter(([at, v]) => Atomics.load(words, at) === v);
        if (held.length === 0) return;
        if (performance.now() > deadline) break;
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      mapping.unmap();
    }
    await graceAsync();
  }

  /** Counter slots per CPU: both halves' rule records. */
  private counterSlots(): number {
    return 2 * this.spec.cap.rules;
  }

  /** What the generation in `half` counted, summed over CPUs, by entry index. */
  counters(half: number): XtCounters[] {
    const n = this.entries[half] ?? 0;
    if (n === 0) return [];
    return sumCounters(
      this.bytes(MAPS.COUNTERS),
      this.counterSlots(),
      n,
      half * this.spec.cap.rules,
    );
  }

  /** Zeroes the counters of `half` for its next generation. */
  resetCounters(half: number): void {
    const n = this.entries[half] ?? 0;
    if (n === 0) return;
    const bytes = this.bytes(MAPS.COUNTERS);
    const slots = this.counterSlots();
    for (let c = 0; c < possibleCpus(); c++) {
      const at = 16 * (c * slots + half * this.spec.cap.rules);
      bytes.fill(0, at, at + 16 * n);
    }
    this.entries[half] = 0;
  }

  /** The walk's own failures (layout.ts Stat), summed over CPUs. */
  stats(): bigint[] {
    const cpus = possibleCpus();
    const all = mapValues(this.fd(MAPS.STATS), STATS, 8 * cpus);
    return Array.from({ length: STATS }, (_, i) => {
      let s = 0n;
      for (let c = 0; c < cpus; c++) s += all.readBigUInt64LE(i * 8 * cpus + 8 * c);
      return s;
    });
  }

  close(): void {
    for (const m of this.maps.values()) m.mapping?.unmap();
    for (const fd of this.owned) {
      try {
        close(fd);
      } catch (e) {
        if (!(e instanceof BpfError)) throw e;
      }
    }
    this.owned.length = 0;
    this.ownNetns?.close();
    this.ownNetns = undefined;
    this.maps.clear();
    this.progs.clear();
  }
}

function pageAligned(n: number): number {
  return Math.ceil(n / 4096) * 4096;
}

/**
 * Counters `start`..`start + n` of a counters map (MAPS.COUNTERS: `slots` 16-byte counters per
 * possible CPU, one after the other), summed over the CPUs.
 */
export function sumCounters(bytes: Buffer, slots: number, n: number, start: number): XtCounters[] {
  const cpus = possibleCpus();
  const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
  const halves = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const out: XtCounters[] = [];
  for (let i = 0; i < n; i++) {
    // Most entries of a big table count nothing between two commands: no BigInts for them.
    let any = 0;
    for (let c = 0; c < cpus; c++) {
      const w = 4 * (c * slots + start + i);
      any |= (halves[w] as number) | (halves[w + 1] as number);
    }
    if (any === 0) {
      out.push(ZERO_COUNTERS);
      continue;
    }
    let pcnt = 0n;
    let bcnt = 0n;
    for (let c = 0; c < cpus; c++) {
      const w = 2 * (c * slots + start + i);
      pcnt += words[w] as bigint;
      bcnt += words[w + 1] as bigint;
    }
    out.push({ pcnt, bcnt });
  }
  return out;
}

/** `n` counters from `start` of a counters map known only by its fd (a pin, a test's load). */
export function readCounters(counters: number, n: number, start = 0): XtCounters[] {
  const { maxEntries } = mapInfo(counters);
  const m = mmapShared(counters, pageAligned(16 * maxEntries));
  try {
    return sumCounters(m.bytes, maxEntries / possibleCpus(), n, start);
  } finally {
    m.unmap();
  }
}
