// The service core shared by every transport: one mbox_request in, one status out. It reads and
// writes the caller's optval itself (process_vm_readv/writev), resolves the caller's network
// namespace, and gives each sockopt the kernel's semantics and errno (do_ipt_set_ctl /
// do_ipt_get_ctl in net/ipv4/netfilter/ip_tables.c).
import {
  IPT_SO_GET_ENTRIES,
  IPT_SO_GET_INFO,
  IPT_SO_GET_REVISION_MATCH,
  IPT_SO_GET_REVISION_TARGET,
  IPT_SO_SET_ADD_COUNTERS,
  IPT_SO_SET_REPLACE,
  SIZEOF_IPT_GET_ENTRIES,
  SIZEOF_IPT_GETINFO,
  SIZEOF_IPT_REPLACE,
  SIZEOF_XT_COUNTERS,
  SIZEOF_XT_COUNTERS_INFO,
  SIZEOF_XT_GET_REVISION,
  XT_TABLE_MAXNAMELEN,
} from '../translate/abi.js';
import { EFAULT, EINVAL, ENOENT, ENOMEM, ESRCH, XtError, errnoName } from '../translate/errno.js';
import { revisionFor } from '../translate/ext/registry.js';
import { ZERO_COUNTERS, type XtCounters } from '../translate/ir.js';
import { writeCounterArray } from '../translate/serializer.js';
import { getinfoOf, withCounters, type LaidOut } from '../translate/table.js';
import type { Compute, TableRef } from '../bpf/engine/compute.js';
import {
  checkAddCounters,
  checkAddCountersAgainst,
  checkGetEntries,
  checkGetEntriesAgainst,
  checkGetInfo,
  checkGetRevision,
  checkReplaceAgainst,
  checkReplaceHeader,
  type ReplaceHeader,
} from '../translate/validate.js';
import { processVmRead, processVmReadAsync, processVmWrite, SysError } from '../sys/libc.js';
import { cookieOf, liveNetns } from '../sys/netns.js';
import type { NetnsRef, RulesetBackend } from './backend.js';
import { isHealthCheck, type MboxRequest } from './mbox.js';
import { tagOf, type SavedTable, type StateFiles } from './persist.js';
import { ApplyHistory, type ServedTable } from './status.js';

export type Logger = (record: Readonly<Record<string, unknown>>) => void;

export const stderrLogger: Logger = (record) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
};

const INT_MAX = 0x7fffffff;

/** The tables this helper serves; a fresh netns gets them on first use, as iptable_filter does. */
/**
 * What one command may make the helper read and hold. The kernel caps a table at
 * XT_MAX_TABLE_SIZE (512 MiB) and at what vmalloc can give, answering ENOMEM; the helper holds
 * a table several times over (its IR, the classifier, both halves of the maps), so its caps are
 * lower and answer the same: 64 MiB of entries (ClassBench's 100k rules are 20 MiB) and 262,144
 * entries. A command past them is refused before its entries are read.
 */
export const LIMITS = { tableBytes: 64 << 20, entries: 1 << 18 } as const;

/** Entries read on libuv's thread pool from this size on (about a millisecond of copying). */
const BIG_READ = 1 << 20;

const TABLES = ['filter'] as const;
type TableName = (typeof TABLES)[number];
const isServed = (name: string): name is TableName => (TABLES as readonly string[]).includes(name);

interface TableState {
  /** The table, held by the compute. */
  readonly ref: TableRef;
  /** persist.ts tagOf the replace that made it (0 for the fresh table). */
  readonly tag: bigint;
  /** Counters set by SET_ADD_COUNTERS since the replace, added to what the backend counted. */
  readonly base: XtCounters[];
  /** What GET_INFO and GET_ENTRIES answer with, once the compute has laid the table out. */
  layout?: Promise<LaidOut>;
}

const zeros = (n: number): XtCounters[] => Array<XtCounters>(n).fill(ZERO_COUNTERS);

export function netnsOf(pid: number): NetnsRef {
  const path = `/proc/${pid}/ns/net`;
  try {
    return { id: String(cookieOf(path)), path };
  } catch {
    throw new XtError(ESRCH, `caller pid ${pid} is gone`);
  }
}

const CMD_NAMES: Readonly<Record<string, string>> = {
  [`set${IPT_SO_SET_REPLACE}`]: 'SET_REPLACE',
  [`set${IPT_SO_SET_ADD_COUNTERS}`]: 'SET_ADD_COUNTERS',
  [`get${IPT_SO_GET_INFO}`]: 'GET_INFO',
  [`get${IPT_SO_GET_ENTRIES}`]: 'GET_ENTRIES',
  [`get${IPT_SO_GET_REVISION_MATCH}`]: 'GET_REVISION_MATCH',
  [`get${IPT_SO_GET_REVISION_TARGET}`]: 'GET_REVISION_TARGET',
};
export const cmdName = (req: MboxRequest): string =>
  CMD_NAMES[`${req.isSet ? 'set' : 'get'}${req.cmd}`] ?? `${req.isSet ? 'set' : 'get'}#${req.cmd}`;

/** What one request did, for the log line. */
interface Outcome {
  table?: string;
  detail?: string;
  /** Entries of the table a SET_REPLACE installed. */
  entries?: number;
}

export class SockoptService {
  private readonly tables = new Map<string, TableState>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Every SET_REPLACE's outcome, for `bpfilter status`. */
  readonly applies = new ApplyHistory();

  constructor(
    private readonly backend: RulesetBackend,
    /** Decodes, checks and compiles tables off the event loop (bpf/engine/compute.ts). */
    private readonly compute: Compute,
    private readonly log: Logger = stderrLogger,
    private readonly saved?: StateFiles,
  ) {}

  /** Serves one request; never throws: failures become -errno and a log line. */
  async handle(req: MboxRequest): Promise<number> {
    if (isHealthCheck(req)) return 0;
    const started = process.hrtime.bigint();
    const at = new Date().toISOString();
    const outcome: Outcome = {};
    let status: number;
    let netns: string | undefined;
    let error: string | undefined;
    try {
      // The syscalls take optlen as an int and refuse a negative one before netfilter sees it;
      // the shim forwards the caller's socklen_t as it is.
      if (req.len > INT_MAX) throw new XtError(EINVAL, `optlen ${req.len} > INT_MAX`);
      const ns = netnsOf(req.pid);
      netns = ns.id;
      status = await this.dispatch(req, ns, outcome);
    } catch (e) {
      status = -errnoOf(e);
      error = e instanceof Error ? e.message : String(e);
    }
    this.log({
      pid: req.pid,
      netns,
      cmd: cmdName(req),
      table: outcome.table,
      result: status < 0 ? errnoName(-status) : status,
      ...(error !== undefined ? { error } : {}),
      ...(outcome.detail !== undefined ? { detail: outcome.detail } : {}),
      us: Number((process.hrtime.bigint() - started) / 1000n),
    });
    if (req.isSet && req.cmd === IPT_SO_SET_REPLACE && netns !== undefined) {
      // Per table this helper serves; any other name goes under "", or a caller naming a new
      // table in each command would grow the history without bound.
      const table = outcome.table !== undefined && isServed(outcome.table) ? outcome.table : '';
      this.applies.record(netns, table, {
        at,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        result: status < 0 ? errnoName(-status) : 'ok',
        ...(error !== undefined ? { reason: error } : {}),
        ...(outcome.entries !== undefined ? { entries: outcome.entries } : {}),
      });
    }
    return status;
  }

  /**
   * Every table this helper answers for: those in memory, and those an earlier helper saved
   * that no command has asked for since (their programs still run from the pins).
   */
  async served(): Promise<ServedTable[]> {
    const out: ServedTable[] = [];
    for (const [key, st] of this.tables) {
      out.push({ netns: key.slice(0, key.indexOf('/')), table: st.ref.view, loaded: true });
    }
    for (const netns of this.saved?.namespaces() ?? []) {
      for (const name of TABLES) {
        if (this.tables.has(`${netns}/${name}`)) continue;
        const saved = this.saved?.load(netns, name);
        if (!saved) continue;
        try {
          out.push({ netns, table: await this.compute.view(saved.replace), loaded: false });
        } catch {
          // unusable: state() will say so when the namespace is next used
        }
      }
    }
    return out;
  }

  private dispatch(req: MboxRequest, ns: NetnsRef, out: Outcome): Promise<number> {
    if (req.isSet) {
      if (req.cmd === IPT_SO_SET_REPLACE) return this.replace(req, ns, out);
      if (req.cmd === IPT_SO_SET_ADD_COUNTERS) return this.addCounters(req, ns, out);
    } else {
      if (req.cmd === IPT_SO_GET_INFO) return this.getInfo(req, ns, out);
      if (req.cmd === IPT_SO_GET_ENTRIES) return this.getEntries(req, ns, out);
      if (req.cmd === IPT_SO_GET_REVISION_MATCH) return this.getRevision(req, 'match');
      if (req.cmd === IPT_SO_GET_REVISION_TARGET) return this.getRevision(req, 'target');
    }
    throw new XtError(EINVAL, `unknown ${req.isSet ? 'set' : 'get'}sockopt ${req.cmd}`);
  }

  /** Runs `fn` after every earlier command on the same table of the same netns. */
  private serialize<T>(ns: NetnsRef, name: string, fn: () => Promise<T>): Promise<T> {
    const key = `${ns.id}/${name}`;
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  }

  /**
   * Forgets namespaces that are gone: the backend's programs, maps and pins, the saved tables
   * and what is kept in memory. Without it they pile up for the helper's lifetime (and pins
   * outlive it). Returns the ids dropped.
   */
  collect(alive?: (netns: string) => boolean): string[] {
    const live = alive ? undefined : liveNetns();
    const isAlive = alive ?? ((id: string): boolean => live?.has(id) ?? true);
    const dead = new Set(this.backend.collect(isAlive));
    for (const id of this.saved?.namespaces() ?? []) if (!isAlive(id)) dead.add(id);
    for (const key of this.tables.keys()) {
      const id = key.split('/')[0] as string;
      if (!isAlive(id)) dead.add(id);
    }
    for (const [id] of this.applies.keys()) if (!isAlive(id)) dead.add(id);
    for (const id of dead) {
      this.saved?.remove(id);
      this.applies.forget(id);
      for (const key of [...this.tables.keys()])
        if (key.startsWith(`${id}/`)) this.tables.delete(key);
      this.compute.forget(id).catch((e: unknown) => {
        this.log({ event: 'compute forget failed', netns: id, error: String(e) });
      });
    }
    if (dead.size) this.log({ event: 'collected', netns: [...dead] });
    return [...dead];
  }

  /**
   * The table as this helper last left it in `ns`: in memory, else as saved by an earlier helper
   * (whose pinned programs the backend adopts), else the fresh table iptable_filter would have.
   */
  private async state(ns: NetnsRef, name: string): Promise<TableState | undefined> {
    const key = `${ns.id}/${name}`;
    const known = this.tables.get(key);
    if (known !== undefined || !isServed(name)) return known;
    let st: TableState | undefined;
    const saved = this.saved?.load(ns.id, name);
    const next = this.saved?.loadNext(ns.id, name);
    if (saved || next) {
      try {
        st = await this.resume(ns, name, saved, next);
      } catch (e) {
        this.log({
          event: 'saved state unusable, starting fresh',
          netns: ns.id,
          table: name,
          error: String(e),
        });
      }
    }
    if (st === undefined) {
      const ref = await this.compute.fresh(key, name);
      st = { ref, tag: 0n, base: zeros(ref.view.entries) };
    }
    this.tables.set(key, st);
    return st;
  }

  /**
   * Adopts what an earlier helper left: its last completed table, or the one it was applying
   * when it died if the backend finds that one running (the kernel took it: it is the table now,
   * counting from zero as after any replace).
   */
  private async resume(
    ns: NetnsRef,
    name: TableName,
    saved: SavedTable | undefined,
    next: Buffer | undefined,
  ): Promise<TableState> {
    const key = `${ns.id}/${name}`;
    const last = {
      ref: await (saved ? this.compute.check(key, saved.replace) : this.compute.fresh(key, name)),
      tag: saved?.tag ?? 0n,
    };
    let pending: { ref: TableRef; tag: bigint } | undefined;
    if (next) {
      try {
        pending = { ref: await this.compute.check(key, next), tag: tagOf(next) };
      } catch {
        // not a table this helper accepts: it cannot be what runs
      }
    }
    let chosen = last;
    try {
      const at = await this.backend.resume(ns, pending ? [last, pending] : [last]);
      chosen = at === 1 && pending ? pending : last;
    } catch (e) {
      for (const c of [last, pending]) if (c) this.release(c.ref);
      throw e;
    }
    const took = chosen !== last;
    this.release((took ? last : pending)?.ref);
    if (took) await this.saved?.commitNext(ns.id, name);
    else await this.saved?.dropNext(ns.id, name);
    const { ref, tag } = chosen;
    const base = zeros(ref.view.entries).map((z, i) => (took ? z : (saved?.base[i] ?? z)));
    this.log({
      event: 'resumed',
      netns: ns.id,
      table: name,
      entries: ref.view.entries,
      ...(next ? { interrupted: took ? 'switched' : 'not switched' } : {}),
    });
    return { ref, tag, base };
  }

  /** Lets the compute drop a table nothing refers to any more. */
  private release(ref: TableRef | undefined): void {
    if (ref === undefined) return;
    this.compute.release(ref.handle).catch(() => undefined);
  }

  /** The table laid out for GET_INFO and GET_ENTRIES: asked of the compute once per table. */
  private laidOut(st: TableState): Promise<LaidOut> {
    if (st.layout === undefined) {
      const p = this.compute.layout(st.ref.handle);
      // A failure is answered to the command that asked; the next one asks again.
      p.catch(() => {
        if (st.layout === p) st.layout = undefined;
      });
      st.layout = p;
    }
    return st.layout;
  }

  /** Counters as GET_ENTRIES and SET_REPLACE report them: ADD_COUNTERS base + packets counted. */
  private async live(ns: NetnsRef, st: TableState): Promise<XtCounters[]> {
    return withCounts(st.base, await this.backend.counters(ns, st.ref));
  }

  private async replace(req: MboxRequest, ns: NetnsRef, out: Outcome): Promise<number> {
    const ms = phaseTimer();
    const head = readReplaceHeader(req);
    const hdr = head.hdr;
    out.table = hdr.name;
    // Read and checked in turn too: a later command's blob must not overtake this one's, and
    // the table's memo serves one check at a time. Names no table has share one queue.
    return this.serialize(ns, isServed(hdr.name) ? hdr.name : '', async () => {
      ms('wait');
      const buf = await readReplaceEntries(req, head);
      ms('read');
      if (!isServed(hdr.name)) {
        // Checked all the same: the kernel looks the table up only after translate_table.
        checkReplaceAgainst(undefined, await this.compute.view(buf), hdr.numCounters);
      }
      const key = `${ns.id}/${hdr.name}`;
      const next = await this.compute.check(key, buf);
      ms('check');
      let counted: readonly XtCounters[] | undefined;
      let cur: TableState | undefined;
      const tag = tagOf(buf);
      try {
        cur = await this.state(ns, next.view.name);
        checkReplaceAgainst(cur?.ref.view, next.view, hdr.numCounters);
        // Written ahead, so a helper killed during the switch can tell which table runs: on
        // libuv's threads while the backend compiles, awaited by it just before the switch.
        // Where it cannot be written the table is refused before anything changes, with the
        // errno of a kernel that cannot allocate one (xt_alloc_table_info).
        const ahead = (this.saved?.saveNext(ns.id, next.view.name, buf) ?? Promise.resolve()).catch(
          (e: unknown) => {
            throw new XtError(ENOMEM, `the state directory cannot take the table: ${String(e)}`);
          },
        );
        ahead.catch(() => undefined);
        // The old counts are read after the swap, as the kernel does, so packets the old rules
        // counted while the new ones were being loaded are not lost.
        try {
          counted = await this.backend.apply(ns, next, ms, tag, { ready: ahead });
        } catch (e) {
          await ahead.catch(() => undefined);
          await this.saved?.dropNext(ns.id, next.view.name);
          throw e;
        }
      } catch (e) {
        this.release(next);
        throw e;
      }
      const old = cur ? withCounts(cur.base, counted) : [];
      const st: TableState = { ref: next, tag, base: zeros(next.view.entries) };
      this.tables.set(key, st);
      this.release(cur?.ref);
      await this.saved?.commitNext(ns.id, next.view.name);
      ms('save');
      // Laid out now, on the compute: the next command starts with GET_INFO and GET_ENTRIES.
      this.laidOut(st).catch(() => undefined);
      out.entries = next.view.entries;
      const phases = ms.phases;
      out.detail = `${out.entries} entries; ms ${Object.entries(phases)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`;
      try {
        processVmWrite(req.pid, hdr.counters, encodeCounters(old.slice(0, hdr.numCounters)));
      } catch {
        // As __do_replace: the new table is in place, so a failed copy of the old counters is
        // only worth a log line.
        out.detail += '; copying the old counters to the caller failed';
      }
      return 0;
    });
  }

  private async addCounters(req: MboxRequest, ns: NetnsRef, out: Outcome): Promise<number> {
    // xt_copy_counters refuses optlen <= sizeof(xt_counters_info) before copying anything.
    const buf =
      req.len <= SIZEOF_XT_COUNTERS_INFO
        ? Buffer.alloc(req.len)
        : readBounded(req, addCountersLength(req));
    const add = checkAddCounters(buf);
    out.table = add.name;
    return this.serialize(ns, add.name, async () => {
      const st = await this.state(ns, add.name);
      checkAddCountersAgainst(st?.ref.view, add);
      if (!st) return 0;
      const base = withCounts(st.base, add.counters);
      // Saved first: counters a restarted helper would not list are refused, as above.
      try {
        await this.saved?.saveCounters(ns.id, add.name, st.tag, base);
      } catch (e) {
        throw new XtError(ENOMEM, `the state directory cannot take the counters: ${String(e)}`);
      }
      base.forEach((b, i) => (st.base[i] = b));
      return 0;
    });
  }

  private async getInfo(req: MboxRequest, ns: NetnsRef, out: Outcome): Promise<number> {
    if (req.len !== SIZEOF_IPT_GETINFO)
      checkGetInfo(Buffer.alloc(Math.min(req.len, SIZEOF_IPT_GETINFO + 1)));
    // get_info copies only the name in before looking the table up: an optval readable for
    // the name but not for the whole struct is ENOENT for an unknown table, not EFAULT.
    const asked = Buffer.concat([
      read(req, 0, XT_TABLE_MAXNAMELEN),
      Buffer.alloc(SIZEOF_IPT_GETINFO - XT_TABLE_MAXNAMELEN),
    ]);
    const name = checkGetInfo(asked);
    out.table = name;
    return this.serialize(ns, name, async () => {
      const st = await this.state(ns, name);
      if (!st) throw new XtError(ENOENT, `no table "${name}"`);
      write(req, 0, getinfoOf(st.ref.view.name, st.ref.view.validHooks, await this.laidOut(st)));
      return 0;
    });
  }

  private async getEntries(req: MboxRequest, ns: NetnsRef, out: Outcome): Promise<number> {
    if (req.len < SIZEOF_IPT_GET_ENTRIES) checkGetEntries(Buffer.alloc(req.len));
    // Checked against optlen without a buffer of `size`: a caller's size must not make the
    // helper allocate it.
    const ask = checkGetEntries(read(req, 0, SIZEOF_IPT_GET_ENTRIES), req.len);
    out.table = ask.name;
    return this.serialize(ns, ask.name, async () => {
      const st = await this.state(ns, ask.name);
      const laid = st && (await this.laidOut(st));
      checkGetEntriesAgainst(laid, ask);
      if (!st || !laid) return 0;
      write(req, SIZEOF_IPT_GET_ENTRIES, withCounters(laid, await this.live(ns, st)).entries);
      return 0;
    });
  }

  private async getRevision(req: MboxRequest, kind: 'match' | 'target'): Promise<number> {
    if (req.len !== SIZEOF_XT_GET_REVISION) checkGetRevision(Buffer.alloc(Math.min(req.len, 64)));
    const ask = checkGetRevision(read(req, 0, SIZEOF_XT_GET_REVISION));
    revisionFor(kind, ask.name, ask.revision);
    return 0;
  }
}

/**
 * The fault tests (test/fault/) kill the helper at the end of a SET_REPLACE phase, named here
 * as `phase` or `phase@n` (the n-th SET_REPLACE, 1 without): it logs that it stopped and then
 * never returns. Unset outside those tests.
 */
const [PAUSE_PHASE, PAUSE_NTH = '1'] = (process.env.BPFILTER_TEST_PAUSE ?? '').split('@');
let replaces = 0;

function pauseForTest(phase: string): void {
  process.stderr.write(`${JSON.stringify({ event: 'paused', phase })}\n`);
  // Blocks the whole helper, timers and sockets included, until the test's SIGKILL.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** A stopwatch: each call records the milliseconds since the last one under `name`. */
export function phaseTimer(): ((name: string) => void) & {
  readonly phases: Record<string, number>;
} {
  let last = process.hrtime.bigint();
  const phases: Record<string, number> = {};
  const nth = String(++replaces);
  const mark = (name: string): void => {
    const now = process.hrtime.bigint();
    phases[name] = (phases[name] ?? 0) + Number(now - last) / 1e6;
    last = now;
    if (name === PAUSE_PHASE && nth === PAUSE_NTH) pauseForTest(name);
  };
  return Object.assign(mark, { phases });
}

/** Counters are u64 in the kernel: ADD_COUNTERS wraps them (and a caller may add 2^64 - c). */
const u64 = (n: bigint): bigint => BigInt.asUintN(64, n);

function withCounts(
  base: readonly XtCounters[],
  counted: readonly XtCounters[] | undefined,
): XtCounters[] {
  const out: XtCounters[] = [];
  for (let i = 0; i < base.length; i++) {
    const b = base[i] as XtCounters;
    const c = counted?.[i];
    if (c === undefined || c === ZERO_COUNTERS) out.push(b);
    else if (b === ZERO_COUNTERS) out.push(c);
    else out.push({ pcnt: u64(b.pcnt + c.pcnt), bcnt: u64(b.bcnt + c.bcnt) });
  }
  return out;
}

function errnoOf(e: unknown): number {
  if (e instanceof XtError) return e.errno;
  if (e instanceof SysError) return EFAULT;
  return EINVAL;
}

function read(req: MboxRequest, off: number, len: number): Buffer {
  return processVmRead(req.pid, req.addr + BigInt(off), len);
}

function write(req: MboxRequest, off: number, data: Buffer): void {
  processVmWrite(req.pid, req.addr + BigInt(off), data);
}

/** Reads `len` bytes of optval, never more than the request's optlen. */
function readBounded(req: MboxRequest, len: number): Buffer {
  return read(req, 0, Math.min(len, req.len));
}

/**
 * ipt_replace as do_replace copies it: the header (checked against the real optlen), then `size`
 * bytes of entries — never the whole optlen, which the caller may overstate. checkReplace only
 * asks whether optlen reaches header + size, which a buffer of exactly that length answers alike.
 */
function readReplaceHeader(req: MboxRequest): { buf: Buffer; hdr: ReplaceHeader } {
  // Too short is EINVAL before do_replace copies anything: nothing to read.
  const buf =
    req.len < SIZEOF_IPT_REPLACE ? Buffer.alloc(req.len) : read(req, 0, SIZEOF_IPT_REPLACE);
  const hdr = checkReplaceHeader(buf, req.len);
  // num_counters costs nothing to hold: a wrong one is EAGAIN against the live table, as ever.
  const { size, numEntries } = hdr;
  if (size > LIMITS.tableBytes) {
    throw new XtError(ENOMEM, `table size ${size} is past the helper's ${LIMITS.tableBytes}`);
  }
  if (numEntries > LIMITS.entries) {
    throw new XtError(ENOMEM, `${numEntries} entries are past the helper's ${LIMITS.entries}`);
  }
  return { buf, hdr };
}

async function readReplaceEntries(
  req: MboxRequest,
  head: { buf: Buffer; hdr: ReplaceHeader },
): Promise<Buffer> {
  const size = head.hdr.size;
  const at = req.addr + BigInt(SIZEOF_IPT_REPLACE);
  const entries =
    size >= BIG_READ
      ? await processVmReadAsync(req.pid, at, size)
      : read(req, SIZEOF_IPT_REPLACE, size);
  return Buffer.concat([head.buf, entries]);
}

/**
 * xt_copy_counters reads the header, then exactly num_counters entries — and refuses an optlen
 * other than header + num_counters entries before reading them (EINVAL), a longer one too.
 */
function addCountersLength(req: MboxRequest): number {
  if (req.len < SIZEOF_XT_COUNTERS_INFO) return req.len;
  const num = read(req, 0, SIZEOF_XT_COUNTERS_INFO).readUInt32LE(32);
  const len = SIZEOF_XT_COUNTERS_INFO + SIZEOF_XT_COUNTERS * num;
  if (num !== 0 && len !== req.len)
    throw new XtError(EINVAL, `${num} counters need optlen ${len}, got ${req.len}`);
  if (num > LIMITS.entries) refuseCounters(req, num);
  return len;
}

/**
 * More counters than any table has: the kernel copies them all in (EFAULT where the caller has
 * none), then looks the table up (ENOENT) and compares the count (EINVAL). The helper answers
 * the same, reading them a chunk at a time and holding none.
 */
function refuseCounters(req: MboxRequest, num: number): never {
  const end = SIZEOF_XT_COUNTERS_INFO + SIZEOF_XT_COUNTERS * num;
  for (let off = SIZEOF_XT_COUNTERS_INFO; off < end; off += BIG_READ) {
    read(req, off, Math.min(BIG_READ, end - off));
  }
  const name = read(req, 0, XT_TABLE_MAXNAMELEN).toString('latin1').replace(/\0.*$/s, '');
  if (!isServed(name)) throw new XtError(ENOENT, `no table ${name}`);
  throw new XtError(EINVAL, `${num} counters: no table has more than ${LIMITS.entries} entries`);
}

function encodeCounters(cs: readonly XtCounters[]): Buffer {
  const buf = Buffer.alloc(cs.length * SIZEOF_XT_COUNTERS);
  writeCounterArray(buf, 0, cs);
  return buf;
}
