import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { tcpmss } from '../../src/translate/ext/tcpmss.js';
import { ctx, expectErrno, hex, pad, roundTrip, u16, u8 } from './helpers.js';

const P = { proto: 6, invProto: false };
const mss = (arg: string, invert = false) =>
  tcpmss.parse?.([{ name: 'mss', invert, args: [arg] }], P).value;

describe('tcpmss match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('6400 f401 01 00 0000');
    expect(tcpmss.decode(b, 0)).toEqual({ min: 100, max: 500, invert: 1 });
    expect(tcpmss.encode({ min: 100, max: 500, invert: 1 }, 0)).toEqual(b);
  });

  roundTrip(tcpmss, fc.record({ min: u16(), max: u16(), invert: u8(), pad: pad(1) }));

  it('needs -p tcp without ! (.proto), and nothing else', () => {
    const v = { min: 9, max: 1, invert: 3 };
    expect(() => tcpmss.check(v, 0, ctx({ proto: 6 }))).not.toThrow();
    expectErrno(() => tcpmss.check(v, 0, ctx({ proto: 17 })), EINVAL);
    expectErrno(() => tcpmss.check(v, 0, ctx({ proto: 6, invProto: true })), EINVAL);
  });

  it('parses value[:value] with open ends, as XTTYPE_UINT16RC', () => {
    expect(mss('1460')).toEqual({ min: 1460, max: 1460, invert: 0 });
    expect(mss('100:')).toEqual({ min: 100, max: 65535, invert: 0 });
    expect(mss(':500', true)).toEqual({ min: 0, max: 500, invert: 1 });
    expect(tcpmss.format({ min: 0, max: 500, invert: 1 }, 0)).toBe('! --mss 0:500');
    expect(() => mss('5:4')).toThrow(/invalid range/);
    expect(() => mss('1:2:3')).toThrow(/too many/);
    expect(() => mss('70000')).toThrow(/out of range/);
  });
});
