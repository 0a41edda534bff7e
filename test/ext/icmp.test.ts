import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { icmp, type IcmpMatch } from '../../src/translate/ext/icmp.js';
import { ctx, expectErrno, hex, roundTrip, u8 } from './helpers.js';

const PING: IcmpMatch = { type: 8, codeMin: 0, codeMax: 0xff, invflags: 0 };

describe('icmp match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const bytes = hex('03 04 04 01 00000000');
    const v = { type: 3, codeMin: 4, codeMax: 4, invflags: 1 };
    expect(icmp.decode(bytes, 0)).toEqual(v);
    expect(icmp.encode(v, 0)).toEqual(bytes);
    expect(icmp.dataSize(0)).toBe(4);
  });

  roundTrip(icmp, fc.record({ type: u8(), codeMin: u8(), codeMax: u8(), invflags: u8() }));

  it('accepts -p icmp', () => {
    expect(() => icmp.check({ ...PING, invflags: 1 }, 0, ctx({ proto: 1 }))).not.toThrow();
  });

  it('refuses a rule without -p icmp, or with ! -p icmp (EINVAL)', () => {
    expectErrno(() => icmp.check(PING, 0, ctx({ proto: 0 })), EINVAL);
    expectErrno(() => icmp.check(PING, 0, ctx({ proto: 1, invProto: true })), EINVAL);
  });

  it('refuses invflags other than IPT_ICMP_INV (EINVAL)', () => {
    expectErrno(() => icmp.check({ ...PING, invflags: 2 }, 0, ctx({ proto: 1 })), EINVAL);
  });

  it('formats as iptables-save would', () => {
    expect(icmp.format(PING, 0)).toBe('--icmp-type 8');
    expect(icmp.format({ type: 0xff, codeMin: 0, codeMax: 0xff, invflags: 0 }, 0)).toBe(
      '--icmp-type any',
    );
    expect(icmp.format({ type: 3, codeMin: 4, codeMax: 4, invflags: 1 }, 0)).toBe(
      '! --icmp-type 3/4',
    );
  });
});
