import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { getPortByName, parsePortRC } from '../../src/translate/ext/args.js';
import { dccp, type DccpMatch } from '../../src/translate/ext/dccp.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, hex, pad, roundTrip, u16, u8 } from './helpers.js';

const P = { proto: 33, invProto: false };
const o = (name: string, arg: string, invert = false): SaveOption => ({
  name,
  invert,
  args: [arg],
});
const V: DccpMatch = { dpts: [0, 0], spts: [0, 0], flags: 0, invflags: 0, typemask: 0, option: 0 };

describe('dccp match (rev 0)', () => {
  it('decodes and encodes a hand-built payload (dpts first)', () => {
    const b = hex('0000 0500 1e00 1400 0f00 0400 05fc 05 00');
    const v: DccpMatch = {
      dpts: [0, 5],
      spts: [30, 20],
      flags: 15,
      invflags: 4,
      typemask: 0xfc05,
      option: 5,
    };
    expect(dccp.decode(b, 0)).toEqual(v);
    expect(dccp.encode(v, 0)).toEqual(b);
  });

  roundTrip(
    dccp,
    fc.record({
      dpts: fc.tuple(u16(), u16()),
      spts: fc.tuple(u16(), u16()),
      flags: u16(),
      invflags: u16(),
      typemask: u16(),
      option: u8(),
      pad: pad(1),
    }),
  );

  it('needs -p dccp, valid flags and invflags within flags (EINVAL)', () => {
    const c = ctx({ proto: 33 });
    expect(() => dccp.check({ ...V, flags: 0xf, invflags: 0x5 }, 0, c)).not.toThrow();
    expectErrno(() => dccp.check(V, 0, ctx({ proto: 6 })), EINVAL);
    expectErrno(() => dccp.check({ ...V, flags: 0x10 }, 0, c), EINVAL);
    expectErrno(() => dccp.check({ ...V, flags: 0x1, invflags: 0x2 }, 0, c), EINVAL);
  });

  it('reads ports as getaddrinfo does: decimal only, low 16 bits, no order check', () => {
    expect(getPortByName('70000', 'w')).toBe(4464);
    expect(getPortByName('010', 'w')).toBe(10);
    expect(getPortByName('http', 'w')).toBe(80);
    expect(() => getPortByName('0x50', 'w')).toThrow(/does not resolve/);
    expect(parsePortRC('30:20', 'w')).toEqual([30, 20]);
    expect(parsePortRC(':5', 'w')).toEqual([0, 5]);
    expect(parsePortRC('http:', 'w')).toEqual([80, 65535]);
    expect(() => parsePortRC('1:2:3', 'w')).toThrow(/too many/);
  });

  it('parses types (INVALID adds 11-15) and formats as dccp_save', () => {
    const v = dccp.parse?.(
      [o('dport', ':5'), o('dccp-types', 'request,DATA,,invalid', true), o('dccp-option', '5')],
      P,
    ).value;
    expect(v).toEqual({ ...V, dpts: [0, 5], flags: 14, invflags: 4, typemask: 0xfc05, option: 5 });
    expect(dccp.format(v as DccpMatch, 0)).toBe(
      '--dport 0:5 ! --dccp-types REQUEST,DATA,INVALID --dccp-option 5',
    );
    expect(dccp.format({ ...V, flags: 5, invflags: 1, spts: [7, 7], typemask: 0x800 }, 0)).toBe(
      '! --sport 7 --dccp-types 11',
    );
    expect(() => dccp.parse?.([o('dccp-types', 'SYN')], P)).toThrow(/unknown DCCP type "SYN"/);
    expect(() => dccp.parse?.([o('dccp-option', '0')], P)).toThrow(/out of range/);
  });
});
