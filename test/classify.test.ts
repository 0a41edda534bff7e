// The classifier against the linear walk it replaces: for any block of rules and any key, the
// candidates the trees give, walked as the BPF walks them, hold exactly the rules ipt_do_table
// would find holding, in order, up to the first terminal one — after a fresh build and after
// any sequence of incremental edits (classify/incremental.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildTree,
  candidates,
  partition,
  type ClassifierRule,
  type Tree,
} from '../src/translate/classify/hypersplit.js';
import { TreeCache } from '../src/translate/classify/incremental.js';
import {
  EVERYWHERE,
  FIELDS,
  FIELD_MAX,
  KEY_WORDS,
  HI,
  LO,
  contains,
  isExact,
  inexact,
  intersect,
  interval,
  type Region,
} from '../src/translate/classify/key.js';

const BASES = [0x0a000000, 0x0a000100, 0x0a010000, 0xc0a80000, 0];
const PORTS = [0, 22, 53, 80, 443, 1024, 8080, 65535];

const prefix = (field: 'src' | 'dst'): fc.Arbitrary<Region> =>
  fc
    .record({
      base: fc.constantFrom(...BASES),
      host: fc.integer({ min: 0, max: 255 }),
      len: fc.constantFrom(0, 8, 16, 24, 30, 32),
      invert: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
    })
    .map(({ base, host, len, invert }) => {
      if (len === 0) return EVERYWHERE;
      const mask = len === 32 ? 0xffffffff : ~(0xffffffff >>> len) >>> 0;
      const lo = ((base + host) & mask) >>> 0;
      const hi = (lo | (~mask >>> 0)) >>> 0;
      return interval(field, lo, hi, invert);
    });

const ports = (field: 'sport' | 'dport'): fc.Arbitrary<Region> =>
  fc
    .tuple(fc.constantFrom(...PORTS), fc.nat(40), fc.boolean())
    .map(([lo, w, any]) =>
      any ? EVERYWHERE : interval(field, lo, Math.min(lo + w, 65535), false),
    );

const ruleArb: fc.Arbitrary<ClassifierRule> = fc
  .record({
    src: prefix('src'),
    dst: prefix('dst'),
    proto: fc.constantFrom(0, 6, 17),
    sport: ports('sport'),
    dport: ports('dport'),
    exact: fc.integer({ min: 0, max: 9 }),
    terminal: fc.boolean(),
  })
  .map(({ src, dst, proto, sport, dport, exact, terminal }) => {
    let r = intersect(src, dst);
    if (proto)
      r = intersect(r, intersect(interval('proto', proto, proto, false), intersect(sport, dport)));
    return { region: exact < 7 ? r : inexact(r), terminal };
  });

/** Whether a rule holds for `key`: exact boxes always, inexact ones by a fixed coin per pair. */
function holds(rules: readonly ClassifierRule[], pos: number, key: readonly number[]): boolean {
  const r = rules[pos] as ClassifierRule;
  if (r.region.some((b) => isExact(b) && contains([b], key))) return true;
  if (!contains(r.region, key)) return false;
  let h = pos * 2654435761;
  for (const v of key) h = Math.imul(h ^ v, 0x9e3779b1) >>> 0;
  return (h >>> 7) % 2 === 0;
}

/** ipt_do_table inside one block from `from`: the rules that hold, up to a terminal one. */
function linear(rules: readonly ClassifierRule[], key: readonly number[], from: number): number[] {
  const out: number[] = [];
  for (let p = from; p < rules.length; p++) {
    if (!holds(rules, p, key)) continue;
    out.push(p);
    if ((rules[p] as ClassifierRule).terminal) break;
  }
  return out;
}

/** The BPF walk: candidates at or after `from`; a covered one holds without a test. */
function walk(
  trees: readonly Tree[],
  rules: readonly ClassifierRule[],
  key: readonly number[],
  from: number,
): number[] {
  const out: number[] = [];
  for (const c of candidates(trees, key)) {
    if (c.rule < from) continue;
    const r = rules[c.rule] as ClassifierRule;
    if (c.covered) {
      // Covered promises the rule's exact box holds the whole leaf, so also this key.
      expect(r.region.some((b) => isExact(b) && contains([b], key))).toBe(true);
    } else if (!holds(rules, c.rule, key)) continue;
    out.push(c.rule);
    if (r.terminal) break;
  }
  return out;
}

/** Keys on and around the rules' edges, where a wrong cut shows. */
function keysFor(rules: readonly ClassifierRule[], seed: number, n: number): number[][] {
  let s = seed >>> 0 || 1;
  const rnd = (m: number): number => {
    s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6b43a9b5;
    s >>>= 0;
    return s % m;
  };
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const key = FIELDS.map((f) => rnd(FIELD_MAX[f] + 1));
    const r = rules[rnd(Math.max(rules.length, 1))];
    const b = r?.region[rnd(Math.max(r.region.length, 1))];
    if (b) {
      for (let d = 0; d < KEY_WORDS; d++) {
        const pick = rnd(4);
        const edge = pick === 0 ? (b[LO + d] as number) : pick === 1 ? (b[HI + d] as number) : -1;
        const max = FIELD_MAX[FIELDS[d] as (typeof FIELDS)[number]];
        if (edge >= 0) key[d] = Math.min(max, Math.max(0, edge + rnd(3) - 1));
      }
    }
    key[KEY_WORDS - 1] = rnd(3);
    out.push(key);
  }
  return out;
}

function expectSameWalks(
  trees: readonly Tree[],
  rules: readonly ClassifierRule[],
  seed: number,
): void {
  for (const key of keysFor(rules, seed, 60)) {
    const want = linear(rules, key, 0);
    expect(walk(trees, rules, key, 0)).toEqual(want);
    // After a pushing jump returns, the walk resumes just past it, with the same key.
    for (const p of want) {
      if ((rules[p] as ClassifierRule).terminal) continue;
      expect(walk(trees, rules, key, p + 1)).toEqual(linear(rules, key, p + 1));
    }
  }
}

const fresh = (rules: readonly ClassifierRule[]): Tree[] =>
  partition(rules).members.map((g) => buildTree(rules, g));

describe('classifier', () => {
  it('a fresh build finds what the linear walk finds, for every key', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 300 }), fc.integer(), (rules, seed) => {
        expectSameWalks(fresh(rules), rules, seed);
      }),
      { numRuns: 60 },
    );
  });

  it('trees edited over a sequence of inserts and deletes stay exact', () => {
    // One iptables command each: -I/-A (insert), -D (delete), -R (both at one place).
    const command = fc.record({
      at: fc.nat(),
      op: fc.constantFrom('insert', 'delete', 'replace'),
      rule: ruleArb,
    });
    let steps = 0;
    let edited = 0;
    fc.assert(
      fc.property(
        fc.array(ruleArb, { minLength: 40, maxLength: 400 }),
        fc.array(command, { minLength: 1, maxLength: 12 }),
        fc.integer(),
        (start, commands, seed) => {
          const cache = new TreeCache();
          let rules = start;
          const classify = (): readonly Tree[] => {
            cache.begin();
            const t = cache.trees(rules);
            edited += cache.stats.edited;
            cache.end();
            return t;
          };
          expectSameWalks(classify(), rules, seed);
          for (const c of commands) {
            const next = [...rules];
            const at = c.at % (next.length + (c.op === 'insert' ? 1 : 0));
            if (c.op === 'insert') next.splice(at, 0, c.rule);
            else next.splice(at, 1, ...(c.op === 'replace' ? [c.rule] : []));
            rules = next;
            steps++;
            expectSameWalks(classify(), rules, seed ^ rules.length);
          }
        },
      ),
      { numRuns: 40 },
    );
    // The incremental path itself was exercised, not only rebuilds.
    expect(edited).toBeGreaterThan(steps / 2);
  });

  it('a deleted covering rule gives back the rules it hid; an inserted one hides them', () => {
    const wide = (terminal: boolean): ClassifierRule => ({ region: EVERYWHERE, terminal });
    const host = (h: number): ClassifierRule => ({
      region: interval('dst', 0x0a000000 + h, 0x0a000000 + h, false),
      terminal: true,
    });
    const base = Array.from({ length: 100 }, (_, i) => host(i));
    const cache = new TreeCache();
    const run = (rules: ClassifierRule[]): readonly Tree[] => {
      cache.begin();
      const t = cache.trees(rules);
      cache.end();
      return t;
    };
    const key = [0, 0x0a000005, 0, 0, 0, 0];
    run(base);
    const drop = wide(true);
    const hidden = run([...base.slice(0, 3), drop, ...base.slice(3)]);
    expect(cache.stats.edited).toBe(1);
    expect(candidates(hidden, key).map((c) => c.rule)).toEqual([3]);
    const back = run(base);
    expect(cache.stats.edited).toBe(1);
    expect(candidates(back, key).map((c) => c.rule)).toContain(5);
    expectSameWalks(back, base, 7);
  });
});
