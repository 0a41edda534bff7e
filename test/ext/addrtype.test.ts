import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { addrtype, typeNames } from '../../src/translate/ext/addrtype.js';
import { OptionError } from '../../src/translate/ext/args.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, hex, roundTrip, u16, u32 } from './helpers.js';

const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const v1 = (source: number, dest: number, flags: number) => ({
  source,
  dest,
  flags,
  invertSource: 0,
  invertDest: 0,
});

describe('addrtype match', () => {
  it('revision 0: two u16 masks and two u32 inversions (12 bytes)', () => {
    const v = { source: 0x0004, dest: 0x0820, flags: 0, invertSource: 1, invertDest: 0x100 };
    const b = hex('0400 2008 01000000 00010000 00000000');
    expect(addrtype.dataSize(0)).toBe(12);
    expect(addrtype.encode(v, 0)).toEqual(b);
    expect(addrtype.decode(b, 0)).toEqual(v);
    // Any non-zero inversion prints "!", as addrtype_save_v0 tests the whole u32.
    expect(addrtype.format(v, 0)).toBe('! --src-type LOCAL ! --dst-type MULTICAST,XRESOLVE');
  });

  it('revision 1: two u16 masks and a u32 of flags (8 bytes)', () => {
    const v = v1(0x000c, 0x0002, 0x6);
    const b = hex('0c00 0200 06000000');
    expect(addrtype.dataSize(1)).toBe(8);
    expect(addrtype.encode(v, 1)).toEqual(b);
    expect(addrtype.decode(b, 1)).toEqual(v);
    expect(addrtype.format(v, 1)).toBe(
      '--src-type LOCAL,BROADCAST ! --dst-type UNICAST --limit-iface-in',
    );
  });

  roundTrip(
    addrtype,
    fc.record({
      source: u16(),
      dest: u16(),
      flags: fc.constant(0),
      invertSource: u32(),
      invertDest: u32(),
    }),
    0,
  );
  roundTrip(
    addrtype,
    fc.record({
      source: u16(),
      dest: u16(),
      flags: u32(),
      invertSource: fc.constant(0),
      invertDest: fc.constant(0),
    }),
    1,
  );

  it('format leaves out the names of bits 12-15 and a side whose mask is 0', () => {
    expect(typeNames(0xf000)).toBe('');
    expect(addrtype.format(v1(0xf000, 0, 0x1), 1)).toBe('! --src-type ');
    expect(addrtype.format(v1(0, 0x1000, 0x1), 1)).toBe('--dst-type ');
    expect(addrtype.format(v1(0, 0, 0x8), 1)).toBe('--limit-iface-out');
  });

  it('check: both limits, or a limit on the wrong side of the stack, is EINVAL (rev 1)', () => {
    const IN = 1 << 1;
    const FWD = 1 << 2;
    const OUT = 1 << 3;
    const PRE = 1 << 0;
    const POST = 1 << 4;
    expectErrno(() => addrtype.check(v1(4, 0, 0xc), 1, ctx({ hookMask: FWD })), EINVAL);
    for (const h of [IN, PRE, IN | FWD]) {
      expectErrno(() => addrtype.check(v1(4, 0, 0x8), 1, ctx({ hookMask: h })), EINVAL);
    }
    for (const h of [OUT, POST, OUT | FWD]) {
      expectErrno(() => addrtype.check(v1(4, 0, 0x4), 1, ctx({ hookMask: h })), EINVAL);
    }
    expect(() => addrtype.check(v1(4, 0, 0x4), 1, ctx({ hookMask: IN | PRE | FWD }))).not.toThrow();
    expect(() =>
      addrtype.check(v1(4, 0, 0x8), 1, ctx({ hookMask: OUT | POST | FWD })),
    ).not.toThrow();
    // Unknown flag bits and empty masks are not refused.
    expect(() => addrtype.check(v1(0, 0, 0xfff0), 1, ctx())).not.toThrow();
  });

  it('check: revision 0 has no checkentry', () => {
    const v = { source: 4, dest: 0, flags: 0, invertSource: 0xc, invertDest: 0xc };
    expect(() => addrtype.check(v, 0, ctx({ hookMask: 0x1f }))).not.toThrow();
  });

  it('parse: names are case-insensitive prefixes, first in RTN order; revision 1', () => {
    const use = addrtype.parse!(
      [opt('src-type', ['u,uni,LOC,b,Multi,x,bl']), opt('dst-type', ['THROW'], true)],
      { proto: 0, invProto: false },
    );
    expect(use.revision).toBe(1);
    // u = UNSPEC, uni = UNICAST, b = BROADCAST, x = XRESOLVE, bl = BLACKHOLE
    expect(use.value).toEqual(v1(0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x800 | 0x40, 0x200, 0x2));
  });

  it('parse refuses what libxt_addrtype refuses', () => {
    const p = (options: SaveOption[]): unknown =>
      addrtype.parse!(options, { proto: 0, invProto: false });
    expect(() => p([opt('limit-iface-in', [])])).toThrow(OptionError);
    expect(() => p([opt('src-type', ['LOCAL,'])])).toThrow(/bad type ""/);
    expect(() => p([opt('src-type', [',LOCAL'])])).toThrow(/bad type ""/);
    expect(() => p([opt('src-type', ['LOCALX'])])).toThrow(/bad type "LOCALX"/);
    expect(() =>
      p([opt('src-type', ['LOCAL']), opt('limit-iface-in'), opt('limit-iface-out')]),
    ).toThrow(/exclude/);
    expect(() => p([opt('src-type', ['LOCAL']), opt('limit-iface-in', [], true)])).toThrow(
      /cannot be inverted/,
    );
  });
});
