import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { probability, statistic } from '../../src/translate/ext/statistic.js';
import { ctx, expectErrno, hex, roundTrip, u16, u32 } from './helpers.js';

const P = { proto: 0, invProto: false };
const o = (name: string, arg?: string, invert = false): SaveOption => ({
  name,
  invert,
  args: arg === undefined ? [] : [arg],
});
const parse = (...opts: SaveOption[]) => statistic.parse?.(opts, P).value;

describe('statistic match (rev 0)', () => {
  it('user data is the first 16 bytes; the master pointer is zeroed', () => {
    expect([statistic.dataSize(0), statistic.userSize(0)]).toEqual([24, 16]);
    const b = hex('0100 0100 02000000 01000000 01000000 a5a5a5a5a5a5a5a5');
    const v = { mode: 1, flags: 1, every: 2, packet: 1, count: 1 };
    expect(statistic.decode(b, 0)).toEqual(v);
    expect(statistic.encode(v, 0)).toEqual(
      hex('0100 0100 02000000 01000000 01000000 0000000000000000'),
    );
  });

  roundTrip(
    statistic,
    fc.record({ mode: u16(), flags: u16(), every: u32(), packet: u32(), count: u32() }),
  );

  it('refuses a mode above 1 or unknown flags (EINVAL)', () => {
    const v = { mode: 1, flags: 1, every: 0, packet: 9, count: 0 };
    expect(() => statistic.check(v, 0, ctx())).not.toThrow();
    expectErrno(() => statistic.check({ ...v, mode: 2 }, 0, ctx()), EINVAL);
    expectErrno(() => statistic.check({ ...v, flags: 2 }, 0, ctx()), EINVAL);
  });

  it('random: lround(2^31 p), count = probability, printed with glibc’s %.11f', () => {
    expect(parse(o('mode', 'random'), o('probability', '0.5', true))).toEqual({
      mode: 0,
      flags: 1,
      every: 0x40000000,
      packet: 0,
      count: 0x40000000,
    });
    expect(probability(0x40000000)).toBe('0.50000000000');
    // 2^-12 = 0.000244140625 is a tie at 11 decimals: glibc rounds half to even.
    expect(probability(1 << 19)).toBe('0.00024414062');
    expect(probability(3 << 19)).toBe('0.00073242188');
    expect(probability(0xffffffff)).toBe('1.99999999953');
  });

  it('nth: every - 1, packet, count = every - packet; format adds 1 back', () => {
    const v = parse(o('mode', 'nth'), o('every', '3', true), o('packet', '1'));
    expect(v).toEqual({ mode: 1, flags: 1, every: 2, packet: 1, count: 1 });
    expect(statistic.format(v as never, 0)).toBe('--mode nth ! --every 3 --packet 1');
    expect(statistic.format({ mode: 1, flags: 0, every: 0xffffffff, packet: 0, count: 0 }, 0)).toBe(
      '--mode nth --every 0 --packet 0',
    );
    expect(statistic.format({ mode: 7, flags: 0, every: 0, packet: 0, count: 0 }, 0)).toBe('');
  });

  it('refuses what iptables refuses', () => {
    expect(() => parse(o('probability', '0.5'))).toThrow(/--mode is required/);
    expect(() => parse(o('mode', 'Random'), o('probability', '0.5'))).toThrow(/bad mode/);
    expect(() => parse(o('mode', 'random'))).toThrow(/--probability must be specified/);
    expect(() => parse(o('mode', 'random'), o('probability', '1.5'))).toThrow(/bad --probability/);
    expect(() => parse(o('mode', 'nth'), o('every', '3'))).toThrow(/need each other/);
    expect(() => parse(o('mode', 'nth'), o('every', '0'), o('packet', '0'))).toThrow(
      /out of range/,
    );
    expect(() => parse(o('mode', 'nth'), o('every', '3'), o('packet', '3'))).toThrow(/0 <= p/);
    expect(() => parse(o('mode', 'nth'), o('packet', '1', true), o('every', '3'))).toThrow(
      /cannot be inverted/,
    );
    expect(() =>
      parse(o('mode', 'random'), o('probability', '0.1'), o('every', '2'), o('packet', '0')),
    ).toThrow(/cannot be used with/);
  });
});
