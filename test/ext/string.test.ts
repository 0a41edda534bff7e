import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL, ENOENT } from '../../src/translate/errno.js';
import { hexPattern, string, type StringMatch } from '../../src/translate/ext/string.js';
import { bmTables, kernelToUpper, kmpTables } from '../../src/translate/ext/textsearch.js';
import { Unsupported } from '../../src/bpf/codegen/eval.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, roundTrip, u16, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };
const o = (name: string, arg?: string, invert = false): SaveOption => ({
  name,
  invert,
  args: arg === undefined ? [] : [arg],
});
const V: StringMatch = {
  from: 0,
  to: 0xffff,
  algo: 'bm',
  pattern: 'abc',
  patlen: 3,
  flags: 0,
  pad: 0,
};
const latin1 = (max: number): fc.Arbitrary<string> =>
  fc
    .string({ maxLength: max, unit: u8().map((c) => String.fromCharCode(c)) })
    .map((s) => s.replace(/\0+$/, ''));

describe('string match (rev 1)', () => {
  it('user data ends at the config pointer (152 of 160 bytes)', () => {
    expect([string.dataSize(1), string.userSize(1), string.revisions]).toEqual([160, 152, [1]]);
    const b = string.encode({ ...V, pad: 0x0102 }, 1);
    expect(b.toString('hex', 0, 8)).toBe('0000ffff626d0000');
    expect(b.toString('hex', 20, 23)).toBe('616263');
    expect([b[148], b[149], b[150], b[151]]).toEqual([3, 0, 2, 1]);
    const dirty = Buffer.from(b);
    dirty.fill(0xa5, 152);
    expect(string.decode(dirty, 1)).toEqual({ ...V, pad: 0x0102 });
  });

  roundTrip(
    string,
    fc.record({
      from: u16(),
      to: u16(),
      algo: latin1(16),
      pattern: latin1(128),
      patlen: u8(),
      flags: u8(),
      pad: u16(),
    }),
    1,
  );

  it('checks as string_mt_check, then textsearch_prepare', () => {
    expect(() => string.check(V, 1, ctx())).not.toThrow();
    expectErrno(() => string.check({ ...V, from: 2, to: 1 }, 1, ctx()), EINVAL);
    expectErrno(() => string.check({ ...V, algo: 'b'.repeat(16) }, 1, ctx()), EINVAL);
    expectErrno(() => string.check({ ...V, patlen: 129 }, 1, ctx()), EINVAL);
    expectErrno(() => string.check({ ...V, flags: 4 }, 1, ctx()), EINVAL);
    expectErrno(() => string.check({ ...V, patlen: 0 }, 1, ctx()), EINVAL);
    expectErrno(() => string.check({ ...V, algo: 'BM' }, 1, ctx()), ENOENT);
    // fsm takes 4-byte tokens and no --icase.
    const tok = '\x00\x00\x00A';
    expect(() =>
      string.check({ ...V, algo: 'fsm', pattern: tok, patlen: 4 }, 1, ctx()),
    ).not.toThrow();
    expectErrno(() => string.check({ ...V, algo: 'fsm' }, 1, ctx()), EINVAL);
    expectErrno(
      () => string.check({ ...V, algo: 'fsm', pattern: tok, patlen: 4, flags: 2 }, 1, ctx()),
      EINVAL,
    );
  });

  it('formats as string_save: quoted text, or hex when unprintable or ending in a backslash', () => {
    expect(string.format(V, 1)).toBe('--string "abc" --algo bm');
    const q = { ...V, algo: 'kmp', pattern: 'a"b\\c', patlen: 5, flags: 3, from: 10, to: 100 };
    expect(string.format(q, 1)).toBe(
      '! --string "a\\"b\\\\c" --algo kmp --from 10 --to 100 --icase',
    );
    expect(string.format({ ...V, pattern: 'ab\\' }, 1)).toBe('--hex-string "|61625c|" --algo bm');
    expect(string.format({ ...V, pattern: '\r\n', patlen: 3 }, 1)).toBe(
      '--hex-string "|0d0a00|" --algo bm',
    );
  });

  it('parses --hex-string with libxt_string’s quirks', () => {
    expect(hexPattern('|41||42|', 'w')).toBe('A|42');
    expect(hexPattern('a\\|b|0d 0a|c', 'w')).toBe('a|b\r\nc');
    expect(hexPattern('| 41 |', 'w')).toBe('A');
    expect(() => hexPattern('', 'w')).toThrow(/at least one char/);
    expect(() => hexPattern('|4|', 'w')).toThrow(/invalid hex block/);
    expect(() => hexPattern('|4', 'w')).toThrow(/odd number/);
    expect(() => hexPattern('|4g|', 'w')).toThrow(/invalid hex char/);
    expect(() => hexPattern('|41\\|', 'w')).toThrow(/literals in hex/);
    expect(() => hexPattern('ab\\', 'w')).toThrow(/bad literal/);
    expect(() => hexPattern('x'.repeat(129), 'w')).toThrow(/too long/);
  });

  it('parses options as iptables (rev 1, to = 65535 by default, algo cut to 15 bytes)', () => {
    const v = string.parse?.([o('algo', 'a'.repeat(20)), o('string', 'x', true), o('icase')], P);
    expect(v?.revision).toBe(1);
    expect(v?.value).toEqual({ ...V, algo: 'a'.repeat(15), pattern: 'x', patlen: 1, flags: 3 });
    expect(() => string.parse?.([o('string', 'x')], P)).toThrow(/--algo is required/);
    expect(() => string.parse?.([o('algo', 'bm')], P)).toThrow(/--string or --hex-string/);
    expect(() => string.parse?.([o('algo', 'bm'), o('string', 'x'.repeat(129))], P)).toThrow(
      /too long/,
    );
    expect(() =>
      string.parse?.([o('algo', 'bm'), o('string', 'x'), o('hex-string', '|41|')], P),
    ).toThrow(/cannot be used together/);
  });
});

describe('string match: what the engine records', () => {
  it("folds case with the kernel's Latin-1 ctype, which is not idempotent", () => {
    expect([0x61, 0x7a, 0xe9, 0xdf, 0xff, 0xf7, 0x41, 0xbf].map(kernelToUpper)).toEqual([
      0x41, 0x5a, 0xc9, 0xbf, 0xdf, 0xf7, 0x41, 0xbf,
    ]);
  });

  it('builds ts_bm tables as bm_init does (bad shift by last occurrence, good shift by suffix)', () => {
    const t = bmTables(Buffer.from('abcab'), false);
    expect([t.badShift[0x61], t.badShift[0x62], t.badShift[0x63], t.badShift[0x7a]]).toEqual([
      1, 3, 2, 5,
    ]);
    // "b" alone recurs only after an "a" like its own: no shift for it; "ab" recurs at 0
    expect(t.goodShift).toEqual([1, 5, 3, 3, 3]);
    // --icase: the upper-cased pattern, and bad shifts for the lower case too
    const i = bmTables(Buffer.from('aB'), true);
    expect(i.pattern.toString('latin1')).toBe('AB');
    expect([i.badShift[0x41], i.badShift[0x61], i.badShift[0x42]]).toEqual([1, 1, 2]);
  });

  it('builds the ts_kmp prefix table', () => {
    expect(kmpTables(Buffer.from('abab'), false).prefix).toEqual([0, 0, 1, 2]);
    expect(kmpTables(Buffer.from('aAb'), true)).toEqual({
      pattern: Buffer.from('AAB'),
      prefix: [0, 1, 0],
    });
  });

  it('refuses an algorithm the engine does not run (fsm) with Unsupported', () => {
    const v = { from: 0, to: 65535, algo: 'fsm', pattern: 'ab', patlen: 2, flags: 0, pad: 0 };
    expect(() => string.engine?.record(v, 1, { hz: 250, stateSlot: () => 0 })).toThrow(Unsupported);
  });
});
