import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EDOM, EINVAL } from '../../src/translate/errno.js';
import {
  parseDate,
  parseDaytime,
  parseMonthdays,
  parseWeekdays,
  time,
  TIME_DEFAULTS,
} from '../../src/translate/ext/time.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, hex, pad, roundTrip, u32, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };
const o = (name: string, arg?: string, invert = false): SaveOption => ({
  name,
  invert,
  args: arg === undefined ? [] : [arg],
});

describe('time match (rev 0)', () => {
  it('decodes and encodes iptables’ defaults byte for byte', () => {
    const b = hex('00000000 ffffff7f 00000000 7f510100 feffffff fe 00 0000');
    expect(time.decode(b, 0)).toEqual(TIME_DEFAULTS);
    expect(time.encode(TIME_DEFAULTS, 0)).toEqual(b);
    expect(time.parse?.([], P).value).toEqual(TIME_DEFAULTS);
  });

  roundTrip(
    time,
    fc.record({
      dateStart: u32(),
      dateStop: u32(),
      daytimeStart: u32(),
      daytimeStop: u32(),
      monthdays: u32(),
      weekdays: u8(),
      flags: u8(),
      pad: pad(2),
    }),
  );

  it('checks as time_mt_check: EDOM past 23:59:59, EINVAL for flags and contiguous', () => {
    const ok = { ...TIME_DEFAULTS, daytimeStart: 86399, daytimeStop: 0, flags: 3 };
    expect(() => time.check(ok, 0, ctx())).not.toThrow();
    expectErrno(() => time.check({ ...ok, daytimeStart: 86400, flags: 4 }, 0, ctx()), EDOM);
    expectErrno(() => time.check({ ...ok, flags: 4 }, 0, ctx()), EINVAL);
    expectErrno(() => time.check({ ...ok, daytimeStart: 0, daytimeStop: 1 }, 0, ctx()), EINVAL);
    expect(() => time.check({ ...ok, daytimeStart: 5, daytimeStop: 5 }, 0, ctx())).not.toThrow();
  });

  it('parses dates as mktime in UTC, normalizing', () => {
    expect(parseDate('1970', 'w')).toBe(0);
    expect(parseDate('2020-02-30T10', 'w')).toBe(Date.UTC(2020, 2, 1, 10) / 1000);
    expect(parseDate('2020-', 'w')).toBe(Date.UTC(2019, 11, 1) / 1000);
    expect(parseDate('2038-12-31T23:59:59', 'w')).toBe(Date.UTC(2038, 11, 31, 23, 59, 59) / 1000);
    for (const bad of [
      '1969',
      '2039',
      '2020-13',
      '2020-01-32',
      '2020-1-1T24',
      '2020/1',
      '1970-01-00',
    ]) {
      expect(() => parseDate(bad, 'w')).toThrow();
    }
  });

  it('parses daytimes hh:mm[:ss], an empty hour or minute being 0', () => {
    expect(parseDaytime('8:00', 'w')).toBe(28800);
    expect(parseDaytime(':30', 'w')).toBe(1800);
    expect(parseDaytime('1::', 'w')).toBe(3600);
    for (const bad of ['8', '24:00', '1:60', '1:2:60', '1:2:3x']) {
      expect(() => parseDaytime(bad, 'w')).toThrow();
    }
  });

  it('parses day lists with libxt_time’s quirks', () => {
    // Segments are cut to 2 (monthdays) / 3 (weekdays) characters; empty inner segments count.
    expect(parseMonthdays('1,,31', 'w')).toBe(0x80000003);
    expect(parseMonthdays('123', 'w')).toBe(1 << 12);
    expect(() => parseMonthdays('32', 'w')).toThrow();
    expect(parseWeekdays('Monday,Su', 'w')).toBe((1 << 1) | (1 << 7));
    expect(parseWeekdays('9', 'w')).toBe(0); // 1 << 9 does not fit the u8
    expect(parseWeekdays('33', 'w')).toBe(2); // x86 masks the shift count
    expect(() => parseWeekdays('tu', 'w')).toThrow(/not a valid day/); // case-sensitive
    expect(() => parseWeekdays('0', 'w')).toThrow(/does NOT begin with Sunday/);
  });

  it('formats as time_save: both daytimes, lists, dates (INT_MAX stop included), flags', () => {
    const v = time.parse?.(
      [
        o('timestart', '22:00'),
        o('timestop', '1:00'),
        o('contiguous'),
        o('kerneltz'),
        o('weekdays', 'Mon,Tue', true),
        o('monthdays', '1,15'),
        o('datestart', '2020-03-01T10'),
      ],
      P,
    ).value;
    expect(time.format(v as never, 0)).toBe(
      '--timestart 22:00:00 --timestop 01:00:00 --monthdays 1,15 --weekdays Wed,Thu,Fri,Sat,Sun --datestart 2020-03-01T10:00:00 --datestop 2038-01-19T03:14:07 --kerneltz --contiguous',
    );
  });

  it('refuses what iptables refuses', () => {
    expect(() => time.parse?.([o('utc'), o('kerneltz')], P)).toThrow(/--utc cannot/);
    expect(() => time.parse?.([o('contiguous')], P)).toThrow(/--contiguous only makes sense/);
    expect(() => time.parse?.([o('contiguous', undefined, true)], P)).toThrow(/cannot be inverted/);
  });
});
