// Plan + classifier → the bytes of every engine map for one generation (layout.ts): pure, so
// translation is testable without a kernel. A generation lives in one half of each map; every
// index written is absolute, so the program never adds a base.
//
// Rule records are at (half base + blob entry index): the counter of entry i is always the
// counter slot base + i, whatever the trees look like, which is what lets a restarted helper
// read the counters of a generation it did not build.
import type { Classified } from '../../translate/classify/blocks.js';
import { namesInterface, IFACE } from '../codegen/ip.js';
import { Unsupported } from '../codegen/eval.js';
import {
  Act,
  BLOCK,
  CAND,
  GROUPS,
  HEADER,
  Ipf,
  MREF,
  NODE,
  NODE_LEAF,
  NO_BLOCK,
  NO_CAND,
  RULE,
} from '../codegen/layout.js';
import type { Evaluated } from '../../translate/ext/types.js';
import { tablesMap, type TableSlots } from './netns.js';
import type { Action, Plan, PlanEntry } from '../../translate/plan.js';
import {
  IPT_F_FRAG,
  IPT_INV_DSTIP,
  IPT_INV_FRAG,
  IPT_INV_PROTO,
  IPT_INV_SRCIP,
} from '../../translate/abi.js';

/** The extensions a program evaluates, in the order their ids are given. */
export interface Kinds {
  readonly matches: readonly Evaluated[];
  readonly targets: readonly Evaluated[];
}

/** Entries per half of every engine map. */
export interface Capacity {
  readonly rules: number;
  readonly blocks: number;
  readonly nodes: number;
  readonly lists: number;
  readonly mrefs: number;
  /** Per kind name: records. */
  readonly records: ReadonlyMap<string, number>;
  /** Per state map name: slots. */
  readonly slots: ReadonlyMap<string, number>;
}

export interface Image {
  readonly half: number;
  readonly blocks: Buffer;
  readonly nodes: Buffer;
  readonly lists: Buffer;
  readonly rules: Buffer;
  readonly mrefs: Buffer;
  readonly records: ReadonlyMap<string, Buffer>;
  /** Per state map: how many slots this generation uses (from the half's base; to be zeroed). */
  readonly slots: ReadonlyMap<string, number>;
  /** Per hook: [first block, underflow rule], absolute. */
  readonly hooks: ReadonlyMap<number, readonly [number, number]>;
  readonly entries: number;
}

const byName = (a: Evaluated, b: Evaluated): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** A plan entry the engine cannot run, and why. */
export interface Refusal {
  readonly entry: number;
  readonly reason: string;
}

/**
 * Every entry the engine cannot run: extensions without an engine part, QUEUE, and records
 * their extension refuses on this kernel (limit's HZ, --ctexpire without CONFIG_HZ).
 */
export function refusals(c: { readonly plan: Plan }, hz: number | undefined): Refusal[] {
  const out: Refusal[] = [];
  const tryRecord = (e: PlanEntry, k: Evaluated, value: unknown, revision: number): void => {
    try {
      k.engine?.record(value, revision, { hz, stateSlot: () => 0, tableSlot: () => 0 });
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      out.push({ entry: e.index, reason: err.message });
    }
  };
  for (const e of c.plan.entries) {
    for (const m of e.matches) {
      if (!m.extension.engine) {
        out.push({ entry: e.index, reason: `match "${m.extension.name}" is not translated` });
      } else tryRecord(e, m.extension, m.value, m.revision);
    }
    const a = e.action;
    if (a.kind === 'verdict' && a.verdict === 'QUEUE') {
      out.push({ entry: e.index, reason: 'QUEUE has no BPF equivalent' });
    }
    if (a.kind === 'extension') {
      if (!a.target.extension.engine?.verdict) {
        out.push({
          entry: e.index,
          reason: `target "${a.target.extension.name}" is not translated`,
        });
      } else tryRecord(e, a.target.extension, a.target.value, a.target.revision);
    }
  }
  return out;
}

/** The extensions the plan's rules use (refusals() must have found none). */
export function kindsOf(c: { readonly plan: Plan }): Kinds {
  const matches = new Map<string, Evaluated>();
  const targets = new Map<string, Evaluated>();
  for (const e of c.plan.entries) {
    if (e.ip && namesInterface(e.ip)) matches.set(IFACE.name, IFACE);
    for (const m of e.matches) {
      if (m.extension.engine && !m.extension.engine.always)
        matches.set(m.extension.name, m.extension);
    }
    if (e.action.kind === 'extension')
      targets.set(e.action.target.extension.name, e.action.target.extension);
  }
  return {
    matches: [...matches.values()].sort(byName),
    targets: [...targets.values()].sort(byName),
  };
}

/** Whether two kind lists are the same program. */
export function sameKinds(a: Kinds, b: Kinds): boolean {
  const names = (k: readonly Evaluated[]): string => k.map((x) => x.name).join(',');
  return names(a.matches) === names(b.matches) && names(a.targets) === names(b.targets);
}

/** What one generation of the plan needs of each map. */
export function needs(c: Classified, kinds: Kinds): Capacity {
  // Node 0 and list entry 0 of a half are the sentinel leaf and its list; each leaf's list
  // ends with a sentinel.
  let nodes = 1;
  let lists = 1;
  for (const b of c.blocks) {
    for (const t of b.trees) {
      nodes += t.nodes;
      lists += t.list.length;
      for (let j = 0; j < t.nodes; j++) if (t.leaf[j]) lists++;
    }
  }
  return { ...planNeeds(c.plan, kinds), blocks: c.blocks.length, nodes, lists };
}

/** What the plan needs of the maps that do not hold the classifier. */
function planNeeds(plan: Plan, kinds: Kinds): Omit<Capacity, 'blocks' | 'nodes' | 'lists'> {
  const records = new Map<string, number>();
  const slots = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  let mrefs = 0;
  for (const e of plan.entries) {
    if (e.ip && namesInterface(e.ip)) {
      bump(records, IFACE.name);
      mrefs++;
    }
    for (const m of e.matches) {
      const engine = m.extension.engine;
      if (!engine || engine.always) continue;
      bump(records, m.extension.name);
      if (engine.state) bump(slots, engine.state.map);
      mrefs++;
    }
    if (e.action.kind === 'extension') bump(records, e.action.target.extension.name);
  }
  for (const k of [...kinds.matches, ...kinds.targets])
    if (!records.has(k.name)) records.set(k.name, 0);
  return { rules: plan.entries.length, mrefs, records, slots };
}

/**
 * Room for a plan not classified yet, so that its programs can be verified while it is: the
 * plan's own needs as roomFor gives them, and for the classifier what ClassBench's 10k and 100k
 * sets take at most (nodes up to 2.5 and list entries up to 8 per rule) rounded up to a power
 * of two. A table that needs more gets maps of its size after all (and its programs again).
 */
export function likelyRoom(plan: Plan, kinds: Kinds): Capacity {
  const own = roomFor({ ...planNeeds(plan, kinds), blocks: 0, nodes: 0, lists: 0 });
  const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(64, n)));
  const n = plan.entries.length;
  return { ...own, blocks: pow2(n + 1), nodes: pow2(3 * n), lists: pow2(8 * n + 8) };
}

/** Whether `need` fits in `cap` everywhere. */
export function fits(need: Capacity, cap: Capacity): boolean {
  const within = (a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean =>
    [...a].every(([k, n]) => n <= (b.get(k) ?? 0));
  return (
    need.rules <= cap.rules &&
    need.blocks <= cap.blocks &&
    need.nodes <= cap.nodes &&
    need.lists <= cap.lists &&
    need.mrefs <= cap.mrefs &&
    within(need.records, cap.records) &&
    within(need.slots, cap.slots)
  );
}

/** Room to grow: twice what is needed, at least `floor`, so small edits never reload programs. */
export function roomFor(need: Capacity, floor = 64): Capacity {
  const grow = (n: number): number => {
    let c = floor;
    while (c < 2 * n) c *= 2;
    return c;
  };
  const growAll = (m: ReadonlyMap<string, number>): Map<string, number> =>
    new Map([...m].map(([k, n]) => [k, grow(n)]));
  return {
    rules: grow(need.rules),
    blocks: grow(need.blocks),
    nodes: grow(need.nodes),
    lists: grow(need.lists),
    mrefs: grow(need.mrefs),
    records: growAll(need.records),
    slots: growAll(need.slots),
  };
}

/** Record size of each kind, rounded up to the 8 bytes an array map value takes. */
export function recordSize(k: Evaluated): number {
  return Math.max(8, ((k.engine?.recordSize ?? 0) + 7) & ~7);
}

function ruleAction(
  e: PlanEntry,
  c: Classified,
  base: number,
  target: (a: Action & { kind: 'extension' }) => [number, number],
): [number, number, number] {
  const a = e.action;
  const block = (to: number): number => base + (c.blockOf[to] as number);
  switch (a.kind) {
    case 'verdict':
      return [Act.VERDICT, a.verdict === 'ACCEPT' ? 1 : 0, 0];
    case 'return':
      return [Act.RETURN, 0, 0];
    case 'jump':
      if (a.push) return [Act.JUMP, block(a.to), a.to];
      return a.to === e.index + 1 ? [Act.CONTINUE, 0, 0] : [Act.GOTO, block(a.to), a.to];
    case 'extension': {
      const drop = a.target.extension.engine?.verdict?.(a.target.value) === 'drop';
      const [kind, rec] = target(a);
      return [drop ? Act.TARGET_DROP : Act.TARGET_CONTINUE, kind, rec];
    }
    case 'error':
    case 'unreachable':
      return [Act.DROP, 0, 0];
  }
}

function writeIp(b: Buffer, at: number, e: PlanEntry): void {
  const ip = e.ip;
  if (!ip) return;
  let ipf = 0;
  const inv = ip.invflags;
  if (ip.srcMask !== 0 || ip.src !== 0 || (inv & IPT_INV_SRCIP) !== 0) ipf |= Ipf.SRC;
  if (ip.dstMask !== 0 || ip.dst !== 0 || (inv & IPT_INV_DSTIP) !== 0) ipf |= Ipf.DST;
  if (ip.proto !== 0) ipf |= Ipf.PROTO;
  if ((ip.flags & IPT_F_FRAG) !== 0) ipf |= Ipf.FRAG;
  b[at + RULE.IPF] = ipf;
  // Addresses as the packet's bytes: the program compares them as loaded.
  b.writeUInt32BE(ip.src >>> 0, at + RULE.SRC);
  b.writeUInt32BE(ip.srcMask >>> 0, at + RULE.SMSK);
  b.writeUInt32BE(ip.dst >>> 0, at + RULE.DST);
  b.writeUInt32BE(ip.dstMask >>> 0, at + RULE.DMSK);
  b[at + RULE.PROTO] = ip.proto;
  b[at + RULE.FLAGS] = ip.flags;
  b[at + RULE.INV] = inv & (IPT_INV_SRCIP | IPT_INV_DSTIP | IPT_INV_PROTO | IPT_INV_FRAG);
}

/** The image of generation `half` (0 or 1) in maps of capacity `cap`. */
export function buildImage(
  c: Classified,
  kinds: Kinds,
  cap: Capacity,
  half: number,
  hz: number | undefined,
  tables: TableSlots = new Map(),
): Image {
  const plan = c.plan;
  const base = {
    rules: half * cap.rules,
    blocks: half * cap.blocks,
    nodes: half * cap.nodes,
    lists: half * cap.lists,
    mrefs: half * cap.mrefs,
  };
  const need = needs(c, kinds);
  if (!fits(need, cap)) throw new Error('image does not fit the maps it is built for');
  const matchId = new Map(kinds.matches.map((k, i) => [k.name, i]));
  const targetId = new Map(kinds.targets.map((k, i) => [k.name, i]));
  const records = new Map<string, Buffer>();
  const used = new Map<string, number>();
  const recordOf = (k: Evaluated, value: unknown, revision: number): number => {
    const size = recordSize(k);
    const n = used.get(k.name) ?? 0;
    used.set(k.name, n + 1);
    let buf = records.get(k.name);
    if (!buf) {
      buf = Buffer.alloc(size * (need.records.get(k.name) ?? 0));
      records.set(k.name, buf);
    }
    const bytes = (k.engine as NonNullable<Evaluated['engine']>).record(value, revision, {
      hz,
      stateSlot: () => stateSlot(k),
      tableSlot: (name) => {
        const slot = tables.get(tablesMap(k.engine)?.map ?? '')?.get(name);
        if (slot === undefined) throw new Error(`"${k.name}" names table "${name}" not planned`);
        return slot;
      },
    });
    bytes.copy(buf, n * size, 0, Math.min(bytes.length, size));
    return half * (cap.records.get(k.name) ?? 0) + n;
  };
  const slots = new Map<string, number>();
  const stateSlot = (k: Evaluated): number => {
    const map = k.engine?.state?.map;
    if (map === undefined) throw new Error(`"${k.name}" keeps no state`);
    const n = slots.get(map) ?? 0;
    slots.set(map, n + 1);
    return half * (cap.slots.get(map) ?? 0) + n;
  };

  const rules = Buffer.alloc(RULE.SIZE * plan.entries.length);
  const mrefs = Buffer.alloc(MREF.SIZE * need.mrefs);
  let m = 0;
  const mref = (kind: number, index: number): void => {
    mrefs.writeUInt32LE(kind, m * MREF.SIZE + MREF.KIND);
    mrefs.writeUInt32LE(index, m * MREF.SIZE + MREF.INDEX);
    m++;
  };
  plan.entries.forEach((e, i) => {
    const at = i * RULE.SIZE;
    rules.writeUInt32LE(i, at + RULE.ENTRY);
    const first = m;
    if (e.ip && namesInterface(e.ip)) {
      mref(matchId.get(IFACE.name) as number, recordOf(IFACE, e.ip, 0));
    }
    for (const x of e.matches) {
      if (x.extension.engine?.always) continue;
      mref(matchId.get(x.extension.name) as number, recordOf(x.extension, x.value, x.revision));
    }
    rules.writeUInt32LE(base.mrefs + first, at + RULE.MFIRST);
    rules.writeUInt16LE(m - first, at + RULE.MCOUNT);
    const [act, arg0, arg1] = ruleAction(e, c, base.blocks, (a) => [
      targetId.get(a.target.extension.name) as number,
      recordOf(a.target.extension, a.target.value, a.target.revision),
    ]);
    rules[at + RULE.ACTION] = act;
    rules.writeUInt32LE(arg0 >>> 0, at + RULE.ARG0);
    rules.writeUInt32LE(arg1 >>> 0, at + RULE.ARG1);
    writeIp(rules, at, e);
  });

  const blocks = Buffer.alloc(BLOCK.SIZE * c.blocks.length);
  const nodes = Buffer.alloc(NODE.SIZE * need.nodes);
  const lists = Buffer.alloc(CAND.SIZE * need.lists);
  const sentinel = (at: number): void => {
    lists.writeUInt32LE(NO_CAND, at * CAND.SIZE + CAND.POS);
  };
  nodes[NODE.KIND] = NODE_LEAF;
  nodes.writeUInt32LE(base.lists, NODE.START);
  sentinel(0);
  let nodeAt = 1;
  let listAt = 1;
  c.blocks.forEach((b, k) => {
    const at = k * BLOCK.SIZE;
    const next = k + 1 < c.blocks.length ? base.blocks + k + 1 : NO_BLOCK;
    blocks.writeUInt32LE(next >>> 0, at + BLOCK.NEXT);
    blocks.writeUInt32LE(b.first, at + BLOCK.FIRST);
    if (b.trees.length > GROUPS) throw new Error(`block with ${b.trees.length} groups`);
    for (let g = b.trees.length; g < GROUPS; g++)
      blocks.writeUInt32LE(base.nodes, at + BLOCK.ROOT + 4 * g);
    b.trees.forEach((t, g) => {
      const n0 = nodeAt;
      blocks.writeUInt32LE(base.nodes + n0, at + BLOCK.ROOT + 4 * g);
      for (let j = 0; j < t.nodes; j++) {
        const o = (n0 + j) * NODE.SIZE;
        if (t.leaf[j]) {
          nodes[o + NODE.KIND] = NODE_LEAF;
          nodes.writeUInt32LE(base.lists + listAt, o + NODE.START);
          for (let x = t.start[j] as number; x < (t.end[j] as number); x++) {
            const v = t.list[x] as number;
            const entry = b.first + (v >>> 1);
            const lo = listAt * CAND.SIZE;
            lists.writeUInt32LE(base.rules + entry, lo + CAND.RULE);
            lists.writeUInt32LE(((entry << 1) | (v & 1)) >>> 0, lo + CAND.POS);
            listAt++;
          }
          sentinel(listAt++);
        } else {
          nodes[o + NODE.DIM] = t.dim[j] as number;
          nodes.writeUInt32LE(t.thr[j] as number, o + NODE.THR);
          nodes.writeUInt32LE(base.nodes + n0 + (t.left[j] as number), o + NODE.LEFT);
          nodes.writeUInt32LE(base.nodes + n0 + (t.right[j] as number), o + NODE.RIGHT);
        }
      }
      nodeAt += t.nodes;
    });
  });

  const hooks = new Map<number, readonly [number, number]>();
  for (const h of plan.hooks) {
    hooks.set(h.hook, [base.blocks + (c.blockOf[h.entry] as number), base.rules + h.underflow]);
  }
  return {
    half,
    blocks,
    nodes,
    lists,
    rules,
    mrefs,
    records,
    slots,
    hooks,
    entries: plan.entries.length,
  };
}

/** The header value for `hooks` (HEADER layout; the zero word stays zero). */
export function headerWords(
  hooks: ReadonlyMap<number, readonly [number, number]>,
): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const [hook, [block, under]] of hooks) {
    out.set(HEADER.hook(hook), (BigInt(under >>> 0) << 32n) | BigInt(block >>> 0));
  }
  return out;
}
