// The classifier for one block of rules: a HyperSplit-style decision tree (Qi et al., 2009).
//
// Why this family. A packet must find "the first rule at or after position p whose every match
// holds", in BPF, at a cost that does not grow with the ruleset, for rules that are rarely pure
// 5-tuples. A binary decision tree over the key gives that with the least BPF: one array lookup
// and one compare per level, in a loop the verifier checks once, independent of the rules. Each
// internal node cuts one key field at a threshold; each leaf holds the few rules whose region
// meets the leaf's box, in rule order, so the walk still evaluates candidates in ipt_do_table's
// order and stops at the first that holds. The alternatives measured worse for this shape:
// TupleMerge probes a hash table per tuple (a BPF hash lookup is ~30 ns, and there are tens of
// tuples), bit vectors are linear in rules/64 per field (100k rules = 1,563 words per field per
// packet), multi-way cuts (HiCuts/CutSplit) trade memory for depth where depth is cheap here.
//
// Building. A node holds "items" (one per box of a rule's region, key.ts) clipped to its box.
// First the rules that can never be reached in this box are dropped: after the first rule with
// an exact box covering the whole node box and a terminal action (ACCEPT, DROP, RETURN, goto...),
// nothing later runs for any packet here. If few rules remain (BINTH) the node is a leaf.
// Otherwise every field is tried: for a threshold t, the left child gets the items starting at
// or below t, the right the items ending above it (items spanning t go to both). The threshold
// minimising max(left, right) is found by bisection (left grows with t, right shrinks), and the
// field with the best balance wins, fewer copies breaking ties. A cut that leaves a side as big
// as the node makes a leaf instead, so building always ends; MAX_DEPTH bounds the walk the BPF
// loop must allow. Big nodes choose their cut on an evenly spaced sample of their items, so a
// level costs O(n) and the whole build O(n log n) in the common case.
//
// Leaves mark each rule whose exact box covers the leaf's whole box: for packets reaching the
// leaf that rule's classified parts are known to hold, and the BPF skips testing them.
import { DIM, EXACT, FIELDS, FIELD_MAX, HI, KEY_WORDS, LO, type Region } from './key.js';

/**
 * Rules a leaf may hold before it is cut further. One: a packet pays a tree level (about 28
 * instructions per tree) more cheaply than a candidate (its record, boxes and ipt_ip, about
 * 130). Test-run per packet at 10k rules, acl1 / fw1 / ipc1: 147 / 196 / 157 ns at 4, 144 / 169
 * / 146 at 2, 144 / 161 / 145 at 1; the trees take 2-3x the nodes (fw1: 24k, 45k) and the build
 * 15-25 % longer.
 */
export const BINTH = 1;
/** Deepest node (the root is depth 0); the BPF tree walk loops at most MAX_DEPTH + 1 times. */
export const MAX_DEPTH = 48;
/** Nodes with more items choose their cut on a sample of this many. */
const SAMPLE = 1024;

export interface ClassifierRule {
  readonly region: Region;
  /** The action ends the walk of this block when the rule holds (nothing after it runs). */
  readonly terminal: boolean;
}

/** One tree in flat arrays: node k is a leaf when leaf[k] is 1. */
export interface Tree {
  readonly nodes: number;
  readonly leaf: Uint8Array;
  /** Internal nodes: the field (key word) cut, the threshold (key ≤ thr goes left), children. */
  readonly dim: Uint8Array;
  readonly thr: Uint32Array;
  readonly left: Uint32Array;
  readonly right: Uint32Array;
  /** Leaves: their rules in list[start, end). */
  readonly start: Uint32Array;
  readonly end: Uint32Array;
  /** (rule position << 1) | 1 when the rule's classified parts hold everywhere in the leaf. */
  readonly list: Uint32Array;
}

/** Packed boxes of a block's rules: item i is box `box` of rule `rule[i]`. */
interface Items {
  readonly rule: Int32Array;
  readonly exact: Uint8Array;
  /** lo/hi of item i's field d at [i * KEY_WORDS + d]. */
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly terminal: Uint8Array;
}

/**
 * The boxes of the rules at `positions` (ascending) as items, those that are empty or miss the
 * node box `lo`..`hi` left out.
 */
function pack(
  rules: readonly ClassifierRule[],
  positions: readonly number[],
  lo: Float64Array,
  hi: Float64Array,
): Items {
  const n = positions.reduce((s, p) => s + (rules[p] as ClassifierRule).region.length, 0);
  const items: Items = {
    rule: new Int32Array(n),
    exact: new Uint8Array(n),
    lo: new Float64Array(n * KEY_WORDS),
    hi: new Float64Array(n * KEY_WORDS),
    terminal: new Uint8Array(rules.length),
  };
  let i = 0;
  for (const pos of positions) {
    const r = rules[pos] as ClassifierRule;
    items.terminal[pos] = r.terminal ? 1 : 0;
    for (const b of r.region) {
      let empty = false;
      for (let d = 0; d < KEY_WORDS; d++) {
        items.lo[i * KEY_WORDS + d] = b[LO + d] as number;
        items.hi[i * KEY_WORDS + d] = b[HI + d] as number;
        const l = Math.max(b[LO + d] as number, lo[d] as number);
        const h = Math.min(b[HI + d] as number, hi[d] as number);
        if (l > h) empty = true;
      }
      if (empty) continue;
      items.rule[i] = pos;
      items.exact[i] = b[EXACT] as number;
      i++;
    }
  }
  return i === n
    ? items
    : {
        ...items,
        rule: items.rule.subarray(0, i),
        exact: items.exact.subarray(0, i),
        lo: items.lo.subarray(0, i * KEY_WORDS),
        hi: items.hi.subarray(0, i * KEY_WORDS),
      };
}

/**
 * Builds one tree depth first. A node's items are a run of `pool` (item indices): a node puts
 * its children's runs above its own and frees them when both subtrees are built, and the node
 * box is narrowed in place and restored, so a node allocates nothing.
 */
class Builder {
  private readonly leaf: number[] = [];
  private readonly dim: number[] = [];
  private readonly thr: number[] = [];
  private readonly left: number[] = [];
  private readonly right: number[] = [];
  private readonly start: number[] = [];
  private readonly end: number[] = [];
  private readonly list: number[] = [];
  /** Room for the edges of a (sampled) node. */
  private readonly scratch: Float64Array;
  private pool: Int32Array;
  private top: number;

  constructor(private readonly it: Items) {
    const n = it.rule.length;
    this.scratch = new Float64Array(2 * (Math.min(n, SAMPLE) + 1));
    this.pool = new Int32Array(Math.max(64, 4 * n));
    for (let i = 0; i < n; i++) this.pool[i] = i;
    this.top = n;
  }

  /** Builds the tree of every item in the box. */
  root(lo: Float64Array, hi: Float64Array, depth: number): void {
    this.build(0, this.it.rule.length, lo, hi, depth);
  }

  private covers(i: number, lo: Float64Array, hi: Float64Array): boolean {
    const base = i * KEY_WORDS;
    for (let d = 0; d < KEY_WORDS; d++) {
      if ((this.it.lo[base + d] as number) > (lo[d] as number)) return false;
      if ((this.it.hi[base + d] as number) < (hi[d] as number)) return false;
    }
    return true;
  }

  /** How many items of the run are up to (and with all boxes of) the first rule that ends every walk in the box. */
  private reachable(at: number, n: number, lo: Float64Array, hi: Float64Array): number {
    const { rule, exact, terminal } = this.it;
    const pool = this.pool;
    for (let k = 0; k < n; k++) {
      const i = pool[at + k] as number;
      const r = rule[i] as number;
      if (!exact[i] || !terminal[r] || !this.covers(i, lo, hi)) continue;
      let cut = k + 1;
      while (cut < n && rule[pool[at + cut] as number] === r) cut++;
      return cut;
    }
    return n;
  }

  private distinctRules(at: number, n: number): number {
    let count = 0;
    let last = -1;
    for (let k = at; k < at + n; k++) {
      const r = this.it.rule[this.pool[k] as number] as number;
      if (r !== last) count++;
      last = r;
    }
    return count;
  }

  private makeLeaf(at: number, n: number, lo: Float64Array, hi: Float64Array): number {
    const k = this.leaf.length;
    this.leaf.push(1);
    this.dim.push(0);
    this.thr.push(0);
    this.left.push(0);
    this.right.push(0);
    this.start.push(this.list.length);
    let last = -1;
    for (let x = at; x < at + n; x++) {
      const i = this.pool[x] as number;
      const r = this.it.rule[i] as number;
      const covered = this.it.exact[i] === 1 && this.covers(i, lo, hi) ? 1 : 0;
      if (r === last) {
        this.list[this.list.length - 1] = (this.list[this.list.length - 1] as number) | covered;
        continue;
      }
      this.list.push(r * 2 + covered);
      last = r;
    }
    this.end.push(this.list.length);
    return k;
  }

  /**
   * The best cut of the node as [dim, threshold], or undefined when no field separates its
   * items. Per field the candidate is the median of the item edges inside the node's range
   * (an item [a, b] has edges a - 1 and b): half the edges lie on each side, which balances
   * the children in O(n). Counts come from a sample when the node is big.
   */
  private cut(
    at: number,
    n: number,
    lo: Float64Array,
    hi: Float64Array,
  ): [number, number] | undefined {
    const stride = n > SAMPLE ? n / SAMPLE : 1;
    const m = Math.min(n, SAMPLE);
    let best: [number, number] | undefined;
    let bestMax = Infinity;
    let bestSum = Infinity;
    const edges = this.scratch;
    const pool = this.pool;
    const { lo: ilo, hi: ihi } = this.it;
    for (let d = 0; d < KEY_WORDS; d++) {
      const rlo = lo[d] as number;
      const rhi = hi[d] as number;
      if (rlo >= rhi) continue;
      let e = 0;
      for (let k = 0; k < m; k++) {
        const i = pool[at + Math.floor(k * stride)] as number;
        const a = ilo[i * KEY_WORDS + d] as number;
        const b = ihi[i * KEY_WORDS + d] as number;
        if (a > rlo) edges[e++] = a - 1;
        if (b < rhi) edges[e++] = b;
      }
      if (e === 0) continue;
      const t = select(edges, e, e >> 1);
      let l = 0;
      let r = 0;
      for (let k = 0; k < m; k++) {
        const i = pool[at + Math.floor(k * stride)] as number;
        if ((ilo[i * KEY_WORDS + d] as number) <= t) l++;
        if ((ihi[i * KEY_WORDS + d] as number) > t) r++;
      }
      const worst = Math.max(l, r);
      if (worst >= m) continue;
      if (worst < bestMax || (worst === bestMax && l + r < bestSum)) {
        bestMax = worst;
        bestSum = l + r;
        best = [d, t];
      }
    }
    return best;
  }

  private build(at: number, n: number, lo: Float64Array, hi: Float64Array, depth: number): number {
    const live = this.reachable(at, n, lo, hi);
    if (this.distinctRules(at, live) <= BINTH || depth >= MAX_DEPTH) {
      return this.makeLeaf(at, live, lo, hi);
    }
    const cut = this.cut(at, live, lo, hi);
    if (cut === undefined) return this.makeLeaf(at, live, lo, hi);
    const [d, t] = cut;
    const { lo: ilo, hi: ihi } = this.it;
    let nl = 0;
    let nr = 0;
    for (let x = at; x < at + live; x++) {
      const i = this.pool[x] as number;
      if ((ilo[i * KEY_WORDS + d] as number) <= t) nl++;
      if ((ihi[i * KEY_WORDS + d] as number) > t) nr++;
    }
    // The sample promised progress; a skewed sample can be wrong: then this node is a leaf.
    if (nl === live && nr === live) return this.makeLeaf(at, live, lo, hi);
    const base = this.top;
    this.reserve(nl + nr);
    const pool = this.pool;
    let l = base;
    let r = base + nl;
    for (let x = at; x < at + live; x++) {
      const i = pool[x] as number;
      if ((ilo[i * KEY_WORDS + d] as number) <= t) pool[l++] = i;
      if ((ihi[i * KEY_WORDS + d] as number) > t) pool[r++] = i;
    }
    const k = this.leaf.length;
    this.leaf.push(0);
    this.dim.push(d);
    this.thr.push(t);
    this.left.push(0);
    this.right.push(0);
    this.start.push(0);
    this.end.push(0);
    const h = hi[d] as number;
    hi[d] = t;
    this.left[k] = this.build(base, nl, lo, hi, depth + 1);
    hi[d] = h;
    const b = lo[d] as number;
    lo[d] = t + 1;
    this.right[k] = this.build(base + nl, nr, lo, hi, depth + 1);
    lo[d] = b;
    this.top = base;
    return k;
  }

  /** Room for `n` more items at the top of the pool (indices into it stay valid). */
  private reserve(n: number): void {
    this.top += n;
    if (this.top <= this.pool.length) return;
    const grown = new Int32Array(Math.max(2 * this.pool.length, this.top));
    grown.set(this.pool);
    this.pool = grown;
  }

  finish(): Tree {
    return {
      nodes: this.leaf.length,
      leaf: Uint8Array.from(this.leaf),
      dim: Uint8Array.from(this.dim),
      thr: Uint32Array.from(this.thr),
      left: Uint32Array.from(this.left),
      right: Uint32Array.from(this.right),
      start: Uint32Array.from(this.start),
      end: Uint32Array.from(this.end),
      list: Uint32Array.from(this.list),
    };
  }
}

/** The k-th smallest of a[0, n) (Hoare's selection; reorders a). */
function select(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const x = a[i] as number;
        a[i] = a[j] as number;
        a[j] = x;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k] as number;
  }
  return a[k] as number;
}

/** Where a (sub)tree is built: its box and the depth of its root. */
export interface Place {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly depth: number;
}

/** The whole key space, at the root. */
export function rootPlace(): Place {
  return {
    lo: new Float64Array(KEY_WORDS),
    hi: Float64Array.from(FIELDS.map((f) => FIELD_MAX[f])),
    depth: 0,
  };
}

/**
 * The tree of the rules at `positions` (ascending) of a block, for packets in `at` (the whole
 * key space, or a leaf being split: incremental.ts). The root is node 0.
 */
export function buildTree(
  rules: readonly ClassifierRule[],
  positions: readonly number[] = rules.map((_, i) => i),
  at: Place = rootPlace(),
): Tree {
  const it = pack(rules, positions, at.lo, at.hi);
  const b = new Builder(it);
  // Narrowed and restored in place while building.
  b.root(at.lo.slice(), at.hi.slice(), at.depth);
  return b.finish();
}

/** Most trees a block is classified with (the BPF walk merges their candidates). */
export const MAX_GROUPS = 4;
/** Address ranges at most this wide count as small. */
const SMALL = 1 << 16;
/** Groups smaller than this join the last one; blocks this small are one group. */
const MIN_GROUP = 32;

/** Which of CutSplit's classes a rule is in: 0 small src and dst, 1 small src, 2 small dst, 3 neither. */
export function classOf(r: ClassifierRule): number {
  const wide = (d: number): boolean => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const b of r.region) {
      lo = Math.min(lo, b[LO + d] as number);
      hi = Math.max(hi, b[HI + d] as number);
    }
    return hi - lo >= SMALL;
  };
  return (wide(DIM.src) ? 2 : 0) + (wide(DIM.dst) ? 1 : 0);
}

/** A block's rules split into groups, each classified by its own tree. */
export interface Partition {
  /** Per group, its rule positions (ascending). */
  readonly members: readonly number[][];
  /** Per class (classOf), the group holding it. */
  readonly groupOf: readonly number[];
}

/**
 * The rules of a block in up to MAX_GROUPS groups, each classified by its own tree: rules with
 * small source and destination ranges, small source only, small destination only, and the
 * rest (CutSplit's partition, Li et al., 2018). A rule wide in a field is copied into every
 * child when that field is cut; kept apart from the rules the cut separates, it is not, which
 * is what keeps firewall-style rulesets (many `-s 0/0 -d host` rules) from exploding.
 */
export function partition(rules: readonly ClassifierRule[]): Partition {
  if (rules.length <= MIN_GROUP)
    return { members: [rules.map((_, i) => i)], groupOf: [0, 0, 0, 0] };
  const byClass: number[][] = [[], [], [], []];
  rules.forEach((r, i) => (byClass[classOf(r)] as number[]).push(i));
  const members: number[][] = [];
  const groupOf = [-1, -1, -1, -1];
  const rest: number[] = [];
  const merged: number[] = [];
  byClass.forEach((g, c) => {
    if (c < 3 && g.length >= MIN_GROUP) {
      groupOf[c] = members.length;
      members.push(g);
    } else {
      rest.push(...g);
      merged.push(c);
    }
  });
  rest.sort((a, b) => a - b);
  const restAt = rest.length ? members.length : 0;
  if (rest.length) members.push(rest);
  for (const c of merged) groupOf[c] = restAt;
  return { members, groupOf };
}

/** The leaf a key reaches (what the BPF walk does), as its index. */
export function leafOf(t: Tree, key: readonly number[]): number {
  let k = 0;
  while (t.leaf[k] === 0) {
    const v = key[t.dim[k] as number] ?? 0;
    k = v <= (t.thr[k] as number) ? (t.left[k] as number) : (t.right[k] as number);
  }
  return k;
}

/** Rule positions (and whether each is covered) a key finds in the trees, in rule order. */
export function candidates(
  trees: readonly Tree[],
  key: readonly number[],
): { rule: number; covered: boolean }[] {
  const out: { rule: number; covered: boolean }[] = [];
  for (const t of trees) {
    const k = leafOf(t, key);
    for (let j = t.start[k] as number; j < (t.end[k] as number); j++) {
      const e = t.list[j] as number;
      out.push({ rule: e >>> 1, covered: (e & 1) === 1 });
    }
  }
  return out.sort((a, b) => a.rule - b.rule);
}

/** Depth of the deepest leaf. */
export function depth(t: Tree): number {
  let max = 0;
  const stack: [number, number][] = [[0, 0]];
  while (stack.length) {
    const [k, d] = stack.pop() as [number, number];
    if (t.leaf[k] === 1) max = Math.max(max, d);
    else stack.push([t.left[k] as number, d + 1], [t.right[k] as number, d + 1]);
  }
  return max;
}
