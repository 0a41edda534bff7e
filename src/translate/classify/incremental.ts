// Classifier trees carried from one table to the next.
//
// iptables replaces the whole table for every command, but `-A`, `-I`, `-D` and `-R` change one
// rule of it. Building a 10,000-rule block's trees takes ~150 ms; the kernel's whole command
// takes ~30 ms. So each (netns, table) keeps the trees of its last table's blocks, and a new
// block is matched against them:
//
// - Same rules (same regions, same terminal flags, same order): the trees are reused as they
//   are; they hold block-local positions, so rules moving elsewhere in the table do not matter.
// - A few rules inserted or deleted between a common prefix and suffix: the old trees are edited.
//   Positions are renumbered. A deleted rule leaves every leaf list it was in; where it was the
//   covering terminal rule that cut the list short (hypersplit.ts "reachable"), the rules it hid
//   must come back, so that leaf's list is recomputed from the tree's members. An inserted rule
//   goes to the tree of its class and descends like an item of the build: into every leaf its
//   boxes meet, unless an earlier covering terminal rule there hides it; where it covers the
//   leaf and is terminal, it hides what follows. A leaf that grew past twice BINTH is split by
//   building a subtree over its rules within its box, so leaves stay short however many edits
//   accumulate. Each leaf then holds what a fresh build's leaf of the same box would hold.
// - Otherwise (a restore, a new chain, many changes): a fresh build.
//
// Edited trees drift from the partition and cuts a fresh build would choose, which costs walk
// steps, not correctness; after edits amounting to a quarter of the block, it is rebuilt.
import {
  BINTH,
  MAX_DEPTH,
  buildTree,
  classOf,
  partition,
  rootPlace,
  type ClassifierRule,
  type Tree,
} from './hypersplit.js';
import { HI, isExact, KEY_WORDS, LO, type Region } from './key.js';

/** What is kept of a block's classification. */
interface Kept {
  /** Per position: region id * 2 + terminal. */
  readonly ids: Int32Array;
  readonly rules: readonly ClassifierRule[];
  readonly trees: readonly Tree[];
  /** Per tree, its rule positions (ascending). */
  readonly members: readonly Int32Array[];
  /** Per class (hypersplit.ts classOf), the tree its inserted rules go to. */
  readonly groupOf: readonly number[];
  /** Rules inserted or deleted since the trees were last built from scratch. */
  readonly edits: number;
}

export interface TreeStats {
  reused: number;
  edited: number;
  built: number;
}

/** Most edits (inserts + deletes) one block change may have to be applied incrementally. */
const MAX_EDITS = 64;
/** A leaf with more distinct rules than this after an insertion is split. */
const SPLIT_AT = 2 * BINTH;
/** Rule-box tests recomputing leaves may cost before a tree is rebuilt instead. */
const RECOMPUTE_BUDGET = 4_000_000;

const regionIds = new WeakMap<Region, number>();
let nextRegionId = 1;

/** A number per region object: regions are memoized per rule body (region.ts). */
function regionId(r: Region): number {
  let id = regionIds.get(r);
  if (id === undefined) {
    id = nextRegionId++;
    regionIds.set(r, id);
  }
  return id;
}

function idsOf(rules: readonly ClassifierRule[]): Int32Array {
  const ids = new Int32Array(rules.length);
  rules.forEach((r, i) => (ids[i] = regionId(r.region) * 2 + (r.terminal ? 1 : 0)));
  return ids;
}

function signature(ids: Int32Array): string {
  return ids.join(',');
}

/** The trees of one (netns, table)'s last classification, and how the next one used them. */
export class TreeCache {
  private bySig = new Map<string, Kept>();
  /** Old block of each rule id found in exactly one old block (null: in several). */
  private byId = new Map<number, Kept | null>();
  private nextSig = new Map<string, Kept>();
  stats: TreeStats = { reused: 0, edited: 0, built: 0 };

  /** Starts a classification: what it keeps replaces the last one's at `end`. */
  begin(): void {
    this.nextSig = new Map();
    this.stats = { reused: 0, edited: 0, built: 0 };
  }

  end(): void {
    this.bySig = this.nextSig;
    this.nextSig = new Map();
    this.byId = new Map();
    for (const kept of this.bySig.values()) {
      for (const id of kept.ids) {
        const seen = this.byId.get(id);
        if (seen === undefined) this.byId.set(id, kept);
        else if (seen !== kept) this.byId.set(id, null);
      }
    }
  }

  trees(rules: readonly ClassifierRule[]): readonly Tree[] {
    const ids = idsOf(rules);
    const sig = signature(ids);
    let kept = this.nextSig.get(sig) ?? this.bySig.get(sig);
    if (kept !== undefined) {
      this.stats.reused++;
    } else {
      const old = this.similar(ids);
      kept = (old && edit(old, ids, rules)) ?? build(ids, rules);
      if (kept.edits > 0) this.stats.edited++;
      else this.stats.built++;
    }
    this.nextSig.set(sig, kept);
    return kept.trees;
  }

  /** The old block sharing a rule only it had with the new one, if any. */
  private similar(ids: Int32Array): Kept | undefined {
    for (const id of ids) {
      const old = this.byId.get(id);
      if (old) return old;
    }
    return undefined;
  }
}

function build(ids: Int32Array, rules: readonly ClassifierRule[]): Kept {
  const part = partition(rules);
  return {
    ids,
    rules,
    trees: part.members.map((g) => buildTree(rules, g)),
    members: part.members.map((g) => Int32Array.from(g)),
    groupOf: part.groupOf,
    edits: 0,
  };
}

/** `old` turned into the block `ids`/`rules`, or undefined when rebuilding is the better deal. */
function edit(old: Kept, ids: Int32Array, rules: readonly ClassifierRule[]): Kept | undefined {
  const a = old.ids;
  const n = Math.min(a.length, ids.length);
  let p = 0;
  while (p < n && a[p] === ids[p]) p++;
  let s = 0;
  while (s < n - p && a[a.length - 1 - s] === ids[ids.length - 1 - s]) s++;
  const deleted = a.length - p - s;
  const inserted = ids.length - p - s;
  const edits = old.edits + deleted + inserted;
  if (deleted + inserted > MAX_EDITS || edits > (ids.length >> 2) + 8) return undefined;

  const shift = inserted - deleted;
  const map = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) map[i] = i < p ? i : i >= a.length - s ? i + shift : -1;
  const added: number[][] = old.trees.map(() => []);
  for (let q = p; q < p + inserted; q++) {
    added[old.groupOf[classOf(rules[q] as ClassifierRule)] ?? 0]?.push(q);
  }
  const wasTerminal = (i: number): boolean => ((a[i] as number) & 1) === 1;
  const trees: Tree[] = [];
  const members: Int32Array[] = [];
  for (let g = 0; g < old.trees.length; g++) {
    const m = mergeMembers(old.members[g] as Int32Array, map, added[g] as number[]);
    const t = editTree(old.trees[g] as Tree, rules, m, map, wasTerminal, added[g] as number[]);
    trees.push(t ?? buildTree(rules, Array.from(m)));
    members.push(m);
  }
  return { ids, rules, trees, members, groupOf: old.groupOf, edits };
}

function mergeMembers(old: Int32Array, map: Int32Array, added: readonly number[]): Int32Array {
  const out: number[] = [];
  for (const i of old) {
    const j = map[i] as number;
    if (j >= 0) out.push(j);
  }
  out.push(...added);
  return Int32Array.from(out).sort();
}

/** A tree being edited: nodes in plain arrays, a list per leaf. */
interface Work {
  leaf: number[];
  dim: number[];
  thr: number[];
  left: number[];
  right: number[];
  lists: (number[] | undefined)[];
  lo: (Float64Array | undefined)[];
  hi: (Float64Array | undefined)[];
  depth: number[];
}

function open(t: Tree): Work {
  const w: Work = {
    leaf: Array.from(t.leaf),
    dim: Array.from(t.dim),
    thr: Array.from(t.thr),
    left: Array.from(t.left),
    right: Array.from(t.right),
    lists: [],
    lo: [],
    hi: [],
    depth: [],
  };
  const root = rootPlace();
  const stack: [number, Float64Array, Float64Array, number][] = [[0, root.lo, root.hi, 0]];
  while (stack.length) {
    const [k, lo, hi, d] = stack.pop() as [number, Float64Array, Float64Array, number];
    if (t.leaf[k] === 1) {
      w.lists[k] = Array.from(t.list.subarray(t.start[k], t.end[k]));
      w.lo[k] = lo;
      w.hi[k] = hi;
      w.depth[k] = d;
      continue;
    }
    const dim = t.dim[k] as number;
    const thr = t.thr[k] as number;
    const hiLeft = hi.slice();
    hiLeft[dim] = thr;
    const loRight = lo.slice();
    loRight[dim] = thr + 1;
    stack.push(
      [t.left[k] as number, lo, hiLeft, d + 1],
      [t.right[k] as number, loRight, hi, d + 1],
    );
  }
  return w;
}

function close(w: Work): Tree {
  const nodes = w.leaf.length;
  const start = new Uint32Array(nodes);
  const end = new Uint32Array(nodes);
  const list: number[] = [];
  for (let k = 0; k < nodes; k++) {
    start[k] = list.length;
    if (w.leaf[k] === 1) for (const e of w.lists[k] ?? []) list.push(e);
    end[k] = list.length;
  }
  return {
    nodes,
    leaf: Uint8Array.from(w.leaf),
    dim: Uint8Array.from(w.dim),
    thr: Uint32Array.from(w.thr),
    left: Uint32Array.from(w.left),
    right: Uint32Array.from(w.right),
    start,
    end,
    list: Uint32Array.from(list),
  };
}

type BoxRef = Region[number];

function empty(b: BoxRef): boolean {
  for (let d = 0; d < KEY_WORDS; d++)
    if ((b[LO + d] as number) > (b[HI + d] as number)) return true;
  return false;
}

function meets(b: BoxRef, lo: Float64Array, hi: Float64Array): boolean {
  for (let d = 0; d < KEY_WORDS; d++) {
    if ((b[LO + d] as number) > (hi[d] as number) || (b[HI + d] as number) < (lo[d] as number))
      return false;
  }
  return true;
}

function covers(b: BoxRef, lo: Float64Array, hi: Float64Array): boolean {
  if (!isExact(b)) return false;
  for (let d = 0; d < KEY_WORDS; d++) {
    if ((b[LO + d] as number) > (lo[d] as number) || (b[HI + d] as number) < (hi[d] as number))
      return false;
  }
  return true;
}

/** The leaf list a fresh build gives the box: members meeting it, up to the first that ends it. */
function recompute(
  rules: readonly ClassifierRule[],
  members: Int32Array,
  lo: Float64Array,
  hi: Float64Array,
): number[] {
  const out: number[] = [];
  for (const pos of members) {
    const r = rules[pos] as ClassifierRule;
    let hit = false;
    let covered = false;
    for (const b of r.region) {
      if (empty(b) || !meets(b, lo, hi)) continue;
      hit = true;
      if (covers(b, lo, hi)) covered = true;
    }
    if (!hit) continue;
    out.push(pos * 2 + (covered ? 1 : 0));
    if (covered && r.terminal) break;
  }
  return out;
}

/** Inserts rule `q` (one box of it) into a leaf list, as the build would have placed it. */
function insertInto(
  list: number[],
  q: number,
  covered: boolean,
  terminal: (pos: number) => boolean,
): void {
  let at = 0;
  while (at < list.length && (list[at] as number) >> 1 < q) {
    const e = list[at] as number;
    if (e & 1 && terminal(e >> 1)) return;
    at++;
  }
  const c = covered ? 1 : 0;
  if (at < list.length && (list[at] as number) >> 1 === q) list[at] = (list[at] as number) | c;
  else list.splice(at, 0, q * 2 + c);
  if ((list[at] as number) & 1 && terminal(q)) list.length = at + 1;
}

/** Replaces leaf `k` of `w` by the tree `sub` (its root becomes node k). */
function graft(w: Work, k: number, sub: Tree): void {
  const base = w.leaf.length;
  const at = (j: number): number => (j === 0 ? k : base + j - 1);
  for (let j = 0; j < sub.nodes; j++) {
    const to = at(j);
    const isLeaf = sub.leaf[j] === 1;
    w.leaf[to] = isLeaf ? 1 : 0;
    w.dim[to] = sub.dim[j] as number;
    w.thr[to] = sub.thr[j] as number;
    w.left[to] = isLeaf ? 0 : at(sub.left[j] as number);
    w.right[to] = isLeaf ? 0 : at(sub.right[j] as number);
    w.lists[to] = isLeaf ? Array.from(sub.list.subarray(sub.start[j], sub.end[j])) : undefined;
  }
}

/**
 * `t` with old positions renumbered by `map` (-1: deleted) and the rules at the new positions
 * `added` inserted; undefined when recomputing the leaves a deletion uncovers would cost more
 * than a rebuild.
 */
function editTree(
  t: Tree,
  rules: readonly ClassifierRule[],
  members: Int32Array,
  map: Int32Array,
  wasTerminal: (oldPos: number) => boolean,
  added: readonly number[],
): Tree | undefined {
  const w = open(t);
  const terminal = (pos: number): boolean => (rules[pos] as ClassifierRule).terminal;
  const dirty: number[] = [];
  for (let k = 0; k < w.leaf.length; k++) {
    const list = w.lists[k];
    if (list === undefined) continue;
    const out: number[] = [];
    let uncovers = false;
    for (const e of list) {
      const to = map[e >> 1] as number;
      if (to >= 0) out.push(to * 2 + (e & 1));
      else if (e & 1 && wasTerminal(e >> 1)) uncovers = true;
    }
    w.lists[k] = out;
    if (uncovers) dirty.push(k);
  }
  if (dirty.length * members.length > RECOMPUTE_BUDGET) return undefined;
  for (const k of dirty) {
    w.lists[k] = recompute(rules, members, w.lo[k] as Float64Array, w.hi[k] as Float64Array);
  }

  const isDirty = new Set(dirty);
  const grown = new Set<number>();
  for (const q of added) {
    for (const b of (rules[q] as ClassifierRule).region) {
      if (empty(b)) continue;
      const stack = [0];
      while (stack.length) {
        const k = stack.pop() as number;
        if (w.leaf[k] === 1) {
          if (isDirty.has(k)) continue;
          const lo = w.lo[k] as Float64Array;
          const hi = w.hi[k] as Float64Array;
          if (!meets(b, lo, hi)) continue;
          insertInto(w.lists[k] as number[], q, covers(b, lo, hi), terminal);
          grown.add(k);
          continue;
        }
        const d = w.dim[k] as number;
        const thr = w.thr[k] as number;
        if ((b[LO + d] as number) <= thr) stack.push(w.left[k] as number);
        if ((b[HI + d] as number) > thr) stack.push(w.right[k] as number);
      }
    }
  }

  for (const k of grown) {
    const list = w.lists[k] as number[];
    const depth = w.depth[k] as number;
    // One entry per rule: insertInto and recompute merge a rule's boxes.
    if (list.length <= SPLIT_AT || depth >= MAX_DEPTH) continue;
    const sub = buildTree(
      rules,
      list.map((e) => e >> 1),
      { lo: w.lo[k] as Float64Array, hi: w.hi[k] as Float64Array, depth },
    );
    if (sub.nodes > 1) graft(w, k, sub);
  }
  return close(w);
}
