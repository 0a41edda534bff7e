import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { parseTests, u32, type U32Match, type U32Test } from '../../src/translate/ext/u32.js';
import { ctx, expectErrno, roundTrip, u32 as u32n, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };
const test = (over: Partial<U32Test>): U32Test => ({
  location: [],
  value: [],
  nnums: 0,
  nvalues: 0,
  ...over,
});

/** Arrays without trailing all-zero slots, as decode gives them. */
function noTrailingZeros<T>(items: T[], zero: (t: T) => boolean): T[] {
  let n = items.length;
  while (n > 0 && zero(items[n - 1] as T)) n--;
  return items.slice(0, n);
}
const arbTest: fc.Arbitrary<U32Test> = fc.record({
  location: fc
    .array(fc.record({ number: u32n(), nextop: u8() }), { maxLength: 11 })
    .map((l) => noTrailingZeros(l, (x) => x.number === 0 && x.nextop === 0)),
  value: fc
    .array(fc.record({ min: u32n(), max: u32n() }), { maxLength: 11 })
    .map((l) => noTrailingZeros(l, (x) => x.min === 0 && x.max === 0)),
  nnums: u8(),
  nvalues: u8(),
});
const arb: fc.Arbitrary<U32Match> = fc
  .record({
    tests: fc
      .array(arbTest, { maxLength: 11 })
      .map((t) =>
        noTrailingZeros(t, (x) => x.location.length + x.value.length + x.nnums + x.nvalues === 0),
      ),
    ntests: u8(),
    invert: u8(),
    padding: fc.option(
      fc.uint8Array({ minLength: 387, maxLength: 387 }).filter((p) => p.some((x) => x !== 0)),
      { nil: undefined },
    ),
  })
  .map(({ padding, ...v }) =>
    padding === undefined ? v : { ...v, padding: Buffer.from(padding) },
  );

describe('u32 match (rev 0)', () => {
  it('has the UAPI size: 11 tests of 11 locations and 11 ranges', () => {
    expect([u32.dataSize(0), u32.userSize(0)]).toEqual([1984, 1984]);
    const v: U32Match = {
      tests: [
        test({
          location: [
            { number: 6, nextop: 0 },
            { number: 0xff, nextop: 0 },
          ],
          value: [{ min: 1, max: 1 }],
          nnums: 2,
          nvalues: 1,
        }),
      ],
      ntests: 1,
      invert: 1,
    };
    const b = u32.encode(v, 0);
    expect(b.toString('hex', 0, 16)).toBe('0600000000000000ff00000000000000');
    expect(b.toString('hex', 88, 96)).toBe('0100000001000000');
    expect([b[176], b[177], b[1980], b[1981]]).toEqual([2, 1, 1, 1]);
    expect(u32.decode(b, 0)).toEqual(v);
  });

  roundTrip(u32, arb);

  it('keeps non-zero padding bytes, which the kernel returns as given', () => {
    const b = Buffer.alloc(1984);
    b[5] = 0xaa; // after location[0].nextop
    b[1983] = 0xbb; // after invert
    const v = u32.decode(b, 0);
    expect(v.padding?.[0]).toBe(0xaa);
    expect(u32.encode(v, 0)).toEqual(b);
  });

  it('refuses more than 11 tests, numbers or ranges (EINVAL), as u32_mt_checkentry', () => {
    const ok: U32Match = { tests: [test({ nnums: 11, nvalues: 11 })], ntests: 11, invert: 0 };
    expect(() => u32.check(ok, 0, ctx())).not.toThrow();
    expectErrno(() => u32.check({ ...ok, ntests: 12 }, 0, ctx()), EINVAL);
    expectErrno(() => u32.check({ ...ok, tests: [test({ nnums: 12 })] }, 0, ctx()), EINVAL);
    expectErrno(() => u32.check({ ...ok, tests: [test({ nvalues: 12 })] }, 0, ctx()), EINVAL);
    // A shift by 32 or more (undefined in C) is refused too; other operators take any number.
    const shift = (nextop: number, number: number): U32Match => ({
      ...ok,
      tests: [
        test({
          location: [
            { number: 0, nextop: 0 },
            { number, nextop },
          ],
          nnums: 2,
        }),
      ],
    });
    expectErrno(() => u32.check(shift(1, 32), 0, ctx()), EINVAL);
    expectErrno(() => u32.check(shift(2, 0xffffffff), 0, ctx()), EINVAL);
    expect(() => u32.check(shift(2, 31), 0, ctx())).not.toThrow();
    expect(() => u32.check(shift(0, 32), 0, ctx())).not.toThrow();
    expect(() => u32.check(shift(3, 32), 0, ctx())).not.toThrow();
    // Tests past ntests are not looked at.
    const later = { ...ok, ntests: 1, tests: [test({}), test({ nnums: 200 })] };
    expect(() => u32.check(later, 0, ctx())).not.toThrow();
  });

  it('parses the u32 language and prints it back as u32_dump', () => {
    const v = u32.parse?.(
      [{ name: 'u32', invert: true, args: [' 0 >> 22 & 0x3C @ 12 = 0x45 , 6:017 && 4<<1 = 0'] }],
      P,
    ).value as U32Match;
    expect(v.tests[0]).toEqual(
      test({
        location: [
          { number: 0, nextop: 0 },
          { number: 22, nextop: 2 },
          { number: 0x3c, nextop: 0 },
          { number: 12, nextop: 3 },
        ],
        value: [
          { min: 0x45, max: 0x45 },
          { min: 6, max: 15 },
        ],
        nnums: 4,
        nvalues: 2,
      }),
    );
    expect(u32.format(v, 0)).toBe('! --u32 "0x0>>0x16&0x3c@0xc=0x45,0x6:0xf&&0x4<<0x1=0x0"');
  });

  it('refuses what libxt_u32 refuses (10 of each at most)', () => {
    const many = (n: number, f: (i: number) => string, sep: string): string =>
      Array.from({ length: n }, (_, i) => f(i + 1)).join(sep);
    expect(parseTests(many(10, (i) => `${i}=${i}`, '&&'))).toHaveLength(10);
    expect(() => parseTests(many(11, (i) => `${i}=${i}`, '&&'))).toThrow(/too many "&&"s/);
    expect(() => parseTests(`${many(11, () => '1', '&')}=1`)).toThrow(/too many operators/);
    expect(() => parseTests(`1=${many(11, (i) => String(i), ',')}`)).toThrow(/too many ","s/);
    for (const [bad, why] of [
      ['=1', /location spec missing/],
      ['1', /abrupt end/],
      ['1=', /no value specified/],
      ['1<2=3', /second '<'/],
      ['1=2&3', /second '&'/],
      ['1=2 3', /expected ","/],
      ['1 2=3', /operator expected/],
      ['1=0x100000000', /out of range/],
    ] as const) {
      expect(() => parseTests(bad)).toThrow(why);
    }
  });
});
