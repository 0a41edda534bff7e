// -m quota and -m statistic: per-rule state that every evaluation changes, run packet by packet
// and compared with what quota_mt and statistic_mt compute (against the kernel itself:
// test/targets/counting.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from '../helpers/kernel-table.js';
import { ipv4, udp } from '../helpers/packets.js';
import { DROP, ACCEPT, load } from './helpers.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('cnt');
});
afterAll(() => kt.close());

/** A UDP packet of `len` bytes in all. */
const sized = (len: number): Buffer => ipv4(17, udp(1, 2, Buffer.alloc(len - 28)));

describe('-m quota', () => {
  it('spends skb->len while enough is left, then nothing passes, not even a smaller packet', () => {
    const t = load(kt, '-A INPUT -m quota --quota 100 -j DROP');
    try {
      const got = [40, 40, 40, 28, 40].map((n) => t.run('INPUT', sized(n)));
      expect(got).toEqual([DROP, DROP, ACCEPT, ACCEPT, ACCEPT]);
      expect(t.packets(0)).toBe(2n);
    } finally {
      t.close();
    }
  });

  it('exactly the bytes left still pass; ! inverts the result, not the spending', () => {
    const t = load(
      kt,
      '-A INPUT -m quota --quota 80 -j DROP\n-A INPUT -m quota ! --quota 50 -j DROP',
    );
    try {
      // rule 1: 40 → 40 left, 40 → 0 left (exact), 40 → short; rule 2 sees the third: 40 of 50.
      const got = [40, 40, 40, 40].map((n) => t.run('INPUT', sized(n)));
      expect(got).toEqual([DROP, DROP, ACCEPT, DROP]);
      expect([t.packets(0), t.packets(1)]).toEqual([2n, 1n]);
    } finally {
      t.close();
    }
  });
});

/** statistic_mt's nth counter: starts at every - packet; holds when it steps to 0. */
function nthModel(every: number, packet: number, n: number): boolean[] {
  let count = every - 1 - packet;
  return Array.from({ length: n }, () => {
    count = count === every - 1 ? 0 : count + 1;
    return count === 0;
  });
}

describe('-m statistic', () => {
  it.each([
    [3, 0],
    [3, 1],
    [3, 2],
    [1, 0],
    [5, 4],
  ])(
    '--mode nth --every %d --packet %d: the kernel counter, shared by the rule',
    (every, packet) => {
      const t = load(
        kt,
        `-A INPUT -m statistic --mode nth --every ${every} --packet ${packet} -j DROP\n` +
          `-A OUTPUT -m statistic --mode nth ! --every ${every} --packet ${packet} -j DROP`,
      );
      try {
        const got = Array.from({ length: 12 }, () => t.run('INPUT', sized(40)) === DROP);
        expect(got).toEqual(nthModel(every, packet, 12));
        const inv = Array.from({ length: 12 }, () => t.run('OUTPUT', sized(40)) === DROP);
        expect(inv).toEqual(nthModel(every, packet, 12).map((x) => !x));
      } finally {
        t.close();
      }
    },
  );

  it('random: probability 0 never, 1 always, 0.5 about half of the time', () => {
    const t = load(
      kt,
      [
        '-A INPUT -m statistic --mode random --probability 0 -j ACCEPT',
        '-A INPUT -m statistic --mode random ! --probability 1 -j ACCEPT',
        '-A INPUT -m statistic --mode random --probability 0.5 -j ACCEPT',
        '-A INPUT -m statistic --mode random --probability 1 -j DROP',
      ].join('\n'),
    );
    try {
      const n = 2000;
      for (let i = 0; i < n; i++) t.run('INPUT', sized(40));
      expect([t.packets(0), t.packets(1)]).toEqual([0n, 0n]);
      const half = Number(t.packets(2));
      // Binomial(2000, 0.5): 6 standard deviations either side.
      expect(Math.abs(half - n / 2)).toBeLessThan(6 * Math.sqrt(n / 4));
      expect(t.packets(3)).toBe(BigInt(n - half));
    } finally {
      t.close();
    }
  });
});
