import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { chunkSet, sctp, type SctpMatch } from '../../src/translate/ext/sctp.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { chunkMap, NO_SCTP_SLOT, SCTP } from './fixtures.js';
import { ctx, expectErrno, roundTrip, u16, u32, u8 } from './helpers.js';

const SCTP_RULE = ctx({ proto: 132 });
const EMPTY_SLOT = NO_SCTP_SLOT;
const base = SCTP;
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (...options: SaveOption[]): SctpMatch =>
  sctp.parse!(options, { proto: 132, invProto: false }).value as SctpMatch;
const map = chunkMap;

describe('sctp match', () => {
  it('layout: dpts before spts, 64-word chunk map, flag slots, count, flags (292 bytes)', () => {
    const v: SctpMatch = {
      ...base,
      dpts: [80, 81],
      spts: [1, 2],
      chunkmap: map(0, 64, 193),
      chunkMatchType: 1,
      flagInfo: [{ chunktype: 0, flag: 2, flagMask: 3 }, EMPTY_SLOT, EMPTY_SLOT, EMPTY_SLOT],
      flagCount: 1,
      flags: 7,
      invflags: 4,
    };
    const b = sctp.encode(v, 0);
    expect(sctp.dataSize(0)).toBe(292);
    expect([b.readUInt16LE(0), b.readUInt16LE(4)]).toEqual([80, 1]);
    expect([b.readUInt32LE(8), b.readUInt32LE(8 + 8), b.readUInt32LE(8 + 24)]).toEqual([1, 1, 2]);
    expect([b.readUInt32LE(264), b[268], b[269], b[270], b[271]]).toEqual([1, 0, 2, 3, 0xff]);
    expect([b.readInt32LE(280), b.readUInt32LE(284), b.readUInt32LE(288)]).toEqual([1, 7, 4]);
    expect(sctp.decode(b, 0)).toEqual(v);
    expect(sctp.format(v, 0)).toBe(
      '--sport 1:2 --dport 80:81 ! --chunk-types any DATA:Be,I_DATA,ASCONF',
    );
  });

  roundTrip(
    sctp,
    fc.record({
      dpts: fc.tuple(u16(), u16()),
      spts: fc.tuple(u16(), u16()),
      chunkmap: fc.array(u32(), { minLength: 64, maxLength: 64 }),
      chunkMatchType: u32(),
      flagInfo: fc.array(fc.record({ chunktype: u8(), flag: u8(), flagMask: u8() }), {
        minLength: 4,
        maxLength: 4,
      }),
      flagCount: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      flags: u32(),
      invflags: u32(),
    }),
  );

  it('check: -p sctp without "!", then sctp_mt_check (EINVAL)', () => {
    const ok = (v: Partial<SctpMatch>): void =>
      expect(() => sctp.check({ ...base, ...v }, 0, SCTP_RULE)).not.toThrow();
    const bad = (v: Partial<SctpMatch>, c = SCTP_RULE): void =>
      expectErrno(() => sctp.check({ ...base, ...v }, 0, c), EINVAL);
    bad({}, ctx());
    bad({}, ctx({ proto: 132, invProto: true }));
    ok({});
    ok({ flagCount: 4 });
    bad({ flagCount: 5 });
    bad({ flagCount: -1 });
    bad({ flags: 8 });
    bad({ flags: 1, invflags: 8 });
    bad({ flags: 1, invflags: 2 });
    ok({ flags: 3, invflags: 3 });
    bad({ flags: 4, chunkMatchType: 8 });
    ok({ flags: 4, chunkMatchType: 0xc });
    ok({ flags: 3, chunkMatchType: 0 });
  });

  it('parse: ports, implicit defaults, ALL/NONE and flag letters as libxt_sctp', () => {
    expect(parse(opt('dport', ['80']))).toEqual({ ...base, dpts: [80, 80], flags: 2 });
    expect(parse(opt('source-port', [':100'], true))).toEqual({
      ...base,
      spts: [0, 100],
      flags: 1,
      invflags: 1,
    });
    expect(parse(opt('chunk-types', ['only', 'all'])).chunkmap).toEqual(
      Array<number>(64).fill(0xffffffff),
    );
    expect(parse(opt('chunk-types', ['ALL', 'none'], true))).toMatchObject({
      chunkMatchType: 2,
      flags: 4,
      invflags: 4,
    });
    const v = parse(opt('chunk-types', ['any', 'DATA:Be-,INIT,I_DATA:I,ABORT:t']));
    expect(v.chunkmap).toEqual(map(0, 1, 6, 64));
    // '-' names bit 7; I_DATA's slot records its table index 15, not its type 64.
    expect(v.flagInfo).toEqual([
      { chunktype: 0, flag: 0x02, flagMask: 0x83 },
      { chunktype: 15, flag: 0x08, flagMask: 0x08 },
      { chunktype: 6, flag: 0, flagMask: 0x01 },
      EMPTY_SLOT,
    ]);
    expect(v.flagCount).toBe(3);
    expect(sctp.format(v, 0)).toBe('--chunk-types any DATA:-Be,INIT,ABORT:t,I_DATA');
    expect(chunkSet(v.chunkmap, 64)).toBe(true);
  });

  it('parse refuses what libxt_sctp refuses', () => {
    expect(() => parse(opt('dport', ['2:1']))).toThrow(/min > max/);
    expect(() => parse(opt('chunk-types', ['some', 'DATA']))).toThrow(/ALL, ANY or ONLY/);
    expect(() => parse(opt('chunk-types', ['any']))).toThrow(/takes 2 arguments/);
    expect(() => parse(opt('chunk-types', ['any', 'BOGUS']))).toThrow(/unknown chunk "BOGUS"/);
    expect(() => parse(opt('chunk-types', ['any', 'INIT:B']))).toThrow(/invalid flag "B"/);
    expect(() =>
      parse(opt('chunk-types', ['any', 'DATA:I,ABORT:T,SHUTDOWN_COMPLETE:T,I_DATA:B,INIT:-'])),
    ).toThrow(/more than 4 chunk types/);
    expect(() => parse(opt('dport', ['1']), opt('destination-port', ['2']))).toThrow(OptionError);
  });
});
