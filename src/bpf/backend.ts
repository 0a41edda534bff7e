// The packet-filtering backend: each accepted table is an engine instance (engine/instance.ts)
// per namespace, reached from dispatchers attached by netfilter links there. A dispatcher
// tail-calls through a one-slot prog array into the engine program of its hook. A replace that
// only changes data (the usual) writes the instance's idle half and switches the header; one
// that needs other programs (new extensions, bigger maps) loads a new instance and updates the
// slots. Either way every packet runs the whole old ruleset or the whole new one. Links, slots,
// the counters and the header are pinned, so filtering outlives the helper and a new helper
// adopts them instead of attaching twice.
import { readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { Call, Exit, LoadMapPtr, Mov, R0, R2, R3, assemble } from './asm/index.js';
import type { HookFlavor } from './codegen/flavor.js';
import { netfilterFlavor } from './codegen/nf.js';
import { HEADER, MAPS } from './codegen/layout.js';
import { ensureBpffs, pinDir, pinExists, unpinDir, DEFAULT_PIN_ROOT } from './bpffs.js';
import {
  BUDGET,
  BUDGET_VALUE_SIZE,
  budgetValue,
  CT_IMAGE,
  EVENT_CEILING,
  EventKind,
  REPLY,
  REPLY_VALUE_SIZE,
  RING_BYTES,
} from './codegen/event.js';
import { RingReader } from './ringbuf.js';
import { accountFor, holdConntrack, usesConntrack } from './conntrack.js';
import { tableUsesOf, type Compute, type TableRef } from './engine/compute.js';
import { newInstance, type Programs } from './engine/index.js';
import { fits, roomFor, sameKinds, type Capacity, type Kinds } from './engine/image.js';
import { readCounters, type EngineInstance } from './engine/instance.js';
import { NetnsState } from './engine/netns.js';
import { netnsMaps, planTables } from './engine/tables.js';
import { MATCHES, TARGETS } from '../translate/ext/registry.js';
import type { NetnsMap } from '../translate/ext/types.js';
import { inNetns } from '../sys/netns.js';
import { graceAsync } from '../sys/libc.js';
import {
  BpfError,
  close,
  fdById,
  mapCreate,
  mapInfo,
  mapLookup,
  mapUpdate,
  MapType,
  objGet,
  objInfo,
  objPin,
  possibleCpus,
  progLoad,
  progMapIds,
  u32,
} from './syscall.js';
import type {
  Candidate,
  BackendLink,
  BackendMap,
  BackendNetnsStatus,
  BackendProgram,
  ApplyAround,
  NetnsRef,
  RulesetBackend,
} from '../ipc/backend.js';
import { HOOK_NAMES } from '../translate/abi.js';
import { EBUSY, XtError } from '../translate/errno.js';
import type { XtCounters } from '../translate/ir.js';
import type { TableView } from '../translate/view.js';

export { readCounters } from './engine/instance.js';
export { loadTable, type LoadedTable } from './engine/index.js';

const BPF_FUNC_tail_call = 12;

/** Where iptable_filter sits (NF_IP_PRI_FILTER). */
export const DEFAULT_PRIORITY = 0;

/** The ruleset a namespace runs: its table, its programs' kinds and the instance holding it. */
interface Running {
  readonly ref: TableRef;
  readonly kinds: Kinds;
  readonly poolDepth: number;
  readonly instance: EngineInstance;
  readonly cap: Capacity;
}

/** What a restarted helper found pinned: the counters of the generation still filtering. */
interface Adopted {
  readonly ref: TableRef;
  readonly counters: number;
  readonly start: number;
}

interface Netns {
  /** Where this namespace's table objects are pinned. */
  readonly dir: string;
  /** The ring buffer LOG and REJECT report to, once a ruleset needed it. */
  events?: number;
  /** The REJECT reply tag (event.ts: REPLIES_MAP), once a ruleset needed it. */
  replies?: number;
  /** The event ceilings (event.ts: BUDGET_MAP), once a ruleset needed events. */
  budget?: number;
  /** hook → the dispatcher's prog array fd. */
  readonly slots: Map<number, number>;
  current?: Running;
  adopted?: Adopted;
  /** Whether we hold conntrack on in this namespace. */
  conntrack?: boolean;
  /** State kept across rulesets (engine/netns.ts) and what keeps it (keepers). */
  readonly state: NetnsState;
  readonly kept: (() => void)[];
}

export interface BpfBackendOptions {
  /** Where tables are planned, classified and imaged (the service's own). */
  readonly compute: Compute;
  readonly pinRoot?: string;
  readonly priority?: number;
  readonly flavor?: HookFlavor;
  /** Receives each event record (codegen/event.ts) the programs of `netns` send. */
  readonly onEvent?: (netns: NetnsRef, record: Buffer) => void;
  /** Where errors of the event reader go. */
  readonly onEventError?: (e: unknown) => void;
  /**
   * Starts what keeps a namespace map in step with the namespace (addrtype's answers from
   * rtnetlink), the first time the map is opened; what it returns runs when the namespace goes.
   */
  readonly keeper?: (netns: NetnsRef, desc: NetnsMap, fd: number) => (() => void) | undefined;
  /**
   * Test-only: a load of new programs takes this much longer, off the event loop like the
   * verifier itself, so a test can hold one namespace's apply and watch the others answer.
   */
  readonly loadDelayMs?: number;
}

/** The dispatcher: tail-call slot 0; with no ruleset there (never replaced yet) accept, as a
 *  table whose chains are all empty with ACCEPT policies would. */
function dispatcher(slotFd: number, flavor: HookFlavor): Buffer {
  return assemble(
    [
      LoadMapPtr(R2, 'slot'),
      Mov.imm(R3, 0),
      Call.helper(BPF_FUNC_tail_call),
      Mov.imm(R0, flavor.accept),
      Exit(),
    ],
    { maps: () => slotFd },
  ).bytes;
}

export class BpfBackend implements RulesetBackend {
  readonly name = 'bpf (netfilter hooks)';
  private readonly nets = new Map<string, Netns>();
  private readonly compute: Compute;
  private readonly root: string;
  private readonly priority: number;
  private readonly flavor: HookFlavor;
  private reader: RingReader | undefined;

  constructor(private readonly opts: BpfBackendOptions) {
    this.compute = opts.compute;
    this.root = opts.pinRoot ?? DEFAULT_PIN_ROOT;
    this.priority = opts.priority ?? DEFAULT_PRIORITY;
    this.flavor = opts.flavor ?? netfilterFlavor();
    ensureBpffs(this.root);
  }

  /**
   * The namespace's event ring: adopted from its pin or created and pinned, and read from here
   * on. It outlives rulesets, so events in flight across a replace are not lost.
   */
  private events(netns: NetnsRef, dir: string): number {
    const st = this.nets.get(netns.id);
    if (st?.events !== undefined) return st.events;
    const pin = join(dir, 'events');
    let fd: number;
    if (pinExists(pin)) fd = objGet(pin);
    else {
      fd = createRing('bpfilter_events');
      objPin(fd, pin);
    }
    if (st) st.events = fd;
    const { onEvent } = this.opts;
    if (onEvent) {
      this.reader ??= new RingReader(this.opts.onEventError ?? (() => undefined));
      this.reader.add(fd, (rec) => onEvent(netns, rec));
    }
    return fd;
  }

  collect(alive: (netns: string) => boolean): string[] {
    const dead = new Set<string>();
    for (const id of this.nets.keys()) if (!alive(id)) dead.add(id);
    let pinned: string[] = [];
    try {
      pinned = readdirSync(this.root).filter((n) => /^\d+$/.test(n));
    } catch {
      // nothing pinned yet
    }
    for (const id of pinned) if (!alive(id)) dead.add(id);
    for (const id of dead) {
      const st = this.nets.get(id);
      if (st) {
        if (st.events !== undefined) {
          this.reader?.remove(st.events);
          close(st.events);
        }
        if (st.replies !== undefined) close(st.replies);
        if (st.budget !== undefined) close(st.budget);
        for (const slot of st.slots.values()) close(slot);
        st.current?.instance.close();
        for (const stop of st.kept) stop();
        st.state.close();
        if (st.adopted) close(st.adopted.counters);
        this.nets.delete(id);
      }
      unpinDir(this.root, id);
    }
    return [...dead];
  }

  /** The namespace's REJECT reply tag map: adopted from its pin or created and pinned. */
  private replies(netns: NetnsRef, dir: string): number {
    const st = this.nets.get(netns.id);
    if (st?.replies !== undefined) return st.replies;
    const pin = join(dir, 'replies');
    const fd = pinExists(pin) ? objGet(pin) : createRepliesMap();
    if (!pinExists(pin)) objPin(fd, pin);
    if (st) st.replies = fd;
    return fd;
  }

  /** The namespace's event ceilings: adopted from their pin (with their drop counts) or made. */
  private budget(netns: NetnsRef, dir: string): number {
    const st = this.nets.get(netns.id);
    if (st?.budget !== undefined) return st.budget;
    const pin = join(dir, 'evbudget');
    let fd: number;
    if (pinExists(pin)) fd = objGet(pin);
    else {
      fd = mapCreate({
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: BUDGET_VALUE_SIZE,
        maxEntries: 1,
        name: 'bpfilter_evbud',
      });
      mapUpdate(fd, u32(0), budgetValue(EVENT_CEILING));
      objPin(fd, pin);
    }
    if (st) st.budget = fd;
    return fd;
  }

  /**
   * Marks packets from the socket with `cookie` as the REJECT replies they are (0: none now),
   * with `ctinfo` for OUTPUT's conntrack matches. A namespace whose rules never rejected has
   * no map and sends no replies.
   */
  tagReply(netns: string, cookie: bigint, ctinfo: number, ct?: Buffer): void {
    const fd = this.nets.get(netns)?.replies;
    if (fd === undefined) return;
    const v = Buffer.alloc(REPLY_VALUE_SIZE);
    v.writeBigUInt64LE(cookie, REPLY.COOKIE);
    v.writeUInt32LE(ctinfo >>> 0, REPLY.CTINFO);
    if (ct) {
      v.writeUInt32LE(1, REPLY.HAS_CT);
      ct.copy(v, REPLY.CT, 0, CT_IMAGE);
    }
    mapUpdate(fd, u32(0), v);
  }

  /** The slot of table `name` in namespace map `map` of `netnsId`, and the map's fd. */
  netnsTable(netnsId: string, map: string, name: string): { fd: number; slot: number } | undefined {
    const state = this.nets.get(netnsId)?.state;
    const fd = state?.fd(map);
    const slot = state?.tables.get(map)?.get(name);
    return fd === undefined || slot === undefined ? undefined : { fd, slot };
  }

  /** Stops reading events (pins and programs stay). */
  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }

  /** The dispatchers of `netns`: adopted from pins, or created, attached and pinned. */
  private attach(netns: NetnsRef, table: TableView): Netns {
    let st = this.nets.get(netns.id);
    if (st) return st;
    const dir = pinDir(this.root, netns.id, table.name);
    const kept: (() => void)[] = [];
    const state = new NetnsState(dir, (desc, fd) => {
      const stop = this.opts.keeper?.(netns, desc, fd);
      if (stop) kept.push(stop);
    });
    st = { dir, slots: new Map(), state, kept };
    for (let hook = 0; hook < HOOK_NAMES.length; hook++) {
      if (!(table.validHooks & (1 << hook))) continue;
      const name = HOOK_NAMES[hook] as string;
      const slotPin = join(dir, `${name}_slot`);
      const linkPin = join(dir, `${name}_link`);
      if (pinExists(slotPin) && pinExists(linkPin)) {
        st.slots.set(hook, objGet(slotPin));
        continue;
      }
      const slot = mapCreate({
        type: MapType.PROG_ARRAY,
        keySize: 4,
        valueSize: 4,
        maxEntries: 1,
        name: `bpf_${name}_slot`,
      });
      const prog = progLoad({
        type: this.flavor.progType,
        expectedAttachType: this.flavor.expectedAttachType,
        name: `bpfilter_${name}`,
        insns: dispatcher(slot, this.flavor),
      });
      let lnk: number;
      try {
        lnk = inNetns(netns.path, () => this.flavor.attach(prog, hook, this.priority));
      } catch (e) {
        close(prog);
        close(slot);
        // The kernel refuses a BPF hook at a priority another hook already holds — here, the
        // kernel's own iptable_filter once something used iptables-legacy without the shim.
        if (e instanceof BpfError && e.errno === EBUSY) {
          throw new XtError(
            EBUSY,
            `hook ${name} priority ${this.priority} is taken in this netns (the kernel's own iptables filter table?)`,
          );
        }
        throw e;
      }
      objPin(slot, slotPin);
      objPin(lnk, linkPin);
      close(prog);
      close(lnk);
      st.slots.set(hook, slot);
    }
    this.nets.set(netns.id, st);
    return st;
  }

  async apply(
    netns: NetnsRef,
    ref: TableRef,
    phase: (name: string) => void = () => undefined,
    tag = 0n,
    around: ApplyAround = {},
  ): Promise<readonly XtCounters[] | undefined> {
    const ms = phase;
    const { view, handle } = ref;
    const compute = this.compute;
    const hz = this.flavor.hz;
    // The classification is asked for with the plan: the worker goes on to it at once while
    // this thread generates and loads the programs the plan's kinds need (that took the main
    // thread 20-40 ms on a restore, and the classification waited for it).
    const planning = compute.plan(handle, hz);
    const classifying = compute.classify(handle);
    // Awaited below; a throw before that (the plan's, the dispatchers') must not leave it unheard.
    classifying.catch(() => undefined);
    const shape = await planning;
    const programs: Programs = {
      table: view.name,
      hooks: shape.hooks,
      kinds: compute.kinds(handle, shape),
      poolDepth: shape.poolDepth,
      entries: shape.entries,
    };
    const dir = pinDir(this.root, netns.id, view.name);
    const st = this.attach(netns, view);
    const cur = st.current;
    const shared = {
      events: () => this.events(netns, dir),
      replies: () => this.replies(netns, dir),
      budget: () => this.budget(netns, dir),
      netns: st.state,
    };
    // New programs are verified on libuv's threads while the compute classifies the table.
    const sameProgs =
      cur !== undefined &&
      sameKinds(cur.kinds, programs.kinds) &&
      cur.poolDepth === programs.poolDepth;
    const early = sameProgs
      ? undefined
      : newInstance(programs, shape.likelyRoom, this.flavor, shared);
    let need: Capacity;
    try {
      need = (await classifying).need;
      ms('compile');
      await around.ready;
      ms('ahead');
    } catch (e) {
      void early?.then(
        (i) => i.close(),
        () => undefined,
      );
      throw e;
    }
    const ct = usesConntrack(view.uses);
    // Before the switch, so the first packet the new rules see already has its entry.
    if (ct && !st.conntrack) await holdConntrack(netns, true);
    await accountFor(netns, view.uses);
    let counted: readonly XtCounters[] | undefined;
    const tables = planTables(tableUsesOf(shape), st.state.tables);
    const running = { ref, kinds: programs.kinds, poolDepth: programs.poolDepth };
    if (cur && sameProgs && fits(need, cur.cap)) {
      // Data only: the idle half, then the header. No program is loaded.
      const was = cur.instance.active;
      st.state.prepare(tables);
      const img = await compute.image(handle, cur.cap, cur.instance.idle(), hz, st.state.tables);
      ms('image');
      cur.instance.write(img);
      cur.instance.switchTo(img, tag);
      st.current = { ...cur, ...running };
      ms('write');
      // Every packet that read the old half has finished: its counters are final.
      await cur.instance.quiesce();
      ms('grace');
      counted = cur.instance.counters(was);
      cur.instance.resetCounters(was);
      ms('counters');
    } else {
      let inst = await (early ?? Promise.resolve(undefined));
      if (this.opts.loadDelayMs) await sleep(this.opts.loadDelayMs);
      if (inst === undefined || !fits(need, inst.spec.cap)) {
        inst?.close();
        inst = await newInstance(programs, roomFor(need), this.flavor, shared);
      }
      const cap = inst.spec.cap;
      ms('load');
      st.state.prepare(tables);
      let img;
      try {
        img = await compute.image(handle, cap, 0, hz, st.state.tables);
      } catch (e) {
        inst.close();
        throw e;
      }
      ms('image');
      inst.write(img);
      inst.switchTo(img, tag);
      for (const [hook, slot] of st.slots) {
        const fd = inst.progs.get(hook);
        if (fd !== undefined) mapUpdate(slot, u32(0), u32(fd));
      }
      st.current = { ...running, instance: inst, cap };
      const old = cur?.instance;
      const adopted = st.adopted;
      st.adopted = undefined;
      this.pinState(st, inst);
      ms('write');
      // Not the old instance's quiesce(): a packet may be between the dispatcher's tail call
      // and the old program's claim, holding no work entry yet. RCU covers it. With no old
      // instance there is nothing to wait for: the dispatchers had no program, counted nothing.
      if (old || adopted) await graceAsync();
      ms('grace');
      if (old) {
        counted = old.counters(old.active);
        old.close();
      } else if (adopted) {
        counted = readCounters(adopted.counters, adopted.ref.view.entries, adopted.start);
        close(adopted.counters);
      }
      ms('counters');
    }
    st.state.commit(tables);
    if (!ct && st.conntrack) await holdConntrack(netns, false);
    st.conntrack = ct;
    return counted;
  }

  /** Pins what a restarted helper needs to read the running generation's counters. */
  private pinState(st: Netns, inst: EngineInstance): void {
    for (const [name, map] of [
      ['counters', MAPS.COUNTERS],
      ['header', MAPS.HEADER],
    ] as const) {
      const pin = join(st.dir, name);
      rmSync(pin, { force: true });
      objPin(inst.fd(map), pin);
    }
  }

  async resume(netns: NetnsRef, candidates: readonly Candidate[]): Promise<number> {
    const first = candidates[0];
    if (first === undefined) throw new Error('resume: no table to resume');
    const st = this.attach(netns, first.ref.view);
    // An earlier helper's programs may still report to the pinned ring: read it again.
    if (pinExists(join(st.dir, 'events'))) st.events = this.events(netns, st.dir);
    if (pinExists(join(st.dir, 'replies'))) st.replies = this.replies(netns, st.dir);
    if (pinExists(join(st.dir, 'evbudget'))) st.budget = this.budget(netns, st.dir);
    const running = st.current === undefined ? runningHalf(st.slots) : undefined;
    // An earlier helper that did not tag its halves left 0: its table is the one last saved.
    const at =
      running === undefined
        ? -1
        : running.tag === 0n
          ? 0
          : candidates.findIndex((c) => c.tag === running.tag);
    const found = candidates[at];
    if (running === undefined || found === undefined) {
      running?.close();
      // Nothing to adopt (fresh pins), or a helper killed between two hooks' slot updates:
      // one table in every hook again. The counters of what ran are not read back.
      await this.apply(netns, first.ref, undefined, first.tag);
      return 0;
    }
    // The programs an earlier helper put in the slots keep running; only their counters are
    // needed here. The next replace loads an instance of this helper's own.
    const { ref } = found;
    close(running.header);
    // One run of 2 × capacity slots per possible CPU (engine/instance.ts).
    const perHalf = mapInfo(running.counters).maxEntries / possibleCpus() / 2;
    st.adopted = { ref, counters: running.counters, start: running.half * perHalf };
    st.conntrack = usesConntrack(ref.view.uses);
    // Their namespace maps too, so what keeps them (addrtype's routes) runs again, and the
    // names of their tables are known to the next replace.
    const used = new Set(ref.view.uses);
    const kinds = [...MATCHES, ...TARGETS].filter((e) => used.has(e.name));
    for (const desc of netnsMaps(kinds)) st.state.open(desc);
    return at;
  }

  async counters(netns: NetnsRef, ref: TableRef): Promise<readonly XtCounters[] | undefined> {
    const st = this.nets.get(netns.id);
    const cur = st?.current;
    if (cur && cur.ref.handle === ref.handle) return cur.instance.counters(cur.instance.active);
    const a = st?.adopted;
    if (a && a.ref.handle === ref.handle) {
      return readCounters(a.counters, ref.view.entries, a.start);
    }
    return undefined;
  }

  /**
   * From the pins alone, so what an earlier helper left shows too: per hook the link, the
   * dispatcher it runs and the ruleset in the dispatcher's slot, and every map they use.
   */
  describe(netnsId: string): BackendNetnsStatus | undefined {
    const base = join(this.root, netnsId);
    let tables: string[];
    try {
      tables = readdirSync(base).sort();
    } catch {
      return undefined;
    }
    const programs: BackendProgram[] = [];
    const links: BackendLink[] = [];
    const maps: BackendMap[] = [];
    const pinned: string[] = [];
    const mapIds = new Set<number>();
    const withFd = <T>(fd: number, fn: (fd: number) => T): T => {
      try {
        return fn(fd);
      } finally {
        close(fd);
      }
    };
    const addProg = (hook: string, id: number): void =>
      withFd(fdById('prog', id), (fd) => {
        programs.push({ hook, name: objName(objInfo(fd), 64), id });
        for (const m of progMapIds(fd)) mapIds.add(m);
      });
    let dropped: number | undefined;
    for (const table of tables) {
      const dir = join(base, table);
      const pins = readdirSync(dir).sort();
      pinned.push(...pins.map((p) => join(dir, p)));
      if (pins.includes('evbudget')) {
        dropped = (dropped ?? 0) + withFd(objGet(join(dir, 'evbudget')), eventsDropped);
      }
      for (const hook of HOOK_NAMES) {
        if (!pins.includes(`${hook}_link`)) continue;
        const [id, progId] = withFd(objGet(join(dir, `${hook}_link`)), (fd) => {
          const info = objInfo(fd);
          return [info.readUInt32LE(4), info.readUInt32LE(8)] as const;
        });
        links.push({ hook, id, progId });
        addProg(hook, progId);
        if (!pins.includes(`${hook}_slot`)) continue;
        // A prog array read from user space gives the id of the program in the slot.
        const slot = withFd(objGet(join(dir, `${hook}_slot`)), (fd) => {
          try {
            return mapLookup(fd, u32(0), 4).readUInt32LE(0);
          } catch {
            return undefined; // empty slot: never replaced yet
          }
        });
        if (slot !== undefined) addProg(hook, slot);
      }
    }
    for (const id of [...mapIds].sort((a, b) => a - b)) {
      maps.push({ name: withFd(fdById('map', id), (fd) => objName(objInfo(fd), 24)), id });
    }
    return {
      programs,
      links,
      maps,
      pins: pinned,
      ...(dropped !== undefined ? { eventsDropped: dropped } : {}),
    };
  }
}

/** The header and counters of the instance every hook's slot runs, open, and what it says. */
interface RunningHalf {
  readonly header: number;
  readonly counters: number;
  readonly half: number;
  readonly tag: bigint;
  close(): void;
}

/**
 * What the kernel runs, read from the slots rather than from pins: the programs in the slots
 * are what filters, whatever the helper that put them there managed to pin or save before it
 * died. Undefined when a slot is empty or the hooks run different instances or halves.
 */
function runningHalf(slots: ReadonlyMap<number, number>): RunningHalf | undefined {
  const seen = new Set<string>();
  let found: RunningHalf | undefined;
  for (const slot of slots.values()) {
    let progId: number;
    try {
      progId = mapLookup(slot, u32(0), 4).readUInt32LE(0);
    } catch {
      found?.close();
      return undefined; // empty slot: never replaced
    }
    const prog = fdById('prog', progId);
    let header: number | undefined;
    let headerId = 0;
    let counters: number | undefined;
    try {
      for (const id of progMapIds(prog)) {
        const fd = fdById('map', id);
        const name = objName(objInfo(fd), 24);
        if (header === undefined && name.endsWith('_hdr')) {
          header = fd;
          headerId = id;
        } else if (counters === undefined && name.endsWith('_cnt')) counters = fd;
        else close(fd);
      }
    } finally {
      close(prog);
    }
    if (header === undefined || counters === undefined) {
      for (const fd of [header, counters]) if (fd !== undefined) close(fd);
      found?.close();
      return undefined;
    }
    const hdr = mapLookup(header, u32(0), HEADER.SIZE);
    const half = hdr.readUInt32LE(HEADER.HALF);
    const tag = hdr.readBigUInt64LE(HEADER.tag(half));
    seen.add(`${headerId}/${half}`);
    if (found === undefined) {
      const [h, c] = [header, counters];
      found = {
        header: h,
        counters: c,
        half,
        tag,
        close: () => {
          close(h);
          close(c);
        },
      };
    } else {
      close(header);
      close(counters);
    }
  }
  if (seen.size !== 1) {
    found?.close();
    return undefined;
  }
  return found;
}

/** A NUL-padded object name in a bpf_*_info (prog: offset 64, map: 24). */
const objName = (info: Buffer, at: number): string =>
  info.toString('latin1', at, at + 16).replace(/\0.*$/s, '');

/** Events the namespace's ceilings turned away, every kind. */
function eventsDropped(fd: number): number {
  const v = mapLookup(fd, u32(0), BUDGET_VALUE_SIZE);
  let n = 0n;
  for (const kind of [EventKind.LOG, EventKind.REJECT]) {
    n += v.readBigUInt64LE(kind * BUDGET.SIZE + BUDGET.DROPPED);
  }
  return Number(n);
}

function createRing(name: string): number {
  return mapCreate({
    type: MapType.RINGBUF,
    keySize: 0,
    valueSize: 0,
    maxEntries: RING_BYTES,
    name,
  });
}

function createRepliesMap(): number {
  return mapCreate({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: REPLY_VALUE_SIZE,
    maxEntries: 1,
    name: 'bpfilter_replies',
  });
}
