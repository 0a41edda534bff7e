// esp, ah and ipcomp: one layout (u32 spis[2], u8 invflags[, u8 hdrres]) and one syntax.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { ah } from '../../src/translate/ext/ah.js';
import { esp } from '../../src/translate/ext/esp.js';
import { ipcomp } from '../../src/translate/ext/ipcomp.js';
import { ctx, expectErrno, hex, pad, roundTrip, u32, u8 } from './helpers.js';

const spiArb = fc.record({ spis: fc.tuple(u32(), u32()), invflags: u8(), pad: pad(3) });

describe('esp and ah matches (rev 0)', () => {
  for (const [ext, proto, opt] of [
    [esp, 50, 'espspi'],
    [ah, 51, 'ahspi'],
  ] as const) {
    describe(ext.name, () => {
      roundTrip(ext, spiArb);

      it('decodes and encodes a hand-built payload', () => {
        const b = hex('05000000 ffff0000 01 000000 00000000');
        const v = { spis: [5, 0xffff] as const, invflags: 1 };
        expect(ext.decode(b, 0)).toEqual(v);
        expect(ext.encode(v, 0)).toEqual(b);
        expect(ext.dataSize(0)).toBe(12);
      });

      it(`needs -p ${proto} and no unknown invflags (EINVAL)`, () => {
        const v = { spis: [9, 1] as const, invflags: 1 };
        expect(() => ext.check(v, 0, ctx({ proto }))).not.toThrow();
        expectErrno(() => ext.check(v, 0, ctx({ proto: 6 })), EINVAL);
        expectErrno(() => ext.check(v, 0, ctx({ proto, invProto: true })), EINVAL);
        expectErrno(() => ext.check({ ...v, invflags: 2 }, 0, ctx({ proto })), EINVAL);
      });

      it('parses and formats as iptables (default and full range print nothing)', () => {
        const P = { proto, invProto: false };
        const parse = (arg?: string, invert = false) =>
          ext.parse?.(arg === undefined ? [] : [{ name: opt, invert, args: [arg] }], P).value;
        expect(parse()).toEqual({ spis: [0, 0xffffffff], invflags: 0 });
        expect(parse('7')).toEqual({ spis: [7, 7], invflags: 0 });
        expect(parse('7:', true)).toEqual({ spis: [7, 0xffffffff], invflags: 1 });
        expect(ext.format({ spis: [7, 9], invflags: 1 }, 0)).toBe(`! --${opt} 7:9`);
        expect(ext.format({ spis: [7, 7], invflags: 0 }, 0)).toBe(`--${opt} 7`);
        expect(ext.format({ spis: [0, 0xffffffff], invflags: 1 }, 0)).toBe('');
        expect(() => parse('4294967296')).toThrow(/out of range/);
      });
    });
  }
});

describe('ipcomp match (rev 0)', () => {
  roundTrip(
    ipcomp,
    fc.record({ spis: fc.tuple(u32(), u32()), invflags: u8(), hdrres: u8(), pad: pad(2) }),
  );

  it('keeps hdrres at byte 9 and defaults the range to [0, 0] (no init in libxt_ipcomp)', () => {
    const b = hex('00000000 00000000 00 01 0000 00000000');
    const v = ipcomp.parse?.([{ name: 'compres', invert: false, args: [] }], {
      proto: 108,
      invProto: false,
    }).value;
    expect(v).toEqual({ spis: [0, 0], invflags: 0, hdrres: 1 });
    expect(ipcomp.encode(v as never, 0)).toEqual(b);
    expect(ipcomp.format({ spis: [0, 0], invflags: 0, hdrres: 1 }, 0)).toBe(
      '--ipcompspi 0 --compres',
    );
  });

  it('needs -p 108 and no unknown invflags (EINVAL)', () => {
    const v = { spis: [1, 2] as const, invflags: 1, hdrres: 5 };
    expect(() => ipcomp.check(v, 0, ctx({ proto: 108 }))).not.toThrow();
    expectErrno(() => ipcomp.check(v, 0, ctx({ proto: 50 })), EINVAL);
    expectErrno(() => ipcomp.check({ ...v, invflags: 0x80 }, 0, ctx({ proto: 108 })), EINVAL);
  });
});
