// -m time on a clock the test sets: the clock slot the helper fills at each replace (realtime
// as an offset from CLOCK_TAI, and sys_tz) is written here to put "now" at chosen instants;
// every rule's verdict must be time_mt's, computed by a model of the kernel's arithmetic that
// takes its calendar from JavaScript's Date (the kernel's tables agree with it until 2039). The
// real clock against the kernel: test/targets/time.test.ts.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapInfo, mapUpdate } from '../../src/bpf/syscall.js';
import { CLOCK_MAP, clockValue } from '../../src/bpf/codegen/clock.js';
import { wallClock } from '../../src/sys/libc.js';
import {
  time,
  TIME_DEFAULTS,
  XT_TIME_ALL_MONTHDAYS,
  XT_TIME_CONTIGUOUS,
  XT_TIME_LOCAL_TZ,
  type TimeMatch,
} from '../../src/translate/ext/time.js';
import { KernelTables } from '../helpers/kernel-table.js';
import { ipv4, udp } from '../helpers/packets.js';
import { load, type Loaded } from './helpers.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('tim');
});
afterAll(() => kt.close());

const DAY = 86400;

/** time_mt for the wall clock `now` (seconds) and sys_tz.tz_minuteswest `west`. */
export function timeMatches(v: TimeMatch, now: number, west: number): boolean {
  let stamp = now;
  if (v.flags & XT_TIME_LOCAL_TZ) stamp -= 60 * west;
  if (stamp < v.dateStart || stamp > v.dateStop) return false;
  const t = stamp % DAY;
  if (v.daytimeStart < v.daytimeStop) {
    if (t < v.daytimeStart || t > v.daytimeStop) return false;
  } else {
    if (t < v.daytimeStart && t > v.daytimeStop) return false;
    if (v.flags & XT_TIME_CONTIGUOUS && t <= v.daytimeStop) stamp -= DAY;
  }
  const dse = Math.floor(stamp / DAY);
  const weekday = ((dse + 3) % 7) + 1;
  if (!(v.weekdays & (1 << weekday))) return false;
  if (v.monthdays >>> 0 !== XT_TIME_ALL_MONTHDAYS) {
    const monthday = new Date(dse * DAY * 1000).getUTCDate();
    if (!((v.monthdays >>> monthday) & 1)) return false;
  }
  return true;
}

/** Points every clock slot of `t` at `now` (seconds, + 0.5 s away from a boundary). */
function setClock(t: Loaded, now: number, west: number): void {
  const fd = t.instance.fd(CLOCK_MAP);
  const realNs = BigInt(Date.now()) * 1_000_000n;
  const taiNs = realNs - BigInt(wallClock().realMinusTai) * 1_000_000_000n;
  const value = clockValue(BigInt(now) * 1_000_000_000n + 500_000_000n - taiNs, west);
  const key = Buffer.alloc(4);
  for (let k = 0; k < mapInfo(fd).maxEntries; k++) {
    key.writeUInt32LE(k, 0);
    mapUpdate(fd, key, value);
  }
}

const daytime = fc.integer({ min: 0, max: DAY - 1 });
const matchArb: fc.Arbitrary<TimeMatch> = fc
  .record({
    window: fc.option(fc.tuple(daytime, daytime)),
    contiguous: fc.boolean(),
    weekdays: fc.option(fc.integer({ min: 1, max: 0x7f }).map((b) => b << 1)),
    monthdays: fc.option(fc.integer({ min: 1, max: 0x7fffffff }).map((b) => (b << 1) >>> 0)),
    dates: fc.option(
      fc.tuple(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 0x7fffffff })),
    ),
    localTz: fc.boolean(),
  })
  .map((r) => {
    const [start, stop] = r.window ?? [0, DAY - 1];
    const [a, b] = r.dates ?? [0, 0x7fffffff];
    return {
      ...TIME_DEFAULTS,
      daytimeStart: start,
      daytimeStop: stop,
      weekdays: r.weekdays ?? TIME_DEFAULTS.weekdays,
      monthdays: r.monthdays ?? TIME_DEFAULTS.monthdays,
      dateStart: Math.min(a, b),
      dateStop: Math.max(a, b),
      flags:
        (r.localTz ? XT_TIME_LOCAL_TZ : 0) |
        (r.contiguous && start >= stop && start !== stop ? XT_TIME_CONTIGUOUS : 0),
    };
  });

describe('-m time', () => {
  it('every option, on instants from 1970 to 2038, UTC and sys_tz either side of Greenwich', () => {
    const rules = fc.sample(matchArb, { numRuns: 40, seed: 7 });
    const t = load(kt, rules.map((v) => `-A INPUT -m time ${time.format(v, 0)}`).join('\n'));
    try {
      // What the kernel stored, which the model reads.
      const stored = (t.table.chains[0]?.rules ?? []).map((r) => r.matches[0]?.value as TimeMatch);
      expect(stored).toHaveLength(rules.length);
      const instants = fc.sample(fc.integer({ min: 0, max: 0x7fffffff - DAY }), {
        numRuns: 60,
        seed: 11,
      });
      // Leap days, month and year ends, and the instants the rules' own bounds name.
      instants.push(951782400, 951868800, 1078012800, 1230767999, 1704067199, 0, 86399);
      for (const r of stored.slice(0, 10))
        instants.push(r.dateStart, r.dateStop, r.dateStart + r.daytimeStart);
      let held = 0;
      for (const [i, now] of instants.entries()) {
        const west = [0, -120, 300][i % 3] as number;
        setClock(t, now, west);
        const before = stored.map((_, k) => t.packets(k));
        t.run('INPUT', ipv4(17, udp(1, 2)));
        const got = stored.map((_, k) => t.packets(k) - (before[k] ?? 0n) === 1n);
        const want = stored.map((v) => timeMatches(v, now, west));
        expect({ now, west, got }).toEqual({ now, west, got: want });
        held += got.filter(Boolean).length;
      }
      expect(held).toBeGreaterThan(20);
    } finally {
      t.close();
    }
  });
});
