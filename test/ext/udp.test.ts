import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { udp, type UdpMatch } from '../../src/translate/ext/udp.js';
import { ctx, expectErrno, hex, roundTrip, u16 } from './helpers.js';

const DNS: UdpMatch = { spts: [53, 53], dpts: [1024, 0xffff], invflags: 0x02 };
// spts 53..53, dpts 1024..65535, invflags DSTPT, 1 byte struct padding + 6 bytes XT_ALIGN.
const DNS_BYTES = hex('3500 3500 0004 ffff 02 00 000000000000');

describe('udp match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    expect(udp.decode(DNS_BYTES, 0)).toEqual(DNS);
    expect(udp.encode(DNS, 0)).toEqual(DNS_BYTES);
    expect(udp.dataSize(0)).toBe(10);
  });

  roundTrip(
    udp,
    fc.record({
      spts: fc.tuple(u16(), u16()),
      dpts: fc.tuple(u16(), u16()),
      invflags: fc.integer({ min: 0, max: 0xff }),
    }),
  );

  it('accepts -p udp', () => {
    expect(() => udp.check({ ...DNS, invflags: 3 }, 0, ctx({ proto: 17 }))).not.toThrow();
  });

  it('refuses a rule without -p udp, or with ! -p udp (EINVAL)', () => {
    expectErrno(() => udp.check(DNS, 0, ctx({ proto: 6 })), EINVAL);
    expectErrno(() => udp.check(DNS, 0, ctx({ proto: 17, invProto: true })), EINVAL);
  });

  it('refuses unknown invflags (EINVAL)', () => {
    expectErrno(() => udp.check({ ...DNS, invflags: 0x04 }, 0, ctx({ proto: 17 })), EINVAL);
  });

  it('formats as iptables-save would', () => {
    expect(udp.format(DNS, 0)).toBe('--sport 53 ! --dport 1024:65535');
  });
});
