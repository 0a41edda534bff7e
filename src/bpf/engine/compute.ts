// Where tables are decoded and compiled: everything of a replace that is CPU and no syscall
// (checkReplace, plan, classify, image, the GET_ENTRIES layout). The helper serves every
// namespace from one event loop, and a cold 10,000-rule restore spends over a second in these
// passes; on the event loop that second would stall every other namespace's iptables and the
// kernel module's health checks. So they run on worker threads (compute-worker.ts), and the
// event loop keeps only what talks to the kernel and the callers.
//
// A worker owns the tables it decoded (the IR holds extension objects, which cannot be posted)
// with what makes the next command on the same table cheap: the entry memo (memo.ts), the
// classifier trees (incremental.ts) and the rule records' words (image.ts ruleWords). The main
// thread holds a handle and a TableView (view.ts) per table, and asks for the rest by handle:
// the plan's program shape, the classifier's needs, an image for a half of the maps, the layout.
// Every (netns, table) stays on the worker it first went to, so its commands meet their memo
// there and run in order; different tables may be on different workers and compile at the same
// time.
//
// Compiler is that work, synchronous; LocalCompute runs it on the calling thread (tests, the
// bench, the offline tools) and WorkerCompute on a pool of workers, behind one interface.
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import { Worker, type MessagePort } from 'node:worker_threads';
import { findExtension, TARGETS, MATCHES } from '../../translate/ext/registry.js';
import type { Evaluated } from '../../translate/ext/types.js';
import { ENOENT, XtError } from '../../translate/errno.js';
import type { ExtensionUse, Table } from '../../translate/ir.js';
import { EntryMemo } from '../../translate/memo.js';
import type { HookPlan } from '../../translate/plan.js';
import { encodeTable, initialTable, type LaidOut } from '../../translate/table.js';
import { checkReplace } from '../../translate/validate.js';
import { viewOf, type TableView } from '../../translate/view.js';
import { TreeCache } from '../../translate/classify/incremental.js';
import { IFACE } from '../codegen/ip.js';
import { classified, image, planFor, type Compiled, type Planned } from './compile.js';
import {
  likelyRoom,
  ruleWords,
  type Capacity,
  type Image,
  type Kinds,
  type RuleWords,
} from './image.js';
import { tableUses, type TableSlots } from './tables.js';

/** A table a compute holds, as the main thread knows it. */
export interface TableRef {
  readonly handle: number;
  readonly view: TableView;
}

/** What the programs of a planned table are made from (kinds by name: they are functions). */
export interface PlannedShape {
  readonly kinds: { readonly matches: readonly string[]; readonly targets: readonly string[] };
  readonly poolDepth: number;
  readonly hooks: readonly HookPlan[];
  /** Plan entries (for the refusal message of a load). */
  readonly entries: number;
  /** Room to load programs with before the table is classified (image.ts likelyRoom). */
  readonly likelyRoom: Capacity;
  /** The matches that name namespace tables, in rule order, as payload bytes. */
  readonly tableUses: readonly { name: string; revision: number; data: Uint8Array }[];
}

/** The operations, with the arguments and results a worker posts (structured-clonable). */
export interface ComputeOps {
  /** checkReplace of an ipt_replace blob, with the entry memo of `key` (netns/table). */
  check(key: string, blob: Uint8Array): TableRef;
  /** The table a fresh namespace has (iptable_filter's). */
  fresh(key: string, name: string): TableRef;
  /** A saved blob's view, for `bpfilter status`; nothing is kept. */
  view(blob: Uint8Array): TableView;
  plan(handle: number, hz: number | undefined): PlannedShape;
  classify(handle: number): { need: Capacity };
  /** The image of the classified table for `half` of maps sized `cap`. */
  image(
    handle: number,
    cap: Capacity,
    half: number,
    hz: number | undefined,
    tables: TableSlots,
  ): Image;
  layout(handle: number): LaidOut;
  release(handle: number): void;
  /** Drops what is kept for namespace `netnsId` (its memos and trees). */
  forget(netnsId: string): void;
}

type Async<T> = {
  [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<R> : never;
};

export interface Compute extends Async<ComputeOps> {
  /** The extensions of a plan's kinds (the registry's, or a local plan's own objects). */
  kinds(handle: number, shape: PlannedShape): Kinds;
  close(): Promise<void>;
}

interface Held {
  readonly key: string;
  readonly table: Table;
  planned?: Planned;
  compiled?: Compiled;
}

/**
 * Test-only (BPFILTER_TEST_COMPUTE_DELAY_MS): classify holds its thread this much longer, as a
 * big table's classification does, so a test can watch other namespaces answer meanwhile.
 */
const DELAY_MS = Number(process.env.BPFILTER_TEST_COMPUTE_DELAY_MS ?? 0);

/**
 * A worker's young generation. V8 grows it with the allocation rate up to 48 MB and never gives
 * it back: after the warm-up alone it held 34 MB, most of an idle helper's 125 MB. At 16 the
 * same helper is idle at 109 MB, and a cold fw1 10k or acl1 100k apply takes as long (an 8 MB
 * one checked fw1 in 74 ms instead of 55: objects that die young get promoted).
 */
const YOUNG_MB = 16;

/**
 * V8 sets the next full collection at the live old generation times a factor it derives from
 * the allocation rate since the last one: 4 while commands come back to back, 1.1 (plus 8 MB
 * and the young generation) once they come seconds apart, as a person's or fail2ban's do. At 1.1
 * a worker holding fw1 10k (29.5 MB live, next at 45.7) ran an incremental mark-compact inside
 * every -A. A fixed factor of 3 keeps it for every few commands: the daemon's SET_REPLACE of an
 * -A every 4 s, median of 8, went from 72-84 ms to 53-57 side by side. The flag is the process's
 * (V8 has no per-isolate one), read at every collection; the main thread's heap is small, and
 * what a worker holds past its table is given back by its idle collection (compute-worker.ts):
 * RSS holding acl1 100k was 466 MB either way.
 */
const HEAP_GROWING_PERCENT = 200;

/** The work itself. Handles are `first`, `first + step`, ... so that a pool's never collide. */
export class Compiler implements ComputeOps {
  private readonly held = new Map<number, Held>();
  private readonly memos = new Map<string, EntryMemo>();
  private readonly trees = new Map<string, TreeCache>();
  private readonly words = new Map<string, RuleWords>();
  private next: number;

  constructor(
    first = 1,
    private readonly step = 1,
  ) {
    this.next = first;
  }

  check(key: string, blob: Uint8Array): TableRef {
    let memo = this.memos.get(key);
    if (memo === undefined) {
      memo = new EntryMemo();
      this.memos.set(key, memo);
    }
    return this.keep(key, checkReplace(asBuffer(blob), memo));
  }

  fresh(key: string, name: string): TableRef {
    if (name !== 'filter') throw new XtError(ENOENT, `no table "${name}"`);
    return this.keep(key, initialTable(name));
  }

  view(blob: Uint8Array): TableView {
    return viewOf(checkReplace(asBuffer(blob)));
  }

  plan(handle: number, hz: number | undefined): PlannedShape {
    const h = this.get(handle);
    const p = this.planned(h.table, hz);
    h.planned = p;
    return {
      kinds: { matches: p.kinds.matches.map(nameOf), targets: p.kinds.targets.map(nameOf) },
      poolDepth: p.poolDepth,
      hooks: p.plan.hooks,
      entries: p.plan.entries.length,
      likelyRoom: likelyRoom(p.plan, p.kinds, p.own),
      tableUses: tableUses(p.plan.entries).map((u) => ({
        name: u.extension.name,
        revision: u.revision,
        data: u.extension.encode(u.value, u.revision),
      })),
    };
  }

  /** The plan of `table`: what the test daemon that breaks rules on purpose changes. */
  protected planned(table: Table, hz: number | undefined): Planned {
    return planFor(table, hz);
  }

  classify(handle: number): { need: Capacity } {
    const h = this.get(handle);
    if (h.planned === undefined) throw new Error(`table ${handle} is not planned`);
    let trees = this.trees.get(h.key);
    if (trees === undefined) {
      trees = new TreeCache();
      this.trees.set(h.key, trees);
    }
    h.compiled = classified(h.planned, trees);
    if (DELAY_MS > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, DELAY_MS);
    return { need: h.compiled.need };
  }

  image(
    handle: number,
    cap: Capacity,
    half: number,
    hz: number | undefined,
    tables: TableSlots,
  ): Image {
    const h = this.get(handle);
    if (h.compiled === undefined) throw new Error(`table ${handle} is not classified`);
    const words = ruleWords(h.compiled.plan.entries, this.words.get(h.key));
    this.words.set(h.key, words);
    const img = image(h.compiled, cap, half, hz, tables, words);
    // An apply builds one image; the plan and classifier are not needed past it.
    h.planned = undefined;
    h.compiled = undefined;
    return img;
  }

  /** Not kept here: the main thread keeps it, and the copy would double a big table's. */
  layout(handle: number): LaidOut {
    return encodeTable(this.get(handle).table);
  }

  release(handle: number): void {
    this.held.delete(handle);
  }

  forget(netnsId: string): void {
    const dead = (key: string): boolean => key.startsWith(`${netnsId}/`);
    for (const map of [this.memos, this.trees, this.words]) {
      for (const key of [...map.keys()]) if (dead(key)) map.delete(key);
    }
    for (const [handle, h] of this.held) if (dead(h.key)) this.held.delete(handle);
  }

  /** How many tables, entry memos and tree caches it keeps (what forget and release drop). */
  kept(): { tables: number; memos: number; trees: number } {
    return { tables: this.held.size, memos: this.memos.size, trees: this.trees.size };
  }

  /** Holds a table built in memory (tests), as if checked. */
  adopt(key: string, table: Table): TableRef {
    return this.keep(key, table);
  }

  /** The kinds of the table's plan, as planned (before its image is built). */
  plannedKinds(handle: number): Kinds | undefined {
    return this.held.get(handle)?.planned?.kinds;
  }

  private keep(key: string, table: Table): TableRef {
    const handle = this.next;
    this.next += this.step;
    this.held.set(handle, { key, table });
    return { handle, view: viewOf(table) };
  }

  private get(handle: number): Held {
    const h = this.held.get(handle);
    if (h === undefined) throw new Error(`no table ${handle} in this compute`);
    return h;
  }
}

const nameOf = (k: Evaluated): string => k.name;

/** Bytes that crossed a thread arrive as a Uint8Array: a Buffer over the same memory. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The kinds of a planned shape, as the extensions themselves (one object per name). */
export function kindsOf(shape: PlannedShape): Kinds {
  const match = (name: string): Evaluated =>
    name === IFACE.name ? IFACE : byName(MATCHES, name, 'match');
  return {
    matches: shape.kinds.matches.map(match),
    targets: shape.kinds.targets.map((n) => byName(TARGETS, n, 'target')),
  };
}

function byName(list: readonly Evaluated[], name: string, kind: string): Evaluated {
  const found = list.find((e) => e.name === name);
  if (found === undefined) throw new Error(`no ${kind} "${name}"`);
  return found;
}

/** The table-naming matches of a planned shape, decoded again from their payloads. */
export function tableUsesOf(shape: PlannedShape): ExtensionUse[] {
  return shape.tableUses.map((u) => {
    const extension = findExtension('match', u.name, u.revision);
    return {
      extension,
      revision: u.revision,
      value: extension.decode(asBuffer(u.data), u.revision),
    };
  });
}

/** An image as posted (its buffers arrive as Uint8Arrays). */
export function imageOf(img: Image): Image {
  return {
    ...img,
    blocks: asBuffer(img.blocks),
    nodes: asBuffer(img.nodes),
    lists: asBuffer(img.lists),
    rules: asBuffer(img.rules),
    mrefs: asBuffer(img.mrefs),
    records: new Map([...img.records].map(([k, b]) => [k, asBuffer(b)])),
  };
}

/** A layout as posted. */
export function layoutOf(l: LaidOut): LaidOut {
  return { ...l, entries: asBuffer(l.entries) };
}

/** The compiler on the calling thread. */
export class LocalCompute implements Compute {
  constructor(readonly compiler: Compiler = new Compiler()) {}

  /** A table built in memory (tests), held as if checked. */
  adopt(key: string, table: Table): TableRef {
    return this.compiler.adopt(key, table);
  }

  /** The plan's own extension objects: a test's table may carry ones the registry has not. */
  kinds(handle: number, shape: PlannedShape): Kinds {
    return this.compiler.plannedKinds(handle) ?? kindsOf(shape);
  }

  check = async (key: string, blob: Uint8Array): Promise<TableRef> =>
    this.compiler.check(key, blob);
  fresh = async (key: string, name: string): Promise<TableRef> => this.compiler.fresh(key, name);
  view = async (blob: Uint8Array): Promise<TableView> => this.compiler.view(blob);
  plan = async (handle: number, hz: number | undefined): Promise<PlannedShape> =>
    this.compiler.plan(handle, hz);
  classify = async (handle: number): Promise<{ need: Capacity }> => this.compiler.classify(handle);
  image = async (
    handle: number,
    cap: Capacity,
    half: number,
    hz: number | undefined,
    tables: TableSlots,
  ): Promise<Image> => this.compiler.image(handle, cap, half, hz, tables);
  layout = async (handle: number): Promise<LaidOut> => this.compiler.layout(handle);
  release = async (handle: number): Promise<void> => this.compiler.release(handle);
  forget = async (netnsId: string): Promise<void> => this.compiler.forget(netnsId);
  close = async (): Promise<void> => undefined;
}

/** A request to a worker and its answer. */
export interface ComputeRequest {
  readonly id: number;
  readonly op: keyof ComputeOps;
  readonly args: readonly unknown[];
}

export type ComputeAnswer =
  | { readonly id: number; readonly value: unknown }
  | { readonly id: number; readonly error: { message: string; errno?: number } };

/** A worker's warm-up (warmup.ts) ended: whole (`ran`) or cut short by the first request. */
export interface WarmReport {
  readonly ran: boolean;
  readonly ms: number;
  readonly error?: string;
}

type WorkerMessage = ComputeAnswer | { readonly warm: WarmReport };

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/**
 * Workers running compute-worker.js (or `entry`, a test's own). A worker that dies takes the
 * tables it held with it, which nothing can rebuild in this process: `onFatal` is told, and
 * the helper exits so that a restarted one resumes from its saved state and pins.
 */
export class WorkerCompute implements Compute {
  /**
   * The first started with the helper (its start is a quarter second of imports the first
   * command would wait for), the others on first use: a helper serving one namespace runs one.
   */
  private readonly workers: (Worker | undefined)[] = [];
  private readonly pending = new Map<number, Pending>();
  /** netns/table → the worker serving it. */
  private readonly byKey = new Map<string, number>();
  private readonly load: number[] = [];
  private nextId = 1;
  private next = 0;
  private closing = false;
  private readonly entry: URL;
  private readonly onFatal: (e: Error) => void;
  private readonly onWarm: (worker: number, r: WarmReport) => void;

  constructor(opts: {
    readonly size?: number;
    readonly entry?: URL;
    readonly onFatal: (e: Error) => void;
    readonly onWarm?: (worker: number, r: WarmReport) => void;
  }) {
    const size = Math.max(1, opts.size ?? Math.min(2, availableParallelism()));
    this.entry = opts.entry ?? new URL('./compute-worker.js', import.meta.url);
    this.onFatal = opts.onFatal;
    this.onWarm = opts.onWarm ?? (() => undefined);
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    for (let w = 0; w < size; w++) {
      this.workers.push(undefined);
      this.load.push(0);
    }
    this.worker(0);
  }

  private worker(w: number): Worker {
    const have = this.workers[w];
    if (have !== undefined) return have;
    const size = this.workers.length;
    const worker = new Worker(this.entry, {
      workerData: { first: w + 1, step: size },
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB },
    });
    worker.on('message', (m: WorkerMessage) => {
      if ('warm' in m) this.onWarm(w, m.warm);
      else this.answer(m);
    });
    const fatal = (e: Error): void => {
      if (this.closing) return;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.onFatal(e);
    };
    worker.on('error', fatal);
    worker.on('exit', (code) => fatal(new Error(`compute worker ${w} exited (${code})`)));
    // Held only while a request is out (call), so that it never keeps the helper alive.
    worker.unref();
    this.workers[w] = worker;
    return worker;
  }

  check = (key: string, blob: Uint8Array): Promise<TableRef> =>
    this.call(this.forKey(key), 'check', [key, blob]);
  fresh = (key: string, name: string): Promise<TableRef> =>
    this.call(this.forKey(key), 'fresh', [key, name]);
  /** On a worker that runs already: a status must not start one. */
  view = (blob: Uint8Array): Promise<TableView> => {
    const running = this.workers.flatMap((x, w) => (x ? [w] : []));
    return this.call(running[this.next++ % running.length] ?? 0, 'view', [blob]);
  };
  plan = (handle: number, hz: number | undefined): Promise<PlannedShape> =>
    this.call(this.forHandle(handle), 'plan', [handle, hz]);
  classify = (handle: number): Promise<{ need: Capacity }> =>
    this.call(this.forHandle(handle), 'classify', [handle]);
  image = async (
    handle: number,
    cap: Capacity,
    half: number,
    hz: number | undefined,
    tables: TableSlots,
  ): Promise<Image> =>
    imageOf(await this.call(this.forHandle(handle), 'image', [handle, cap, half, hz, tables]));
  layout = async (handle: number): Promise<LaidOut> =>
    layoutOf(await this.call(this.forHandle(handle), 'layout', [handle]));
  release = (handle: number): Promise<void> =>
    this.call(this.forHandle(handle), 'release', [handle]);
  kinds(_handle: number, shape: PlannedShape): Kinds {
    return kindsOf(shape);
  }
  forget = async (netnsId: string): Promise<void> => {
    for (const [key, w] of [...this.byKey]) {
      if (!key.startsWith(`${netnsId}/`)) continue;
      this.byKey.delete(key);
      this.load[w] = (this.load[w] ?? 1) - 1;
    }
    await Promise.all(
      this.workers.flatMap((x, w) => (x ? [this.call(w, 'forget', [netnsId])] : [])),
    );
  };

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w?.terminate()));
  }

  /** The worker of `key`: the one it went to first, else the one serving fewest tables. */
  private forKey(key: string): number {
    let w = this.byKey.get(key);
    if (w === undefined) {
      w = this.load.indexOf(Math.min(...this.load));
      this.byKey.set(key, w);
      this.load[w] = (this.load[w] ?? 0) + 1;
    }
    return w;
  }

  private forHandle(handle: number): number {
    return (handle - 1) % this.workers.length;
  }

  private call<T>(w: number, op: keyof ComputeOps, args: readonly unknown[]): Promise<T> {
    if (w >= this.workers.length) return Promise.reject(new Error(`no compute worker ${w}`));
    const worker = this.worker(w);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.ref();
      worker.postMessage({ id, op, args } satisfies ComputeRequest);
    }).finally(() => {
      if (this.pending.size === 0) for (const x of this.workers) x?.unref();
    });
  }

  private answer(a: ComputeAnswer): void {
    const p = this.pending.get(a.id);
    if (p === undefined) return;
    this.pending.delete(a.id);
    if ('error' in a) {
      const { message, errno } = a.error;
      const e = errno === undefined ? new Error() : new XtError(errno, '');
      e.message = message;
      p.reject(e);
    } else p.resolve(a.value);
  }
}

/** A worker's side: answers each request with what `ops` returns or throws. */
export function serveCompute(port: MessagePort, ops: ComputeOps): void {
  port.on('message', (r: ComputeRequest) => {
    let answer: ComputeAnswer;
    let transfer: ArrayBuffer[] = [];
    try {
      const fn = ops[r.op] as (...a: unknown[]) => unknown;
      const value = fn.apply(ops, [...r.args]);
      if (r.op === 'image') transfer = ownBuffers(imageBuffers(value as Image));
      if (r.op === 'layout') {
        const l = value as LaidOut;
        transfer = ownBuffers([l.entries, l.offsets]);
      }
      answer = { id: r.id, value };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      answer = {
        id: r.id,
        error: { message: err.message, ...(e instanceof XtError ? { errno: e.errno } : {}) },
      };
    }
    port.postMessage(answer, transfer);
  });
}

const imageBuffers = (img: Image): Uint8Array[] => [
  img.blocks,
  img.nodes,
  img.lists,
  img.rules,
  img.mrefs,
  ...img.records.values(),
];

/**
 * The buffers that own their memory whole, to be moved to the main thread rather than copied
 * (the results are made for the answer: nothing here uses them again).
 */
function ownBuffers(bufs: readonly ArrayBufferView[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const b of bufs) {
    const ab = b.buffer;
    if (
      ab instanceof ArrayBuffer &&
      b.byteOffset === 0 &&
      b.byteLength === ab.byteLength &&
      ab.byteLength > 0
    )
      out.add(ab);
  }
  return [...out];
}
