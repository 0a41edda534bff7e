import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { quota } from '../../src/translate/ext/quota.js';
import { ctx, expectErrno, hex, roundTrip, u32 } from './helpers.js';

const P = { proto: 0, invProto: false };

describe('quota match (rev 0)', () => {
  it('flags, pad and the u64 quota are user data; the master pointer is zeroed', () => {
    expect([quota.dataSize(0), quota.userSize(0)]).toEqual([24, 16]);
    const b = hex('01000000 a5a5a5a5 e803000000000000 ffffffffffffffff');
    const v = { flags: 1, pad: 0xa5a5a5a5, quota: 1000n };
    expect(quota.decode(b, 0)).toEqual(v);
    expect(quota.encode(v, 0)).toEqual(hex('01000000 a5a5a5a5 e803000000000000 0000000000000000'));
  });

  roundTrip(
    quota,
    fc.record({ flags: u32(), pad: u32(), quota: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  );

  it('refuses unknown flags (EINVAL)', () => {
    expect(() => quota.check({ flags: 1, pad: 7, quota: 0n }, 0, ctx())).not.toThrow();
    expectErrno(() => quota.check({ flags: 2, pad: 0, quota: 0n }, 0, ctx()), EINVAL);
  });

  it('parses and formats u64 byte counts', () => {
    const max = quota.parse?.([{ name: 'quota', invert: true, args: ['18446744073709551615'] }], P);
    expect(max?.value).toEqual({ flags: 1, pad: 0, quota: 2n ** 64n - 1n });
    expect(quota.format({ flags: 1, pad: 0, quota: 2n ** 64n - 1n }, 0)).toBe(
      '! --quota 18446744073709551615',
    );
    expect(() =>
      quota.parse?.([{ name: 'quota', invert: false, args: ['18446744073709551616'] }], P),
    ).toThrow(/out of range/);
    expect(() => quota.parse?.([], P)).toThrow(/--quota is required/);
  });
});
