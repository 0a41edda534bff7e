// The answers bpf/addrtypes.ts mirrors for -m addrtype, from routes as rtnetlink dumps them:
// fib_table_lookup's choice of alias per prefix, the merged local/main trie, the fallbacks.
import { describe, expect, it } from 'vitest';
import { answers, type Route } from '../src/bpf/addrtypes.js';

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

const route = (
  dst: string,
  len: number,
  type: number,
  more: Partial<Omit<Route, 'dst' | 'len' | 'type'>> = {},
): Route => ({
  table: 255,
  dst: ip(dst),
  len,
  type,
  tos: 0,
  flags: 0,
  nexthops: [{ ifindex: 2, flags: 0 }],
  ...more,
});

const key = (dst: string, len: number): string => `${ip(dst)}/${len}`;

describe('addrtype answers', () => {
  it('gives each prefix its first usable alias: no TOS, a live nexthop, else the next one', () => {
    const a = answers(
      [
        route('10.0.0.1', 32, 2, { tos: 0x10 }),
        route('10.0.0.1', 32, 2, { nexthops: [{ ifindex: 3, flags: 1 }] }),
        route('10.0.0.1', 32, 5, { nexthops: [{ ifindex: 4, flags: 0 }] }),
        route('10.0.0.2', 32, 2, { tos: 0x10 }),
      ],
      false,
      true,
    );
    expect(a.get(key('10.0.0.1', 32))).toEqual({ type: 5, devCheck: true, ifindex: 4 });
    // No usable alias: left out, so the lookup backtracks to shorter prefixes.
    expect(a.has(key('10.0.0.2', 32))).toBe(false);
  });

  it('answers UNICAST for error routes, whatever the device; uses the first nexthop', () => {
    const a = answers(
      [
        route('10.9.0.0', 16, 6),
        route('10.8.0.0', 16, 3, {
          nexthops: [
            { ifindex: 7, flags: 1 },
            { ifindex: 8, flags: 0 },
          ],
        }),
      ],
      false,
      true,
    );
    expect(a.get(key('10.9.0.0', 16))).toEqual({ type: 1, devCheck: false, ifindex: 0 });
    // A dead first nexthop still names the device (fib_info_nhc(fi, 0)).
    expect(a.get(key('10.8.0.0', 16))).toEqual({ type: 3, devCheck: true, ifindex: 7 });
  });

  it('reads main too while the tables are merged, local first; falls back at 0/0', () => {
    const routes = [
      route('10.1.0.0', 24, 1, { table: 254 }),
      route('10.1.0.0', 24, 3, { table: 255 }),
      route('10.2.0.0', 24, 1, { table: 254, nexthops: [{ ifindex: 9, flags: 0 }] }),
    ];
    const merged = answers(routes, true, true);
    expect(merged.get(key('10.1.0.0', 24))?.type).toBe(3);
    expect(merged.get(key('10.2.0.0', 24))).toEqual({ type: 1, devCheck: true, ifindex: 9 });
    expect(merged.get(key('0.0.0.0', 0))).toEqual({ type: 1, devCheck: false, ifindex: 0 });
    const split = answers(routes, false, true);
    expect(split.has(key('10.2.0.0', 24))).toBe(false);
    // No local table at all: every address is BROADCAST.
    expect(answers([], false, false).get(key('0.0.0.0', 0))?.type).toBe(3);
  });
});
