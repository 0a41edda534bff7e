// The classifier's view of a packet: a key of u32 words the BPF prologue fills once per packet,
// and the regions of that key a rule can act on. A region is a union of boxes (one interval per
// key field); the classifier only ever uses regions to *exclude* rules, so a region must contain
// every packet the rule could match or hotdrop (docs/engine.md: "conservative regions"). A box
// marked exact also promises the converse: every packet in it passes that part of the rule, which
// lets the classifier stop at a rule that covers a whole leaf.
//
// IPv4 is one key layout: each field one word. IPv6 is a second layout, not a second engine: its
// addresses take four words each and the same boxes, builder and walk apply.

/** Key fields, in word order for IPv4. */
export const FIELDS = ['src', 'dst', 'proto', 'sport', 'dport', 'l4'] as const;
export type Field = (typeof FIELDS)[number];
export const KEY_WORDS = FIELDS.length;

/** Index of a field's word in the key. */
export const DIM: Readonly<Record<Field, number>> = Object.freeze(
  Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>,
);

/**
 * The `l4` word: what the L4 header of the packet can be read as. Matches that read L4 hotdrop a
 * packet whose header is cut short and never match a non-first fragment, so their regions name
 * these classes instead of ports for such packets.
 */
export const L4_WHOLE = 0;
/** A first fragment (or unfragmented packet) with less L4 than its protocol's fixed header. */
export const L4_SHORT = 1;
/** A non-first fragment: no L4 header at all. */
export const L4_FRAGMENT = 2;

/**
 * Bytes of L4 a packet of `proto` needs for its ports (or ICMP type/code) to be read into the
 * key, as the matches that read them take it: struct tcphdr, udphdr, icmphdr, sctphdr, dccp_hdr.
 * Protocols not listed have no ports in the key.
 */
export const L4_HEADER: Readonly<Record<number, number>> = Object.freeze({
  1: 8,
  6: 20,
  17: 8,
  33: 12,
  132: 12,
  136: 8,
});

/** The widest value of each field. */
export const FIELD_MAX: Readonly<Record<Field, number>> = Object.freeze({
  src: 0xffffffff,
  dst: 0xffffffff,
  proto: 0xff,
  sport: 0xffff,
  dport: 0xffff,
  l4: L4_FRAGMENT,
});

/** One interval of one field: lo ≤ key[field] ≤ hi. */
export interface FieldRange {
  readonly field: Field;
  readonly lo: number;
  readonly hi: number;
}

/**
 * A box: per key word the interval [b[LO + d], b[HI + d]] (the whole field where unconstrained),
 * and whether it is exact (see top) in b[EXACT]. One typed array of u32 words, as the key is,
 * laid out as a rule record's HULL and EXACT: a read of a bound is one pointer away instead of
 * three through an object over two arrays of doubles (the image writer's box loop, which reads
 * every rule's boxes for every command, was bound by those misses). It is not smaller: V8 gives
 * even a typed array this small an ArrayBuffer object of its own, ~250 bytes a box either way.
 * Boxes are never changed once made, the shared ones included (EVERYWHERE, ANYWHERE): a typed
 * array cannot be frozen.
 */
export type Box = Uint32Array;

export const LO = 0;
export const HI = KEY_WORDS;
export const EXACT = 2 * KEY_WORDS;
export const BOX_WORDS = 2 * KEY_WORDS + 1;

/** A union of boxes. No boxes: the rule never matches (nor hotdrops). */
export type Region = readonly Box[];

export const isExact = (b: Box): boolean => b[EXACT] === 1;

/** A box of the whole key, exact or not. */
function wholeBox(exact: boolean): Box {
  const b = new Uint32Array(BOX_WORDS);
  FIELDS.forEach((f, d) => (b[HI + d] = FIELD_MAX[f]));
  b[EXACT] = exact ? 1 : 0;
  return b;
}
const WHOLE = wholeBox(true);

/** Every packet, exactly: what a part of a rule that always holds contributes. */
export const EVERYWHERE: Region = Object.freeze([WHOLE]);
/** Every packet, but the part decides only at run time (limit, mark, conntrack...). */
export const ANYWHERE: Region = Object.freeze([wholeBox(false)]);
export const NOWHERE: Region = Object.freeze([]);

/** Boxes a rule may grow into before its region is widened to their hull (inexact). */
export const MAX_BOXES = 16;

export const range = (field: Field, lo: number, hi: number): FieldRange => ({ field, lo, hi });

/** The box where every range holds (an empty one if two ranges of a field do not meet). */
export function box(exact: boolean, ...ranges: FieldRange[]): Box {
  const b = WHOLE.slice();
  for (const r of ranges) {
    const d = DIM[r.field];
    b[LO + d] = Math.max(b[LO + d] as number, r.lo);
    b[HI + d] = Math.min(b[HI + d] as number, r.hi);
  }
  b[EXACT] = exact ? 1 : 0;
  return b;
}

/** [lo, hi] of `field` in `b`. */
export function bounds(b: Box, field: Field): [number, number] {
  const d = DIM[field];
  return [b[LO + d] as number, b[HI + d] as number];
}

function intersectBoxes(a: Box, b: Box): Box | undefined {
  const out = new Uint32Array(BOX_WORDS);
  for (let d = 0; d < KEY_WORDS; d++) {
    const l = Math.max(a[LO + d] as number, b[LO + d] as number);
    const h = Math.min(a[HI + d] as number, b[HI + d] as number);
    if (l > h) return undefined;
    out[LO + d] = l;
    out[HI + d] = h;
  }
  out[EXACT] = (a[EXACT] as number) & (b[EXACT] as number);
  return out;
}

/** The smallest box holding every box of `r`, inexact. */
export function hull(r: Region): Box {
  const out = new Uint32Array(BOX_WORDS);
  for (let d = 0; d < KEY_WORDS; d++) {
    let lo = WHOLE[HI + d] as number;
    let hi = 0;
    for (const b of r) {
      lo = Math.min(lo, b[LO + d] as number);
      hi = Math.max(hi, b[HI + d] as number);
    }
    out[LO + d] = lo;
    out[HI + d] = hi;
  }
  return out;
}

/**
 * Both regions at once: the pairwise intersections. Past MAX_BOXES boxes the result is their
 * hull, which is still conservative (only exactness is lost).
 */
export function intersect(a: Region, b: Region): Region {
  if (a === EVERYWHERE) return b;
  if (b === EVERYWHERE) return a;
  const out: Box[] = [];
  for (const x of a) {
    for (const y of b) {
      const z = intersectBoxes(x, y);
      if (z) out.push(z);
    }
  }
  return out.length > MAX_BOXES ? [hull(out)] : out;
}

/** Every value of `field` in [lo, hi] (one box), or outside it when `invert` (up to two). */
export function interval(
  field: Field,
  lo: number,
  hi: number,
  invert: boolean,
  exact = true,
): Region {
  if (lo > hi) return invert ? (exact ? EVERYWHERE : ANYWHERE) : NOWHERE;
  if (!invert) {
    if (lo === 0 && hi === FIELD_MAX[field]) return exact ? EVERYWHERE : ANYWHERE;
    return [box(exact, range(field, lo, hi))];
  }
  const out: Box[] = [];
  if (lo > 0) out.push(box(exact, range(field, 0, lo - 1)));
  if (hi < FIELD_MAX[field]) out.push(box(exact, range(field, hi + 1, FIELD_MAX[field])));
  return out;
}

/** The union of regions, widened to a hull past MAX_BOXES. */
export function union(...rs: Region[]): Region {
  // A loop, not rs.flat(): this runs for most rules of every table, and flat is slow in V8.
  const out: Box[] = [];
  for (const r of rs) for (const b of r) out.push(b);
  return out.length > MAX_BOXES ? [hull(out)] : out;
}

/** The same boxes, none of them exact. */
export function inexact(r: Region): Region {
  if (r === EVERYWHERE) return ANYWHERE;
  return r.map((b) => {
    if (!isExact(b)) return b;
    const c = b.slice();
    c[EXACT] = 0;
    return c;
  });
}

/** Whether `key` (KEY_WORDS values by DIM) lies in `r`. */
export function contains(r: Region, key: readonly number[]): boolean {
  return r.some((b) => {
    for (let d = 0; d < KEY_WORDS; d++) {
      const v = key[d] ?? 0;
      if (v < (b[LO + d] as number) || v > (b[HI + d] as number)) return false;
    }
    return true;
  });
}
