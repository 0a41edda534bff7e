// The packet-filtering backend: each accepted table becomes one BPF program per hook, reached
// from a dispatcher attached by a netfilter link in the caller's namespace. The dispatcher
// tail-calls through a one-slot prog array, so a replace is one map update: every packet runs
// either the whole old ruleset or the whole new one. Links and slots are pinned, so filtering
// outlives the helper; a helper that finds them adopts them instead of attaching twice.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Call, Exit, LoadMapPtr, Mov, R0, R2, R3, assemble } from './asm/index.js';
import { compileTable, COUNTERS_MAP, LIMITS_MAP, link } from './codegen/index.js';
import { matchCount } from './codegen/program.js';
import { BUCKET, bucketBtf } from './codegen/btf.js';
import { Unsupported } from './codegen/context.js';
import type { HookFlavor } from './codegen/flavor.js';
import { netfilterFlavor } from './codegen/nf.js';
import { ensureBpffs, pinDir, pinExists, unpinDir, DEFAULT_PIN_ROOT } from './bpffs.js';
import {
  CT_IMAGE,
  EVENTS_MAP,
  REPLIES_MAP,
  REPLY,
  REPLY_VALUE_SIZE,
  RING_BYTES,
} from './codegen/event.js';
import { RingReader } from './ringbuf.js';
import { holdConntrack, usesConntrack } from './conntrack.js';
import { inNetns } from '../sys/netns.js';
import {
  BpfError,
  btfLoad,
  close,
  fdById,
  mapCreate,
  mapLookup,
  mapValues,
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
  BackendLink,
  BackendMap,
  BackendNetnsStatus,
  BackendProgram,
  NetnsRef,
  RulesetBackend,
} from '../ipc/backend.js';
import { HOOK_NAMES } from '../translate/abi.js';
import { EBUSY, EINVAL, EOPNOTSUPP, XtError } from '../translate/errno.js';
import { entryCount, type Table, type XtCounters } from '../translate/ir.js';

const BPF_FUNC_tail_call = 12;

/** Where iptable_filter sits (NF_IP_PRI_FILTER). */
export const DEFAULT_PRIORITY = 0;

export interface Ruleset {
  readonly table: Table;
  readonly counters: number;
  readonly entries: number;
  readonly progs: readonly number[];
  /** Everything else the ruleset holds open: BTF objects, per-rule state maps. */
  readonly others: readonly number[];
}

interface Netns {
  /** Where this namespace's table objects are pinned. */
  readonly dir: string;
  /** The ring buffer LOG and REJECT report to, once a ruleset needed it. */
  events?: number;
  /** The REJECT reply tag (event.ts: REPLIES_MAP), once a ruleset needed it. */
  replies?: number;
  /** hook → the dispatcher's prog array fd. */
  readonly slots: Map<number, number>;
  current?: Ruleset;
  /** Whether we hold conntrack on in this namespace. */
  conntrack?: boolean;
}

export interface BpfBackendOptions {
  readonly pinRoot?: string;
  readonly priority?: number;
  readonly flavor?: HookFlavor;
  /** Receives each event record (codegen/event.ts) the programs of `netns` send. */
  readonly onEvent?: (netns: NetnsRef, record: Buffer) => void;
  /** Where errors of the event reader go. */
  readonly onEventError?: (e: unknown) => void;
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
  private readonly root: string;
  private readonly priority: number;
  private readonly flavor: HookFlavor;
  private reader: RingReader | undefined;

  constructor(private readonly opts: BpfBackendOptions = {}) {
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
        for (const slot of st.slots.values()) close(slot);
        if (st.current) release(st.current);
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

  /** Stops reading events (pins and programs stay). */
  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }

  /** The dispatchers of `netns`: adopted from pins, or created, attached and pinned. */
  private attach(netns: NetnsRef, table: Table): Netns {
    let st = this.nets.get(netns.id);
    if (st) return st;
    const dir = pinDir(this.root, netns.id, table.name);
    st = { dir, slots: new Map() };
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

  async apply(netns: NetnsRef, table: Table): Promise<readonly XtCounters[] | undefined> {
    const dir = pinDir(this.root, netns.id, table.name);
    let events: number | undefined;
    let replies: number | undefined;
    const next = loadRuleset(table, this.flavor, {
      events: () => (events = this.events(netns, dir)),
      replies: () => (replies = this.replies(netns, dir)),
    });
    const st = this.attach(netns, table);
    if (events !== undefined) st.events = events;
    if (replies !== undefined) st.replies = replies;
    const ct = usesConntrack(table);
    // Before the swap, so the first packet the new rules see already has its entry.
    if (ct && !st.conntrack) holdConntrack(netns, true);
    for (const [hook, slot] of st.slots) {
      const fd = next.progs[hook];
      if (fd !== undefined) mapUpdate(slot, u32(0), u32(fd));
    }
    const old = st.current;
    st.current = next;
    // The live counters map is pinned too, so a restarted helper reads the same counts.
    const pin = join(st.dir, 'counters');
    rmSync(pin, { force: true });
    objPin(next.counters, pin);
    const counted = old ? readCounters(old.counters, old.entries) : undefined;
    if (old) release(old);
    if (!ct && st.conntrack) holdConntrack(netns, false);
    st.conntrack = ct;
    return counted;
  }

  async resume(netns: NetnsRef, table: Table): Promise<void> {
    const st = this.attach(netns, table);
    const pin = join(st.dir, 'counters');
    // An earlier helper's programs may still report to the pinned ring: read it again.
    if (pinExists(join(st.dir, 'events'))) st.events = this.events(netns, st.dir);
    if (pinExists(join(st.dir, 'replies'))) st.replies = this.replies(netns, st.dir);
    if (st.current === undefined && pinExists(pin)) {
      // The programs an earlier helper put in the slots keep running; only their counters are
      // needed here. The next replace swaps them out as usual.
      st.current = {
        table,
        counters: objGet(pin),
        entries: entryCount(table),
        progs: [],
        others: [],
      };
      st.conntrack = usesConntrack(table);
      return;
    }
    await this.apply(netns, table);
  }

  async counters(netns: NetnsRef, table: Table): Promise<readonly XtCounters[] | undefined> {
    const cur = this.nets.get(netns.id)?.current;
    if (!cur || cur.table !== table) return undefined;
    return readCounters(cur.counters, cur.entries);
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
    for (const table of tables) {
      const dir = join(base, table);
      const pins = readdirSync(dir).sort();
      pinned.push(...pins.map((p) => join(dir, p)));
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
    return { programs, links, maps, pins: pinned };
  }
}

/** A NUL-padded object name in a bpf_*_info (prog: offset 64, map: 24). */
const objName = (info: Buffer, at: number): string =>
  info.toString('latin1', at, at + 16).replace(/\0.*$/s, '');

/**
 * Compiles and loads `table`: one verified program per hook and its counters map. Throws
 * XtError (EOPNOTSUPP for what is not translated, EINVAL with the verifier's words) and leaves
 * nothing behind when any program is refused.
 */
/** Maps a ruleset shares with its namespace; without them (a test load) it gets its own. */
export interface SharedMaps {
  readonly events?: () => number;
  readonly replies?: () => number;
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

export function loadRuleset(
  table: Table,
  flavor: HookFlavor = netfilterFlavor(),
  shared: SharedMaps = {},
): Ruleset {
  let compiled;
  try {
    compiled = compileTable(table, flavor);
  } catch (e) {
    if (e instanceof Unsupported) throw new XtError(EOPNOTSUPP, e.message);
    throw e;
  }
  const entries = compiled.plan.entries.length;
  const counters = mapCreate({
    type: MapType.PERCPU_ARRAY,
    keySize: 4,
    valueSize: 16,
    maxEntries: Math.max(1, entries),
    name: `bpf_${table.name}_cnt`,
  });
  const progs: number[] = [];
  const others: number[] = [];
  let buckets: number | undefined;
  let ring: number | undefined;
  let replies: number | undefined;
  const maps = (name: string): number => {
    if (name === COUNTERS_MAP) return counters;
    if (name === REPLIES_MAP) {
      if (replies === undefined) {
        if (shared.replies) replies = shared.replies();
        else {
          replies = createRepliesMap();
          others.push(replies);
        }
      }
      return replies;
    }
    if (name === EVENTS_MAP) {
      if (ring === undefined) {
        if (shared.events) ring = shared.events();
        else {
          // Without a namespace to report to (a test load): a ring of the ruleset's own.
          ring = createRing(`bpf_${table.name}_ev`);
          others.push(ring);
        }
      }
      return ring;
    }
    if (name === LIMITS_MAP) {
      if (buckets === undefined) {
        const b = bucketBtf();
        const fd = btfLoad(b.blob);
        others.push(fd);
        buckets = mapCreate({
          type: MapType.ARRAY,
          keySize: 4,
          valueSize: BUCKET.size,
          maxEntries: Math.max(1, matchCount(compiled.plan)),
          name: `bpf_${table.name}_lim`,
          btf: { fd, keyTypeId: b.keyTypeId, valueTypeId: b.valueTypeId },
        });
        others.push(buckets);
      }
      return buckets;
    }
    throw new Error(`no map ${name}`);
  };
  try {
    for (const p of compiled.programs) {
      const linked = link(p, maps);
      const btf = linked.btf ? btfLoad(linked.btf.btf.blob) : undefined;
      if (btf !== undefined) others.push(btf);
      progs[p.hook.hook] = progLoad({
        type: flavor.progType,
        expectedAttachType: flavor.expectedAttachType,
        name: `bpf_${p.hook.chain}`,
        insns: linked.code.bytes,
        ...(btf !== undefined && linked.btf
          ? { btf: { fd: btf, funcInfo: linked.btf.funcInfo } }
          : {}),
      });
    }
  } catch (e) {
    for (const fd of [...progs.filter((f) => f !== undefined), ...others, counters]) close(fd);
    if (e instanceof BpfError && /too complex|too large/.test(e.log)) {
      throw new XtError(
        EINVAL,
        `the ruleset is too big for the kernel's verifier as linear code (${entries} entries): ${e.log.split('\n').slice(-3).join(' | ')}`,
      );
    }
    if (e instanceof BpfError) {
      throw new XtError(
        EINVAL,
        `the kernel refused the program (${e.op}, errno ${e.errno}): ${e.log.split('\n').slice(-4).join(' | ')}`,
      );
    }
    throw e;
  }
  return { table, counters, entries, progs, others };
}

/** All `n` entries of a counters map in one batch read, summed over the possible CPUs. */
export function readCounters(counters: number, n: number): XtCounters[] {
  const cpus = possibleCpus();
  const stride = 16 * cpus;
  const all = mapValues(counters, n, stride);
  return Array.from({ length: n }, (_, i) =>
    sumCpus(all.subarray(i * stride, (i + 1) * stride), cpus),
  );
}

function sumCpus(v: Buffer, cpus: number): XtCounters {
  let pcnt = 0n;
  let bcnt = 0n;
  for (let c = 0; c < cpus; c++) {
    pcnt += v.readBigUInt64LE(16 * c);
    bcnt += v.readBigUInt64LE(16 * c + 8);
  }
  return { pcnt, bcnt };
}

/** Entry `index` of a counters map: {packets, bytes} summed over the possible CPUs. */
export function readCounter(counters: number, index: number): XtCounters {
  const cpus = possibleCpus();
  return sumCpus(mapLookup(counters, u32(index), 16 * cpus), cpus);
}

export function release(r: Ruleset): void {
  for (const fd of [...r.progs.filter((f) => f !== undefined), ...r.others, r.counters]) close(fd);
}
