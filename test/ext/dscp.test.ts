import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EDOM } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { dscp, dscpClass } from '../../src/translate/ext/dscp.js';
import { ctx, expectErrno, hex, roundTrip, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };

describe('dscp match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('2e 01 000000000000');
    expect(dscp.decode(b, 0)).toEqual({ dscp: 0x2e, invert: 1 });
    expect(dscp.encode({ dscp: 0x2e, invert: 1 }, 0)).toEqual(b);
    expect(dscp.dataSize(0)).toBe(2);
  });

  roundTrip(dscp, fc.record({ dscp: u8(), invert: u8() }));

  it('refuses a dscp above 0x3f with EDOM, as dscp_mt_check', () => {
    expect(() => dscp.check({ dscp: 0x3f, invert: 5 }, 0, ctx())).not.toThrow();
    expectErrno(() => dscp.check({ dscp: 0x40, invert: 0 }, 0, ctx()), EDOM);
  });

  it('formats as iptables-save', () => {
    expect(dscp.format({ dscp: 10, invert: 0 }, 0)).toBe('--dscp 0x0a');
    expect(dscp.format({ dscp: 0x22, invert: 1 }, 0)).toBe('! --dscp 0x22');
  });

  it('takes a class by case-insensitive prefix, first in iptables order', () => {
    expect(dscpClass('ef', 'w')).toBe(0x2e);
    expect(dscpClass('AF41xx', 'w')).toBe(0x22);
    expect(dscpClass('cs7', 'w')).toBe(0x38);
    expect(() => dscpClass('AF5', 'w')).toThrow(OptionError);
    const v = dscp.parse?.([{ name: 'dscp-class', invert: true, args: ['BE'] }], P).value;
    expect(v).toEqual({ dscp: 0, invert: 1 });
  });

  it('refuses what iptables refuses', () => {
    expect(() => dscp.parse?.([], P)).toThrow(/--dscp is required/);
    expect(() => dscp.parse?.([{ name: 'dscp', invert: false, args: ['64'] }], P)).toThrow(
      OptionError,
    );
    const both = [
      { name: 'dscp', invert: false, args: ['1'] },
      { name: 'dscp-class', invert: false, args: ['EF'] },
    ];
    expect(() => dscp.parse?.(both, P)).toThrow(/cannot be used together/);
  });
});
