// Plan + classifier → the bytes of every engine map for one generation (layout.ts): pure, so
// translation is testable without a kernel. A generation lives in one half of each map; every
// index written is absolute, so the program never adds a base.
//
// Rule records are at (half base + blob entry index): the counter of entry i is always the
// counter slot base + i, whatever the trees look like, which is what lets a restarted helper
// read the counters of a generation it did not build.
import type { Classified } from '../../translate/classify/blocks.js';
import { HI, isExact, KEY_WORDS, LO, type Region } from '../../translate/classify/key.js';
import { entryRegion } from '../../translate/classify/region.js';
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
import type { Evaluated, RecordContext } from '../../translate/ext/types.js';
import { tablesMap, type TableSlots } from './tables.js';
import type { Action, Plan, PlanEntry } from '../../translate/plan.js';
import type { RuleIp } from '../../translate/ir.js';
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

// `iptables -A` on a 10,000-rule table sends 10,000 rules the last replace had; the memo
// (translate/memo.ts) hands back the very same decoded values for them, so their records can be
// remembered by value identity instead of encoded again for every image. Only records that are
// functions of (value, revision, HZ) alone are kept: one that asked for a state or table slot
// depends on the ruleset around it, and an extension says `freshRecord` when its record is new
// for every ruleset for another reason.
interface KnownRecord {
  readonly kind: Evaluated;
  readonly revision: number;
  readonly hz: number | undefined;
  readonly bytes: Buffer;
}
const known = new WeakMap<object, KnownRecord>();

/**
 * The record `known` holds for k's `value`: what every rule an -A kept finds, asked before a
 * context for madeRecord is made (a closure per match of 10,000 rules).
 */
function knownRecord(
  k: Evaluated,
  value: unknown,
  revision: number,
  hz: number | undefined,
): Buffer | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const hit = known.get(value);
  return hit && hit.kind === k && hit.revision === revision && hit.hz === hz
    ? hit.bytes
    : undefined;
}

/** k's record of `value`, kept in `known` when it is a function of what it was made from. */
function madeRecord(
  k: Evaluated,
  value: unknown,
  revision: number,
  hz: number | undefined,
  ctx: RecordContext,
): Buffer {
  const engine = k.engine as NonNullable<Evaluated['engine']>;
  const key =
    typeof value === 'object' && value !== null && !engine.freshRecord ? value : undefined;
  let pure = true;
  const impure =
    <A extends unknown[]>(f: (...a: A) => number) =>
    (...a: A): number => {
      pure = false;
      return f(...a);
    };
  const { tableSlot } = ctx;
  const bytes = engine.record(value, revision, {
    hz,
    stateSlot: impure(() => ctx.stateSlot()),
    ...(tableSlot && { tableSlot: impure((name: string) => tableSlot.call(ctx, name)) }),
  });
  if (key && pure) known.set(key, { kind: k, revision, hz, bytes });
  return bytes;
}

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
    if (knownRecord(k, value, revision, hz) !== undefined) return;
    try {
      madeRecord(k, value, revision, hz, { hz, stateSlot: () => 0, tableSlot: () => 0 });
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

/** What one generation of the plan needs of each map (`own`: planNeeds, when known). */
export function needs(c: Classified, kinds: Kinds, own = planNeeds(c.plan, kinds)): Capacity {
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
  return { ...own, blocks: c.blocks.length, nodes, lists };
}

/** What a plan needs of the maps that do not hold the classifier. */
export type PlanNeeds = Omit<Capacity, 'blocks' | 'nodes' | 'lists'>;

/** A plan's needs outside the classifier: one walk of the entries, kept with the plan. */
export function planNeeds(plan: Plan, kinds: Kinds): PlanNeeds {
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
 * sets take at most (nodes up to 4.8 and list entries up to 9.3 per rule, fw1's) rounded up to
 * a power of two. A table that needs more gets maps of its size after all (and its programs again).
 */
export function likelyRoom(plan: Plan, kinds: Kinds, needs = planNeeds(plan, kinds)): Capacity {
  const own = roomFor({ ...needs, blocks: 0, nodes: 0, lists: 0 });
  const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(64, n)));
  const n = plan.entries.length;
  return { ...own, blocks: pow2(n + 1), nodes: pow2(6 * n), lists: pow2(12 * n + 8) };
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

/** A zeroed map image and its host-order 32-bit words (every engine record is 4-aligned). */
function zeroed(size: number): { readonly bytes: Buffer; readonly words: Uint32Array } {
  const words = new Uint32Array(Math.ceil(size / 4));
  return { bytes: Buffer.from(words.buffer, 0, size), words };
}

/** A u32 in network byte order, as a host-order word holding those bytes. */
function wire(v: number): number {
  return (
    (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0
  );
}

function writeIp(b: Buffer, w: Uint32Array, at: number, e: PlanEntry): void {
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
  w[(at + RULE.SRC) >> 2] = wire(ip.src);
  w[(at + RULE.SMSK) >> 2] = wire(ip.srcMask);
  w[(at + RULE.DST) >> 2] = wire(ip.dst);
  w[(at + RULE.DMSK) >> 2] = wire(ip.dstMask);
  b[at + RULE.PROTO] = ip.proto;
  b[at + RULE.FLAGS] = ip.flags;
  b[at + RULE.INV] = inv & (IPT_INV_SRCIP | IPT_INV_DSTIP | IPT_INV_PROTO | IPT_INV_FRAG);
}

/**
 * The rule's HULL and EXACT boxes (layout.ts RULE) from its region, written in place. A region
 * that is nowhere keeps both zeroed: such a rule is never a candidate.
 */
function writeBoxes(b: Buffer, w: Uint32Array, at: number, r: Region): void {
  const first = r[0];
  if (first === undefined) return;
  const hull = (at + RULE.HULL) >> 2;
  if (r.length === 1) {
    // A box's words are the record's lo then hi words: HULL (and EXACT) take them as they are.
    for (let x = 0; x < 2 * KEY_WORDS; x++) w[hull + x] = first[LO + x] as number;
  } else {
    for (let d = 0; d < KEY_WORDS; d++) {
      let lo = first[LO + d] as number;
      let hi = first[HI + d] as number;
      for (let k = 1; k < r.length; k++) {
        const x = r[k] as Region[number];
        lo = Math.min(lo, x[LO + d] as number);
        hi = Math.max(hi, x[HI + d] as number);
      }
      w[hull + d] = lo;
      w[hull + KEY_WORDS + d] = hi;
    }
  }
  for (const x of r) {
    if (!isExact(x)) continue;
    const exact = (at + RULE.EXACT) >> 2;
    for (let y = 0; y < 2 * KEY_WORDS; y++) w[exact + y] = x[LO + y] as number;
    b[at + RULE.IPF] = (b[at + RULE.IPF] as number) | Ipf.EXACT;
    return;
  }
}

/**
 * The words of each entry's rule record that are a function of its ipt_ip part and matches
 * alone: IPF, the addresses, protocol, flags and inversions, HULL and EXACT. The other words
 * (the entry, match refs, action) name positions in the half being written.
 */
export interface RuleWords {
  /** Each entry's ipt_ip part and matches, by identity (not the entries: the plan may go). */
  readonly ips: readonly (RuleIp | undefined)[];
  readonly matches: readonly (readonly unknown[])[];
  /** RULE.SIZE bytes per entry, the positional words zero. */
  readonly words: Uint32Array;
}

const RULE_WORDS = RULE.SIZE >> 2;

/**
 * The RuleWords of `entries`, copied from `prior`'s for the entries that have the same ipt_ip
 * and matches objects. The entry memo (translate/memo.ts) hands an -A the very objects the last
 * table had for all but the new rule; computing a region and writing its boxes for 10,000 rules
 * again was a third of that -A's image. Old entries are found from a cursor, as the memo finds
 * them: the one under it or one of the next few, so an insert or a deleted run costs no search.
 */
export function ruleWords(entries: readonly PlanEntry[], prior?: RuleWords): RuleWords {
  const n = entries.length;
  const words = new Uint32Array(RULE_WORDS * n);
  const bytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  const ips = new Array<RuleIp | undefined>(n);
  const matches = new Array<readonly unknown[]>(n);
  const oldIps = prior?.ips ?? [];
  const oldMatches = prior?.matches ?? [];
  const ow = prior?.words;
  let cursor = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i] as PlanEntry;
    ips[i] = e.ip;
    matches[i] = e.matches;
    let k = -1;
    if (e.ip !== undefined || e.matches.length > 0) {
      const end = Math.min(oldMatches.length, cursor + PRIOR_LOOKAHEAD + 1);
      for (let j = cursor; j < end; j++) {
        if (oldMatches[j] === e.matches && oldIps[j] === e.ip) {
          k = j;
          break;
        }
      }
    }
    const at = i * RULE_WORDS;
    if (ow !== undefined && k >= 0) {
      for (let x = 0, from = k * RULE_WORDS; x < RULE_WORDS; x++)
        words[at + x] = ow[from + x] as number;
      cursor = k + 1;
    } else {
      writeIp(bytes, words, at << 2, e);
      writeBoxes(bytes, words, at << 2, entryRegion(e));
    }
  }
  return { ips, matches, words };
}

/** Old entries past the cursor tried for a new one: a deleted run up to this long. */
const PRIOR_LOOKAHEAD = 8;

/** The image of generation `half` (0 or 1) in maps of capacity `cap`. */
export function buildImage(
  c: Classified,
  kinds: Kinds,
  cap: Capacity,
  half: number,
  hz: number | undefined,
  tables: TableSlots = new Map(),
  need: Capacity = needs(c, kinds),
  words: RuleWords = ruleWords(c.plan.entries),
): Image {
  const plan = c.plan;
  const base = {
    rules: half * cap.rules,
    blocks: half * cap.blocks,
    nodes: half * cap.nodes,
    lists: half * cap.lists,
    mrefs: half * cap.mrefs,
  };
  if (!fits(need, cap)) throw new Error('image does not fit the maps it is built for');
  if (words.ips.length !== plan.entries.length) throw new Error('rule words of another plan');
  const matchId = new Map(kinds.matches.map((k, i) => [k.name, i]));
  const targetId = new Map(kinds.targets.map((k, i) => [k.name, i]));
  const records = new Map<string, Buffer>();
  /** Per kind: its records' buffer, size, count so far and first index in this half. */
  const written = new Map<Evaluated, { buf: Buffer; size: number; n: number; first: number }>();
  const recordOf = (k: Evaluated, value: unknown, revision: number): number => {
    let w = written.get(k);
    if (w === undefined) {
      const size = recordSize(k);
      const buf = Buffer.alloc(size * (need.records.get(k.name) ?? 0));
      records.set(k.name, buf);
      w = { buf, size, n: 0, first: half * (cap.records.get(k.name) ?? 0) };
      written.set(k, w);
    }
    const bytes =
      knownRecord(k, value, revision, hz) ??
      madeRecord(k, value, revision, hz, {
        hz,
        stateSlot: () => stateSlot(k),
        tableSlot: (name) => {
          const slot = tables.get(tablesMap(k.engine)?.map ?? '')?.get(name);
          if (slot === undefined) throw new Error(`"${k.name}" names table "${name}" not planned`);
          return slot;
        },
      });
    const n = w.n++;
    w.buf.set(bytes.length > w.size ? bytes.subarray(0, w.size) : bytes, n * w.size);
    return w.first + n;
  };
  const slots = new Map<string, number>();
  const stateSlot = (k: Evaluated): number => {
    const map = k.engine?.state?.map;
    if (map === undefined) throw new Error(`"${k.name}" keeps no state`);
    const n = slots.get(map) ?? 0;
    slots.set(map, n + 1);
    return half * (cap.slots.get(map) ?? 0) + n;
  };

  const { bytes: rules, words: rw } = zeroed(RULE.SIZE * plan.entries.length);
  rw.set(words.words);
  const { bytes: mrefs, words: mw } = zeroed(MREF.SIZE * need.mrefs);
  let m = 0;
  const mref = (kind: number, index: number): void => {
    mw[(m * MREF.SIZE + MREF.KIND) >> 2] = kind;
    mw[(m * MREF.SIZE + MREF.INDEX) >> 2] = index;
    m++;
  };
  const iface = matchId.get(IFACE.name) ?? -1;
  plan.entries.forEach((e, i) => {
    const at = i * RULE.SIZE;
    rw[(at + RULE.ENTRY) >> 2] = i;
    const first = m;
    if (e.ip && namesInterface(e.ip)) mref(iface, recordOf(IFACE, e.ip, 0));
    for (const x of e.matches) {
      if (x.extension.engine?.always) continue;
      mref(matchId.get(x.extension.name) as number, recordOf(x.extension, x.value, x.revision));
    }
    rw[(at + RULE.MFIRST) >> 2] = base.mrefs + first;
    rules.writeUInt16LE(m - first, at + RULE.MCOUNT);
    const [act, arg0, arg1] = ruleAction(e, c, base.blocks, (a) => [
      targetId.get(a.target.extension.name) as number,
      recordOf(a.target.extension, a.target.value, a.target.revision),
    ]);
    rules[at + RULE.ACTION] = act;
    rw[(at + RULE.ARG0) >> 2] = arg0 >>> 0;
    rw[(at + RULE.ARG1) >> 2] = arg1 >>> 0;
  });

  const { bytes: blocks, words: bw } = zeroed(BLOCK.SIZE * c.blocks.length);
  const { bytes: nodes, words: nw } = zeroed(NODE.SIZE * need.nodes);
  const { words: lw, bytes: lists } = zeroed(CAND.SIZE * need.lists);
  const N = NODE.SIZE >> 2;
  const C = CAND.SIZE >> 2;
  const sentinel = (at: number): void => {
    lw[at * C + (CAND.POS >> 2)] = NO_CAND;
  };
  const leaf = (o: number, list: number): void => {
    nodes[o * 4 + NODE.KIND] = NODE_LEAF;
    nw[o + (NODE.START >> 2)] = list;
  };
  leaf(0, base.lists);
  sentinel(0);
  let nodeAt = 1;
  let listAt = 1;
  c.blocks.forEach((b, k) => {
    const at = (k * BLOCK.SIZE) >> 2;
    const next = k + 1 < c.blocks.length ? base.blocks + k + 1 : NO_BLOCK;
    bw[at + (BLOCK.NEXT >> 2)] = next >>> 0;
    bw[at + (BLOCK.FIRST >> 2)] = b.first;
    if (b.trees.length > GROUPS) throw new Error(`block with ${b.trees.length} groups`);
    for (let g = b.trees.length; g < GROUPS; g++) bw[at + (BLOCK.ROOT >> 2) + g] = base.nodes;
    b.trees.forEach((t, g) => {
      const n0 = nodeAt;
      bw[at + (BLOCK.ROOT >> 2) + g] = base.nodes + n0;
      for (let j = 0; j < t.nodes; j++) {
        const o = (n0 + j) * N;
        if (t.leaf[j]) {
          leaf(o, base.lists + listAt);
          const end = t.end[j] as number;
          for (let x = t.start[j] as number; x < end; x++) {
            const v = t.list[x] as number;
            const entry = b.first + (v >>> 1);
            const lo = listAt * C;
            lw[lo + (CAND.RULE >> 2)] = base.rules + entry;
            lw[lo + (CAND.POS >> 2)] = ((entry << 1) | (v & 1)) >>> 0;
            listAt++;
          }
          sentinel(listAt++);
        } else {
          nodes[o * 4 + NODE.DIM] = t.dim[j] as number;
          nw[o + (NODE.THR >> 2)] = t.thr[j] as number;
          nw[o + (NODE.LEFT >> 2)] = base.nodes + n0 + (t.left[j] as number);
          nw[o + (NODE.RIGHT >> 2)] = base.nodes + n0 + (t.right[j] as number);
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
