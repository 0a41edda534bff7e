import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { realm } from '../../src/translate/ext/realm.js';
import { ctx, expectErrno, hex, pad, roundTrip, u32, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };
const parse = (arg: string) => realm.parse?.([{ name: 'realm', invert: false, args: [arg] }], P);

describe('realm match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('05000000 ff000000 01 000000 00000000');
    expect(realm.decode(b, 0)).toEqual({ id: 5, mask: 0xff, invert: 1 });
    expect(realm.encode({ id: 5, mask: 0xff, invert: 1 }, 0)).toEqual(b);
  });

  roundTrip(realm, fc.record({ id: u32(), mask: u32(), invert: u8(), pad: pad(3) }));

  it('is refused from PREROUTING (.hooks), EINVAL', () => {
    const v = { id: 1, mask: 1, invert: 0 };
    expect(() => realm.check(v, 0, ctx({ hookMask: 0x1e }))).not.toThrow();
    expectErrno(() => realm.check(v, 0, ctx({ table: 'mangle', hookMask: 0x1f })), EINVAL);
  });

  it('maps names through rt_realms in both directions', () => {
    expect(parse('cosmos')?.value).toEqual({ id: 0, mask: 0xffffffff, invert: 0 });
    expect(realm.format({ id: 0, mask: 0xffffffff, invert: 1 }, 0)).toBe('! --realm cosmos');
    expect(realm.format({ id: 0, mask: 0xff, invert: 0 }, 0)).toBe('--realm 0x0/0xff');
    expect(realm.format({ id: 16, mask: 0xffffffff, invert: 0 }, 0)).toBe('--realm 0x10');
    expect(() => parse('inr.ac')).toThrow(/could not map name/);
    expect(() => parse('5/x')).toThrow(/bad integer/);
  });
});
