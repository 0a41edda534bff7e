import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL, ENAMETOOLONG, ERANGE } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import {
  hashlimit,
  user2credits,
  user2creditsByte,
  type HashlimitMatch,
} from '../../src/translate/ext/hashlimit.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { HASHLIMIT } from './fixtures.js';
import { ctx, expectErrno, roundTrip, u32, u8 } from './helpers.js';

const base = HASHLIMIT;
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (...options: SaveOption[]): HashlimitMatch =>
  hashlimit.parse!(options, { proto: 0, invProto: false }).value as HashlimitMatch;
const u64 = (): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const name = (max: number): fc.Arbitrary<string> =>
  fc.string({ maxLength: max }).map((s) => s.replace(/\0+$/, ''));

describe('hashlimit match', () => {
  it('sizes: the htable pointer after usersize is the kernel’s', () => {
    expect([1, 2, 3].map((r) => [hashlimit.dataSize(r), hashlimit.userSize(r)])).toEqual([
      [56, 48],
      [304, 296],
      [312, 304],
    ]);
  });

  it('revision 1: name[16] and a u32 cfg; private bytes zeroed and ignored', () => {
    const v = {
      ...base,
      mode: 0x15,
      avg: 2000n,
      burst: 10n,
      size: 7,
      max: 8,
      srcmask: 24,
      dstmask: 16,
    };
    const b = hashlimit.encode(v, 1);
    expect(b.toString('latin1', 0, 1)).toBe('h');
    expect([b.readUInt32LE(16), b.readUInt32LE(20), b.readUInt32LE(24), b[44], b[45]]).toEqual([
      0x15, 2000, 10, 24, 16,
    ]);
    const dirty = Buffer.from(b);
    dirty.fill(0xee, 48);
    expect(hashlimit.decode(dirty, 1)).toEqual(v);
    expect(hashlimit.encode(hashlimit.decode(dirty, 1), 1)).toEqual(b);
  });

  it('revision 3: u64 avg/burst at 256 and the rate-match interval', () => {
    const v = { ...base, avg: 1n << 40n, burst: 3n, interval: 60, mode: 0x40 };
    const b = hashlimit.encode(v, 3);
    expect(b.length).toBe(312);
    expect([b.readBigUInt64LE(256), b.readBigUInt64LE(264), b.readUInt32LE(292)]).toEqual([
      1n << 40n,
      3n,
      60,
    ]);
    expect(hashlimit.decode(b, 2).interval).toBe(0);
  });

  for (const rev of [1, 2, 3]) {
    roundTrip(
      hashlimit,
      fc.record({
        name: name(rev === 1 ? 16 : 40),
        mode: u32(),
        avg: rev === 1 ? u32().map(BigInt) : u64(),
        burst: rev === 1 ? u32().map(BigInt) : u64(),
        size: u32(),
        max: u32(),
        gcInterval: u32(),
        expire: u32(),
        interval: rev === 3 ? u32() : fc.constant(0),
        srcmask: u8(),
        dstmask: u8(),
      }),
      rev,
    );
  }

  it('credit arithmetic for HZ=250, as xt_hashlimit.c', () => {
    // rev 1: 1/10000 s units, 32000 credits a second; rev 2/3: 1/1000000 s, 250·2^39.
    expect(user2credits(10000n, 1)).toBe(30000n);
    expect(user2credits(1000000n, 2)).toBe(137438953000000n);
    expect(user2credits(1n << 62n, 3)).toBe(((1n << 62n) * 137438953n) & ((1n << 64n) - 1n));
    expect(user2creditsByte(1n)).toBe(0n);
    expect(user2creditsByte(2n)).toBe(1n);
    expect(user2creditsByte((1n << 32n) + 2n)).toBe(1n);
  });

  it('check: the order and errnos of hashlimit_mt_check', () => {
    const bad = (v: Partial<HashlimitMatch>, errno: number, rev = 3): void =>
      expectErrno(() => hashlimit.check({ ...base, ...v }, rev, ctx()), errno);
    const ok = (v: Partial<HashlimitMatch>, rev = 3): void =>
      expect(() => hashlimit.check({ ...base, ...v }, rev, ctx())).not.toThrow();
    ok({});
    bad({ name: '' }, EINVAL);
    bad({ name: 'a/b' }, EINVAL);
    bad({ name: 'n'.repeat(16) }, ENAMETOOLONG, 1);
    ok({ name: 'n'.repeat(15) }, 1);
    bad({ name: 'n'.repeat(255) }, ENAMETOOLONG);
    ok({ name: 'n'.repeat(254) });
    bad({ name: 'n'.repeat(16), gcInterval: 0 }, ENAMETOOLONG, 1);
    bad({ gcInterval: 0 }, EINVAL);
    bad({ expire: 0, avg: 0n }, EINVAL);
    bad({ srcmask: 33 }, EINVAL);
    bad({ dstmask: 255, burst: 0n }, EINVAL);
    bad({ mode: 0x80 }, EINVAL);
    ok({ size: 0xffffffff, max: 0xffffffff });
    // Packet mode: burst 0 or a wrapping avg × burst.
    bad({ burst: 0n }, ERANGE);
    bad({ avg: 1n << 63n, burst: 2n }, ERANGE);
    ok({ avg: 1n, burst: 1000000n });
    bad({ avg: 0xffffffffn, burst: 0x55555556n }, ERANGE, 1);
    ok({ avg: 0xffffffffn, burst: 0xffffffffn }, 1);
    ok({ avg: 0xffffffffn, burst: 1n }, 1);
    // Byte mode: the u32 cost must give credits.
    bad({ mode: 0x20, avg: 1n, burst: 0n }, EINVAL);
    ok({ mode: 0x20, avg: 2n, burst: 0n });
    bad({ mode: 0x20, avg: 1n << 32n }, EINVAL);
    // Rate match (revision 3 only): avg in 1..u32 max (ERANGE), then interval (EINVAL).
    bad({ mode: 0x40, avg: 0n, interval: 1 }, ERANGE);
    bad({ mode: 0x40, avg: 1n << 32n, interval: 0 }, ERANGE);
    bad({ mode: 0x40, interval: 0 }, EINVAL);
    ok({ mode: 0x60, avg: 1n, burst: 0n, interval: 1 });
    // Revisions 1 and 2 refuse the rate-match bit.
    bad({ mode: 0x40, interval: 1 }, EINVAL, 2);
    bad({ mode: 0x40, interval: 1 }, EINVAL, 1);
  });

  it('writeBack: revision 3 keeps size and max clamped to 2^20, the others unchanged', () => {
    const v = { ...base, size: 2000000, max: 1048577 };
    const b = hashlimit.encode(v, 3);
    hashlimit.writeBack!(b, 3);
    expect(hashlimit.decode(b, 3)).toEqual({ ...v, size: 1048576, max: 1048576 });
    const b2 = hashlimit.encode(v, 2);
    hashlimit.writeBack!(b2, 2);
    expect(hashlimit.decode(b2, 2)).toEqual(v);
  });

  it('format: rates, byte rates, infinity and the defaults iptables leaves out', () => {
    expect(hashlimit.format(base, 3)).toBe(
      '--hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name h',
    );
    expect(hashlimit.format({ ...base, avg: 0n, expire: 0 }, 3)).toBe(
      '--hashlimit-upto inf --hashlimit-burst 5 --hashlimit-name h',
    );
    expect(hashlimit.format({ ...base, avg: 2000n, expire: 1000, mode: 0x10 }, 1)).toBe(
      '--hashlimit-above 5/sec --hashlimit-burst 5 --hashlimit-name h',
    );
    expect(
      hashlimit.format({ ...base, mode: 0x3f, avg: 32767n, burst: 5n, expire: 60000 }, 3),
    ).toBe(
      '--hashlimit-above 2mb/s --hashlimit-burst 10mb --hashlimit-mode srcip,srcport,dstip,dstport --hashlimit-name h',
    );
    expect(
      hashlimit.format({ ...base, mode: 0x40, avg: 333333n, expire: 3600000, interval: 3600 }, 3),
    ).toBe(
      '--hashlimit-upto 3/sec --hashlimit-burst 5 --hashlimit-name h --hashlimit-htable-expire 3600000 --hashlimit-rate-match --hashlimit-rate-interval 3600',
    );
    // Revision 2 has no rate-match options to print.
    expect(hashlimit.format({ ...base, mode: 0x40, interval: 3 }, 2)).not.toContain('rate-');
  });

  it('parse: defaults, both limit directions, modes, masks', () => {
    expect(parse(opt('hashlimit-upto', ['5/sec']), opt('hashlimit-name', ['h']))).toEqual(base);
    expect(
      parse(
        opt('hashlimit', ['10/m'], true),
        opt('hashlimit-name', ['h']),
        opt('hashlimit-mode', ['dstport|srcip,,']),
        opt('hashlimit-srcmask', ['255.255.255.0']),
        opt('hashlimit-dstmask', ['33']),
      ),
    ).toEqual({ ...base, mode: 0x16, avg: 6000000n, expire: 60000, srcmask: 24, dstmask: 0xff });
    expect(parse(opt('hashlimit-above', ['5/s'], true), opt('hashlimit-name', ['h'])).mode).toBe(0);
    expect(parse(opt('hashlimit-above', ['5/s']), opt('hashlimit-name', ['h'])).mode).toBe(0x10);
  });

  it('parse: byte rates and their bursts (hashlimit_mt_check)', () => {
    const v = parse(
      opt('hashlimit-upto', ['100b/s']),
      opt('hashlimit-burst', ['1000']),
      opt('hashlimit-name', ['h']),
    );
    // 100 B/s is 6 chunks: cost 0xffffffff / 7; a 1000-byte burst is 11 chunks of 96 bytes.
    expect(v).toMatchObject({ mode: 0x20, avg: 613566756n, burst: 11n, expire: 60000 });
    expect(parse(opt('hashlimit-upto', ['1kb/s']), opt('hashlimit-name', ['h']))).toMatchObject({
      burst: 0n,
      expire: 15000,
    });
    expect(() =>
      parse(
        opt('hashlimit-upto', ['1kb/s']),
        opt('hashlimit-burst', ['5']),
        opt('hashlimit-name', ['h']),
      ),
    ).toThrow(/burst cannot be smaller than 1024b/);
    expect(() =>
      parse(
        opt('hashlimit-upto', ['15b/s']),
        opt('hashlimit-burst', ['3']),
        opt('hashlimit-name', ['h']),
      ),
    ).toThrow(/16b\/s or more/);
    expect(parse(opt('hashlimit-upto', ['15b/s']), opt('hashlimit-name', ['h'])).avg).toBe(
      0xffffffffn,
    );
  });

  it('parse: rate match divides the rate by its unit and takes the unit as interval', () => {
    const v = parse(
      opt('hashlimit-upto', ['3/hour']),
      opt('hashlimit-name', ['h']),
      opt('hashlimit-rate-match'),
    );
    expect(v).toMatchObject({
      mode: 0x40,
      avg: 1200000000n / 3600n,
      interval: 3600,
      expire: 3600000,
    });
    const w = parse(
      opt('hashlimit-upto', ['3/hour']),
      opt('hashlimit-name', ['h']),
      opt('hashlimit-rate-match'),
      opt('hashlimit-rate-interval', ['4294967297']),
    );
    expect(w.interval).toBe(1);
  });

  it('parse refuses what libxt_hashlimit refuses', () => {
    const n = opt('hashlimit-name', ['h']);
    const up = opt('hashlimit-upto', ['5/s']);
    expect(() => parse(n)).toThrow(/--hashlimit-upto or --hashlimit-above is required/);
    expect(() => parse(up)).toThrow(/--hashlimit-name is required/);
    expect(() => parse(up, opt('hashlimit-name', ['']))).toThrow(/empty/);
    expect(() => parse(up, opt('hashlimit-above', ['5/s']), n)).toThrow(/exclude/);
    expect(() => parse(up, opt('hashlimit', ['5/s']), n)).toThrow(/more than once/);
    expect(() => parse(opt('hashlimit-upto', ['5/fortnight']), n)).toThrow(/bad rate/);
    expect(() => parse(opt('hashlimit-upto', ['0/s']), n)).toThrow(/bad rate/);
    expect(() => parse(opt('hashlimit-upto', ['2000000/s']), n)).toThrow(/too fast/);
    expect(() => parse(up, n, opt('hashlimit-mode', ['srcIP']))).toThrow(/--hashlimit-mode/);
    expect(() => parse(up, n, opt('hashlimit-burst', ['0']))).toThrow(/bad value/);
    expect(() => parse(up, n, opt('hashlimit-burst', ['1000001']))).toThrow(/bad value/);
    expect(() => parse(up, n, opt('hashlimit-burst', ['2000k']))).toThrow(/above 1000000/);
    expect(() => parse(up, n, opt('hashlimit-srcmask', ['1.2.3']))).toThrow(OptionError);
    expect(() => parse(up, n, opt('hashlimit-rate-interval', ['0']))).toThrow(/interval/);
    expect(() => parse(up, n, opt('hashlimit-htable-size', ['4294967296']))).toThrow(
      /out of range/,
    );
    expect(() => parse(up, n, opt('hashlimit-rate-match', [], true))).toThrow(/cannot be inverted/);
  });
});
