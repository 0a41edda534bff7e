import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { policy, type PolicyElem, type PolicyMatch } from '../../src/translate/ext/policy.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ALL_ONES, NO_POLICY_ELEM } from './fixtures.js';
import { ctx, expectErrno, roundTrip, u16, u32, u8 } from './helpers.js';

const ONES = ALL_ONES;
const E = NO_POLICY_ELEM;
const none: PolicyMatch = { pol: [E, E, E, E], flags: 0, len: 0 };
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (...options: SaveOption[]): PolicyMatch =>
  policy.parse!(options, { proto: 0, invProto: false }).value as PolicyMatch;

describe('policy match', () => {
  it('four 76-byte elements, then flags and len (308 bytes)', () => {
    const e: PolicyElem = {
      ...E,
      saddr: [0x0a000001, 0, 0, 0],
      smask: ONES,
      spi: 0x1234,
      reqid: 5,
      proto: 50,
      mode: 1,
      match: 0x3d,
      invert: 0x10,
    };
    const v = { pol: [e, E, E, E], flags: 0xa, len: 1 };
    const b = policy.encode(v, 0);
    expect(policy.dataSize(0)).toBe(308);
    expect(b.length).toBe(312);
    expect([b.readUInt32BE(0), b.readUInt32BE(16), b.readUInt32LE(64), b.readUInt32LE(68)]).toEqual(
      [0x0a000001, 0xffffffff, 0x1234, 5],
    );
    expect([b[72], b[73], b[74], b[75], b.readUInt16LE(304), b.readUInt16LE(306)]).toEqual([
      50, 1, 0x3d, 0x10, 0xa, 1,
    ]);
    expect(policy.decode(b, 0)).toEqual(v);
    expect(policy.format(v, 0)).toBe(
      '--dir out --pol ipsec --strict --reqid 5 ! --spi 0x1234 --proto esp --mode tunnel --tunnel-src 10.0.0.1',
    );
  });

  const addr = fc.tuple(u32(), u32(), u32(), u32());
  const elem = fc.record({
    saddr: addr,
    smask: addr,
    daddr: addr,
    dmask: addr,
    spi: u32(),
    reqid: u32(),
    proto: u8(),
    mode: u8(),
    match: u8(),
    invert: u8(),
  });
  roundTrip(
    policy,
    fc.record({ pol: fc.array(elem, { minLength: 4, maxLength: 4 }), flags: u16(), len: u16() }),
  );

  it('check: a direction, on the right side of the stack, at most 4 elements (EINVAL)', () => {
    const ok = (v: Partial<PolicyMatch>, hooks: number): void =>
      expect(() => policy.check({ ...none, ...v }, 0, ctx({ hookMask: hooks }))).not.toThrow();
    const bad = (v: Partial<PolicyMatch>, hooks: number): void =>
      expectErrno(() => policy.check({ ...none, ...v }, 0, ctx({ hookMask: hooks })), EINVAL);
    bad({ flags: 0xc }, 1 << 2);
    ok({ flags: 1 }, (1 << 0) | (1 << 1) | (1 << 2));
    ok({ flags: 2 }, (1 << 2) | (1 << 3) | (1 << 4));
    ok({ flags: 3 }, 1 << 2);
    bad({ flags: 2 }, 1 << 1);
    bad({ flags: 2 }, 1 << 0);
    bad({ flags: 1 }, 1 << 3);
    bad({ flags: 1 }, 1 << 4);
    ok({ flags: 1, len: 4 }, 1 << 1);
    bad({ flags: 1, len: 5 }, 1 << 1);
  });

  it('parse: elements in option order, masks as HOSTMASK leaves them', () => {
    const v = parse(
      opt('dir', ['out']),
      opt('strict'),
      opt('reqid', ['5']),
      opt('spi', ['0x1234'], true),
      opt('proto', ['esp']),
      opt('mode', ['tunnel']),
      opt('tunnel-src', ['10.0.0.1']),
      opt('tunnel-dst', ['10.1.2.3/16'], true),
      opt('next'),
      opt('proto', ['51'], true),
      opt('next'),
      opt('mode', ['transport'], true),
      opt('tunnel-dst', ['1.2.3.4/255.0.255.0']),
    );
    expect(v.flags).toBe(0xa);
    expect(v.len).toBe(3);
    expect(v.pol[0]).toEqual({
      ...E,
      saddr: [0x0a000001, 0, 0, 0],
      smask: ONES,
      daddr: [0x0a010203, 0, 0, 0],
      dmask: [0xffff0000, 0, 0, 0],
      spi: 0x1234,
      reqid: 5,
      proto: 50,
      mode: 1,
      match: 0x3f,
      invert: 0x12,
    });
    expect(v.pol[1]).toEqual({ ...E, proto: 51, match: 0x04, invert: 0x04 });
    // A non-contiguous mask is length 255: PLENMASK leaves the ones.
    expect(v.pol[2]).toEqual({
      ...E,
      daddr: [0x01020304, 0, 0, 0],
      dmask: ONES,
      match: 0x0a,
      invert: 0x08,
    });
    expect(v.pol[3]).toEqual(E);
    expect(parse(opt('dir', ['in']))).toEqual({ ...none, flags: 1, len: 1 });
    expect(parse(opt('pol', ['none']), opt('dir', ['in']))).toEqual({ ...none, flags: 5, len: 0 });
    // Element options with --pol none land in element 0, which len 0 then hides.
    expect(parse(opt('pol', ['none']), opt('dir', ['in']), opt('reqid', ['7']))).toEqual({
      pol: [{ ...E, reqid: 7, match: 0x20 }, E, E, E],
      flags: 5,
      len: 0,
    });
  });

  it('parse refuses what libxt_policy refuses', () => {
    const d = opt('dir', ['in']);
    expect(() => parse()).toThrow(/neither --dir in nor --dir out/);
    expect(() => parse(opt('dir', ['sideways']))).toThrow(/invalid value/);
    expect(() => parse(d, opt('dir', ['out']))).toThrow(/more than once/);
    expect(() => parse(d, opt('pol', ['none']), opt('strict'))).toThrow(/--pol none with --strict/);
    expect(() => parse(d, opt('next'), opt('pol', ['none']))).toThrow(/with policy elements/);
    expect(() => parse(d, opt('reqid', ['1']), opt('next'))).toThrow(/--next needs --strict/);
    expect(() => parse(d, opt('reqid', ['1']), opt('reqid', ['2']))).toThrow(/double --reqid/);
    expect(() =>
      parse(d, opt('strict'), opt('next'), opt('next'), opt('next'), opt('next')),
    ).toThrow(/maximum policy depth/);
    expect(() => parse(d, opt('strict'))).toThrow(/element 0 is empty/);
    expect(() => parse(d, opt('proto', ['tcp']))).toThrow(/ah, esp or ipcomp/);
    expect(() => parse(d, opt('tunnel-src', ['1.2.3.4']))).toThrow(/need --mode tunnel/);
    expect(() => parse(d, opt('mode', ['tunnel'], true), opt('tunnel-src', ['1.2.3.4']))).toThrow(
      /need --mode tunnel/,
    );
    expect(() => parse(d, opt('strict', [], true))).toThrow(/cannot be inverted/);
    expect(() => parse(d, opt('spi', ['4294967296']))).toThrow(OptionError);
    expect(() => parse(d, opt('bogus'))).toThrow(/unknown option "--bogus"/);
  });
});
