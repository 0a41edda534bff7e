import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { ecn, type EcnMatch } from '../../src/translate/ext/ecn.js';
import { ctx, expectErrno, hex, roundTrip, u8 } from './helpers.js';

const P = { proto: 6, invProto: false };
const v = (over: Partial<EcnMatch>): EcnMatch => ({
  operation: 0,
  invert: 0,
  ipEct: 0,
  tcpEct: 0,
  ...over,
});

describe('ecn match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('31 11 01 07 00000000');
    const val = v({ operation: 0x31, invert: 0x11, ipEct: 1, tcpEct: 7 });
    expect(ecn.decode(b, 0)).toEqual(val);
    expect(ecn.encode(val, 0)).toEqual(b);
  });

  roundTrip(ecn, fc.record({ operation: u8(), invert: u8(), ipEct: u8(), tcpEct: u8() }));

  it('refuses operation or invert bits in 0xce (EINVAL)', () => {
    for (const bit of [0x02, 0x04, 0x08, 0x40, 0x80]) {
      expectErrno(() => ecn.check(v({ operation: 1 | bit }), 0, ctx()), EINVAL);
      expectErrno(() => ecn.check(v({ operation: 1, invert: bit }), 0, ctx()), EINVAL);
    }
    expect(() => ecn.check(v({ operation: 1, invert: 0x31, ipEct: 9 }), 0, ctx())).not.toThrow();
  });

  it('wants -p tcp without ! for the TCP bits only', () => {
    expectErrno(() => ecn.check(v({ operation: 0x10 }), 0, ctx()), EINVAL);
    expectErrno(
      () => ecn.check(v({ operation: 0x20 }), 0, ctx({ proto: 6, invProto: true })),
      EINVAL,
    );
    expect(() => ecn.check(v({ operation: 0x30 }), 0, ctx({ proto: 6 }))).not.toThrow();
  });

  it('formats and parses as iptables (ECE, CWR, IP order)', () => {
    const val = v({ operation: 0x31, invert: 0x11, ipEct: 1 });
    expect(ecn.format(val, 0)).toBe('! --ecn-tcp-ece --ecn-tcp-cwr ! --ecn-ip-ect 1');
    const parsed = ecn.parse?.(
      [
        { name: 'ecn-ip-ect', invert: true, args: ['1'] },
        { name: 'ecn-tcp-cwr', invert: false, args: [] },
        { name: 'ecn-tcp-ece', invert: true, args: [] },
      ],
      P,
    );
    expect(parsed?.value).toEqual(val);
  });

  it('refuses what iptables refuses', () => {
    expect(() => ecn.parse?.([], P)).toThrow(/some option is required/);
    expect(() => ecn.parse?.([{ name: 'ecn-ip-ect', invert: false, args: ['4'] }], P)).toThrow(
      /out of range/,
    );
  });
});
