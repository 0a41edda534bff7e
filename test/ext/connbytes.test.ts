import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { connbytes } from '../../src/translate/ext/connbytes.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, hex, pad, roundTrip, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };
const MAX = 2n ** 64n - 1n;
const o = (name: string, arg: string, invert = false): SaveOption => ({
  name,
  invert,
  args: [arg],
});
const parse = (range: string, invert = false, mode = 'bytes', dir = 'both') =>
  connbytes.parse?.(
    [o('connbytes', range, invert), o('connbytes-mode', mode), o('connbytes-dir', dir)],
    P,
  ).value;

describe('connbytes match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('0a00000000000000 6400000000000000 01 02 000000000000');
    const v = { from: 10n, to: 100n, what: 1, direction: 2 };
    expect(connbytes.decode(b, 0)).toEqual(v);
    expect(connbytes.encode(v, 0)).toEqual(b);
  });

  const u64 = fc.bigInt({ min: 0n, max: MAX });
  roundTrip(connbytes, fc.record({ from: u64, to: u64, what: u8(), direction: u8(), pad: pad(6) }));

  it('refuses an unknown mode or direction (EINVAL)', () => {
    const v = { from: 0n, to: 0n, what: 2, direction: 2 };
    expect(() => connbytes.check(v, 0, ctx())).not.toThrow();
    expectErrno(() => connbytes.check({ ...v, what: 3 }, 0, ctx()), EINVAL);
    expectErrno(() => connbytes.check({ ...v, direction: 3 }, 0, ctx()), EINVAL);
  });

  it('stores ! as a swapped range and prints it back from from > to', () => {
    expect(parse('10:', true, 'avgpkt', 'reply')).toEqual({
      from: MAX,
      to: 10n,
      what: 2,
      direction: 1,
    });
    expect(connbytes.format({ from: MAX, to: 10n, what: 2, direction: 1 }, 0)).toBe(
      '! --connbytes 10 --connbytes-mode avgpkt --connbytes-dir reply',
    );
    // A one-value range loses its ! (nothing to swap), as in iptables.
    expect(parse('5:5', true)).toEqual({ from: 5n, to: 5n, what: 1, direction: 2 });
    expect(parse(':7')).toEqual({ from: 0n, to: 7n, what: 1, direction: 2 });
    expect(parse('7')).toEqual({ from: 7n, to: MAX, what: 1, direction: 2 });
    expect(connbytes.format({ from: 0n, to: 7n, what: 9, direction: 9 }, 0)).toBe(
      '--connbytes 0:7 --connbytes-mode unknown --connbytes-dir unknown',
    );
  });

  it('refuses what iptables refuses', () => {
    expect(() => parse('9:3')).toThrow(/should be less than/);
    expect(() => parse('1', false, 'Bytes')).toThrow(/unknown --connbytes-mode/);
    expect(() => parse('1', false, 'bytes', 'up')).toThrow(/unknown --connbytes-dir/);
    expect(() => connbytes.parse?.([o('connbytes', '1')], P)).toThrow(/are required/);
  });
});
