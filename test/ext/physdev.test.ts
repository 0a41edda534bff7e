import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { physdev, type PhysdevMatch } from '../../src/translate/ext/physdev.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, roundTrip, u8 } from './helpers.js';

const zero16 = Array<number>(16).fill(0);
const mask = (n: number): number[] => zero16.map((_, i) => (i < n ? 0xff : 0));
const none: PhysdevMatch = {
  physindev: '',
  inMask: zero16,
  physoutdev: '',
  outMask: zero16,
  invert: 0,
  bitmask: 0,
};
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (...options: SaveOption[]): PhysdevMatch =>
  physdev.parse!(options, { proto: 0, invProto: false }).value as PhysdevMatch;
const OUTPUT = ctx({ hookMask: 1 << 3 });

describe('physdev match', () => {
  it('four 16-byte fields, invert and bitmask (66 bytes)', () => {
    const v = {
      ...none,
      physindev: 'eth+',
      inMask: mask(3),
      invert: 0x02,
      bitmask: 0x03,
      physoutdev: 'br0',
      outMask: mask(4),
    };
    const b = physdev.encode(v, 0);
    expect(physdev.dataSize(0)).toBe(66);
    expect(b.length).toBe(72);
    expect(b.toString('latin1', 0, 4)).toBe('eth+');
    expect([...b.subarray(16, 20)]).toEqual([0xff, 0xff, 0xff, 0]);
    expect(b.toString('latin1', 32, 35)).toBe('br0');
    expect([b[64], b[65]]).toEqual([2, 3]);
    expect(physdev.decode(b, 0)).toEqual(v);
    expect(physdev.format(v, 0)).toBe('--physdev-in eth+ ! --physdev-out br0');
  });

  const bytes16 = fc.array(u8(), { minLength: 16, maxLength: 16 });
  const name = fc.string({ maxLength: 16 }).map((s) => s.replace(/\0+$/, ''));
  roundTrip(
    physdev,
    fc.record({
      physindev: name,
      inMask: bytes16,
      physoutdev: name,
      outMask: bytes16,
      invert: u8(),
      bitmask: u8(),
    }),
  );

  it('check: a known, non-empty bitmask; out tests from OUTPUT only when bridged (EINVAL)', () => {
    const ok = (v: Partial<PhysdevMatch>, c = ctx()): void =>
      expect(() => physdev.check({ ...none, ...v }, 0, c)).not.toThrow();
    const bad = (v: Partial<PhysdevMatch>, c = ctx()): void =>
      expectErrno(() => physdev.check({ ...none, ...v }, 0, c), EINVAL);
    bad({ bitmask: 0 });
    bad({ bitmask: 0x21 });
    bad({ bitmask: 0x20 });
    ok({ bitmask: 0x1f, invert: 0xff });
    ok({ bitmask: 0x02 }, ctx({ hookMask: (1 << 2) | (1 << 4) }));
    bad({ bitmask: 0x02 }, OUTPUT);
    bad({ bitmask: 0x10 }, OUTPUT);
    ok({ bitmask: 0x16 }, OUTPUT);
    bad({ bitmask: 0x16, invert: 0x04 }, OUTPUT);
    ok({ bitmask: 0x0d, invert: 0x04 }, OUTPUT);
  });

  it('parse: interfaces as xtables_parse_interface reads them, one bit per option', () => {
    expect(
      parse(
        opt('physdev-in', ['eth+']),
        opt('physdev-out', ['veth0'], true),
        opt('physdev-is-in'),
        opt('physdev-is-out', [], true),
        opt('physdev-is-bridged'),
      ),
    ).toEqual({
      physindev: 'eth+',
      inMask: mask(3),
      physoutdev: 'veth0',
      outMask: mask(6),
      invert: 0x12,
      bitmask: 0x1f,
    });
    expect(parse(opt('physdev-in', ['']))).toEqual({ ...none, bitmask: 1 });
    expect(parse(opt('physdev-is-bridged', [], true))).toEqual({ ...none, bitmask: 4, invert: 4 });
  });

  it('parse refuses what libxt_physdev refuses', () => {
    expect(() => parse()).toThrow(/no physdev option/);
    expect(() => parse(opt('physdev-in', ['x'.repeat(16)]))).toThrow(OptionError);
    expect(() => parse(opt('physdev-in', ['a']), opt('physdev-in', ['b']))).toThrow(
      /more than once/,
    );
  });

  it('format prints the tests in physdev_save order, names as C strings', () => {
    const v = { ...none, physindev: 'a\0b', physoutdev: 'c', invert: 0x1f, bitmask: 0x1f };
    expect(physdev.format(v, 0)).toBe(
      '! --physdev-is-in ! --physdev-in a ! --physdev-is-out ! --physdev-out c ! --physdev-is-bridged',
    );
  });
});
