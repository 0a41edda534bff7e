import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { mac, parseMac } from '../../src/translate/ext/mac.js';
import { ctx, expectErrno, hex, roundTrip, u32, u8 } from './helpers.js';

describe('mac match', () => {
  it('six address bytes, two of padding, an int invert (12 bytes)', () => {
    const v = { srcaddr: [0x00, 0x11, 0x22, 0xaa, 0xbb, 0x0c], invert: 1 };
    const b = hex('001122aabb0c0000 01000000 00000000');
    expect(mac.dataSize(0)).toBe(12);
    expect(mac.encode(v, 0)).toEqual(b);
    expect(mac.decode(b, 0)).toEqual(v);
    expect(mac.format(v, 0)).toBe('! --mac-source 00:11:22:aa:bb:0c');
    expect(mac.format({ ...v, invert: 0x100 }, 0)).toMatch(/^! /);
  });

  roundTrip(
    mac,
    fc.record({ srcaddr: fc.array(u8(), { minLength: 6, maxLength: 6 }), invert: u32() }),
  );

  it('check: only PREROUTING, INPUT and FORWARD (EINVAL elsewhere)', () => {
    const v = { srcaddr: [1, 2, 3, 4, 5, 6], invert: 0 };
    expect(() => mac.check(v, 0, ctx({ hookMask: 0b00111 }))).not.toThrow();
    expectErrno(() => mac.check(v, 0, ctx({ hookMask: 1 << 3 })), EINVAL);
    expectErrno(() => mac.check(v, 0, ctx({ hookMask: (1 << 1) | (1 << 4) })), EINVAL);
  });

  it('parses addresses as xtopt_parse_ethermac does', () => {
    expect(parseMac('00:11:22:AA:bb:C', 'x')).toEqual([0, 0x11, 0x22, 0xaa, 0xbb, 0xc]);
    // Each field is what strtoul(…, 16) consumes in at most two characters.
    expect(parseMac('-1:+a::0:1:B', 'x')).toEqual([0xff, 0x0a, 0, 0, 1, 0x0b]);
    expect(parseMac(':::::', 'x')).toEqual([0, 0, 0, 0, 0, 0]);
    for (const bad of [
      '0x:11:22:33:44:55',
      '00:11:22:33:44',
      '00:11:22:33:44:55:66',
      '1:2:3:4:5:666',
      'g:1:2:3:4:5',
      '+:1:2:3:4:5',
    ]) {
      expect(() => parseMac(bad, 'x')).toThrow(OptionError);
    }
  });

  it('parse: --mac-source is required; `!` sets invert to 1', () => {
    const p = (invert: boolean) =>
      mac.parse!([{ name: 'mac-source', invert, args: ['0:1:2:3:4:5'] }], {
        proto: 0,
        invProto: false,
      });
    expect(p(true)).toMatchObject({
      revision: 0,
      value: { srcaddr: [0, 1, 2, 3, 4, 5], invert: 1 },
    });
    expect(p(false).value).toEqual({ srcaddr: [0, 1, 2, 3, 4, 5], invert: 0 });
    expect(() => mac.parse!([], { proto: 0, invProto: false })).toThrow(/required/);
  });
});
