import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL, ENAMETOOLONG } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { recent, type RecentMatch } from '../../src/translate/ext/recent.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, roundTrip, u32, u8 } from './helpers.js';

const ONES = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff] as const;
const base: RecentMatch = {
  seconds: 0,
  hitCount: 0,
  checkSet: 0x1,
  invert: 0,
  name: 'DEFAULT',
  side: 0,
  mask: ONES,
};
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (options: SaveOption[]): RecentMatch =>
  recent.parse!(options, { proto: 0, invProto: false }).value as RecentMatch;

/** A latin1 name of up to 200 bytes from printable ASCII, NUL-free. */
const name = fc.string({ maxLength: 40 }).map((s) => s.replace(/\0/g, ''));

describe('recent match', () => {
  it('revision 1 layout: u32 seconds, u32 hit_count, check_set, invert, name[200], side, mask', () => {
    const v: RecentMatch = {
      seconds: 60,
      hitCount: 4,
      checkSet: 0x14,
      invert: 1,
      name: 'ssh',
      side: 1,
      mask: [0xffffff00, 0, 0, 0],
    };
    const b = Buffer.alloc(232);
    b.writeUInt32LE(60, 0);
    b.writeUInt32LE(4, 4);
    b[8] = 0x14;
    b[9] = 1;
    b.write('ssh', 10, 'latin1');
    b[210] = 1;
    b.set([255, 255, 255, 0], 212);
    expect(recent.dataSize(1)).toBe(228);
    expect(recent.encode(v, 1)).toEqual(b);
    expect(recent.decode(b, 1)).toEqual(v);
    expect(recent.format(v, 1)).toBe(
      '! --update --seconds 60 --hitcount 4 --rttl --name ssh --mask 255.255.255.0 --rdest',
    );
  });

  it('revision 0 has no mask (212 bytes) and reads as the all-ones mask the kernel applies', () => {
    expect(recent.dataSize(0)).toBe(212);
    const v = { ...base, mask: [1, 2, 3, 4] as const };
    const b = recent.encode(v, 0);
    expect(b.length).toBe(216);
    expect(recent.decode(b, 0)).toEqual(base);
    expect(recent.format(base, 0)).toBe('--rcheck --name DEFAULT --rsource');
  });

  const values = (rev: number): fc.Arbitrary<RecentMatch> =>
    fc.record({
      seconds: u32(),
      hitCount: u32(),
      checkSet: u8(),
      invert: u8(),
      name,
      side: u8(),
      mask: rev === 0 ? fc.constant(ONES) : fc.tuple(u32(), u32(), u32(), u32()),
    });
  roundTrip(recent, values(0), 0);
  roundTrip(recent, values(1), 1);

  it('format prints seconds and hitcount as signed ints, and no side for other values', () => {
    const v = { ...base, seconds: 0xffffffff, hitCount: 0x80000000, side: 7 };
    expect(recent.format(v, 1)).toBe(
      '--rcheck --seconds -1 --hitcount -2147483648 --name DEFAULT --mask 255.255.255.255',
    );
  });

  it('check: the command and modifier rules of recent_mt_check (EINVAL)', () => {
    const ok = (v: Partial<RecentMatch>): void =>
      expect(() => recent.check({ ...base, ...v }, 1, ctx())).not.toThrow();
    const bad = (v: Partial<RecentMatch>, errno = EINVAL): void =>
      expectErrno(() => recent.check({ ...base, ...v }, 1, ctx()), errno);
    ok({ checkSet: 0x2 });
    ok({ checkSet: 0x4 | 0x10 | 0x20, seconds: 1, hitCount: 65535 });
    ok({ checkSet: 0x8, invert: 7, side: 9 });
    bad({ checkSet: 0x41 });
    bad({ checkSet: 0 });
    bad({ checkSet: 0x10 });
    bad({ checkSet: 0x3 });
    bad({ checkSet: 0x2, seconds: 1 });
    bad({ checkSet: 0x8, hitCount: 1 });
    bad({ checkSet: 0x2 | 0x10 });
    bad({ checkSet: 0x8 | 0x20, seconds: 5 });
    bad({ checkSet: 0x1 | 0x20 });
    bad({ hitCount: 65536 });
  });

  it('check: the list name must be a /proc entry name', () => {
    const bad = (n: string, errno: number): void =>
      expectErrno(() => recent.check({ ...base, name: n }, 1, ctx()), errno);
    bad('', EINVAL);
    bad('\0abc', EINVAL);
    bad('.', EINVAL);
    bad('..', EINVAL);
    bad('a/b', EINVAL);
    bad('x'.repeat(200), ENAMETOOLONG);
    expect(() => recent.check({ ...base, name: 'x'.repeat(199) }, 1, ctx())).not.toThrow();
    expect(() => recent.check({ ...base, name: '...' }, 1, ctx())).not.toThrow();
    expect(() => recent.check({ ...base, name: 'a\0/' }, 1, ctx())).not.toThrow();
  });

  it('parse: iptables defaults (DEFAULT, source side, all-ones mask), last side wins', () => {
    expect(parse([opt('set')])).toEqual({ ...base, checkSet: 0x2 });
    expect(
      parse([
        opt('rcheck', [], true),
        opt('rdest'),
        opt('rsource'),
        opt('seconds', ['0x10']),
        opt('reap'),
        opt('hitcount', ['0']),
        opt('rttl'),
        opt('name', ['ä'.repeat(150)]),
        opt('mask', ['255.255.0.0']),
      ]),
    ).toEqual({
      ...base,
      seconds: 16,
      checkSet: 0x31,
      invert: 1,
      name: Buffer.from('ä'.repeat(150), 'utf8').toString('latin1').slice(0, 199),
      mask: [0xffff0000, 0, 0, 0],
    });
    expect(parse([opt('remove'), opt('rsource'), opt('rdest')]).side).toBe(1);
    // The name is strncpy'd with one NUL over "DEFAULT": a shorter one leaves its tail behind.
    expect(parse([opt('set'), opt('name', ['a'])]).name).toBe('a\0FAULT');
    expect(parse([opt('set'), opt('name', ['abcde'])]).name).toBe('abcde\0T');
    expect(parse([opt('set'), opt('name', ['abcdef'])]).name).toBe('abcdef');
    expect(parse([opt('set'), opt('name', [''])]).name).toBe('\0EFAULT');
    expect(recent.format({ ...base, name: 'a\0FAULT' }, 1)).toContain('--name a --mask');
  });

  it('parse refuses what libxt_recent refuses, and leaves kernel refusals to check', () => {
    expect(() => parse([])).toThrow(OptionError);
    expect(() => parse([opt('set'), opt('rcheck')])).toThrow(/exactly one/);
    expect(() => parse([opt('set'), opt('rttl')])).toThrow(/--rttl/);
    expect(() => parse([opt('update'), opt('reap')])).toThrow(/--reap needs --seconds/);
    expect(() => parse([opt('update'), opt('seconds', ['0'])])).toThrow(/out of range/);
    expect(() => parse([opt('update'), opt('seconds', ['4294967296'])])).toThrow(/out of range/);
    expect(() => parse([opt('update'), opt('rttl', [], true)])).toThrow(/cannot be inverted/);
    expect(() => parse([opt('update'), opt('mask', ['255.255.0.0/8'])])).toThrow(/IPv4/);
    const v = parse([opt('set'), opt('seconds', ['5']), opt('hitcount', ['70000'])]);
    expectErrno(() => recent.check(v, 1, ctx()), EINVAL);
  });
});
