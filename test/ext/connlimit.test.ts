import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/translate/ext/args.js';
import { connlimit, maskBits, type ConnlimitMatch } from '../../src/translate/ext/connlimit.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, hex, roundTrip, u32 } from './helpers.js';

const ONES = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff] as const;
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (...options: SaveOption[]): ConnlimitMatch =>
  connlimit.parse!(options, { proto: 0, invProto: false }).value as ConnlimitMatch;

describe('connlimit match (rev 1)', () => {
  it('mask[16], limit, flags; the 8-byte pointer after them is the kernel’s', () => {
    const v = { mask: [0xffffff00, 0, 0, 0] as const, limit: 7, flags: 3 };
    const b = hex('ffffff00 00000000 00000000 00000000 07000000 03000000 0000000000000000');
    expect([connlimit.dataSize(1), connlimit.userSize(1)]).toEqual([32, 24]);
    expect(connlimit.encode(v, 1)).toEqual(b);
    const dirty = Buffer.from(b);
    dirty.fill(0x5a, 24);
    expect(connlimit.decode(dirty, 1)).toEqual(v);
    expect(connlimit.format(v, 1)).toBe('--connlimit-upto 7 --connlimit-mask 24 --connlimit-daddr');
  });

  roundTrip(
    connlimit,
    fc.record({ mask: fc.tuple(u32(), u32(), u32(), u32()), limit: u32(), flags: u32() }),
    1,
  );

  it('check refuses nothing', () => {
    expect(() =>
      connlimit.check({ mask: [0, 0, 0, 0], limit: 0, flags: 0xffffffff }, 1, ctx()),
    ).not.toThrow();
  });

  it('format counts mask bits as count_bits4 (non-contiguous masks too)', () => {
    expect([0xffffffff, 0, 0xffffff00, 0xff00ff00, 0x00ffffff].map(maskBits)).toEqual([
      32, 0, 24, 8, 0,
    ]);
    expect(connlimit.format({ mask: ONES, limit: 4294967295, flags: 0 }, 1)).toBe(
      '--connlimit-above 4294967295 --connlimit-mask 32 --connlimit-saddr',
    );
  });

  it('parse: defaults, direction of the limit, masks as PLENMASK writes them', () => {
    expect(parse(opt('connlimit-above', ['2']))).toEqual({ mask: ONES, limit: 2, flags: 0 });
    expect(parse(opt('connlimit-above', ['2'], true))).toEqual({ mask: ONES, limit: 2, flags: 1 });
    expect(parse(opt('connlimit-upto', ['0x10']), opt('connlimit-daddr'))).toEqual({
      mask: ONES,
      limit: 16,
      flags: 3,
    });
    expect(parse(opt('connlimit-upto', ['1'], true)).flags).toBe(0);
    expect(parse(opt('connlimit-above', ['1']), opt('connlimit-mask', ['24'])).mask).toEqual([
      0xffffff00, 0, 0, 0,
    ]);
    expect(parse(opt('connlimit-above', ['1']), opt('connlimit-mask', ['0'])).mask).toEqual([
      0, 0, 0, 0,
    ]);
    expect(
      parse(opt('connlimit-above', ['1']), opt('connlimit-mask', ['255.255.0.0'])).mask,
    ).toEqual([0xffff0000, 0, 0, 0]);
    // A non-contiguous mask is length 255, which leaves the ones connlimit_init wrote.
    expect(
      parse(opt('connlimit-above', ['1']), opt('connlimit-mask', ['255.0.255.0'])).mask,
    ).toEqual(ONES);
    expect(parse(opt('connlimit-above', ['1']), opt('connlimit-mask', ['33'])).mask).toEqual(ONES);
  });

  it('parse refuses what libxt_connlimit refuses', () => {
    expect(() => parse()).toThrow(/is required/);
    expect(() => parse(opt('connlimit-above', ['1']), opt('connlimit-upto', ['1']))).toThrow(
      /exclude/,
    );
    expect(() =>
      parse(opt('connlimit-above', ['1']), opt('connlimit-saddr'), opt('connlimit-daddr')),
    ).toThrow(/exclude/);
    expect(() => parse(opt('connlimit-above', ['4294967296']))).toThrow(OptionError);
    expect(() => parse(opt('connlimit-above', ['1']), opt('connlimit-mask', ['1.2.3']))).toThrow(
      OptionError,
    );
    expect(() => parse(opt('connlimit-above', ['1']), opt('connlimit-daddr', [], true))).toThrow(
      /cannot be inverted/,
    );
  });
});
