import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { tcp, tcpFlags, type TcpMatch } from '../../src/translate/ext/tcp.js';
import { ctx, expectErrno, hex, roundTrip, u16, u8 } from './helpers.js';

const SSH: TcpMatch = {
  spts: [0, 0xffff],
  dpts: [22, 22],
  option: 0,
  flgMask: 0x12,
  flgCmp: 0x02,
  invflags: 0,
};
// spts 0..65535, dpts 22..22, option 0, mask SYN|ACK, cmp SYN, invflags 0, 4 bytes padding.
const SSH_BYTES = hex('0000 ffff 1600 1600 00 12 02 00 00000000');

describe('tcp match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    expect(tcp.decode(SSH_BYTES, 0)).toEqual(SSH);
    expect(tcp.encode(SSH, 0)).toEqual(SSH_BYTES);
    expect(tcp.dataSize(0)).toBe(12);
  });

  roundTrip(
    tcp,
    fc.record({
      spts: fc.tuple(u16(), u16()),
      dpts: fc.tuple(u16(), u16()),
      option: u8(),
      flgMask: u8(),
      flgCmp: u8(),
      invflags: u8(),
    }),
  );

  it('accepts -p tcp with every known invflag', () => {
    expect(() => tcp.check({ ...SSH, invflags: 0x0f }, 0, ctx({ proto: 6 }))).not.toThrow();
  });

  it('refuses a rule without -p tcp (EINVAL)', () => {
    expectErrno(() => tcp.check(SSH, 0, ctx({ proto: 0 })), EINVAL);
    expectErrno(() => tcp.check(SSH, 0, ctx({ proto: 17 })), EINVAL);
  });

  it('refuses ! -p tcp (EINVAL)', () => {
    expectErrno(() => tcp.check(SSH, 0, ctx({ proto: 6, invProto: true })), EINVAL);
  });

  it('refuses unknown invflags (EINVAL)', () => {
    expectErrno(() => tcp.check({ ...SSH, invflags: 0x10 }, 0, ctx({ proto: 6 })), EINVAL);
  });

  it('formats as iptables-save would', () => {
    expect(tcp.format(SSH, 0)).toBe('--dport 22 --tcp-flags SYN,ACK SYN');
    expect(tcp.format({ ...SSH, spts: [1, 2], invflags: 0x03, option: 2, flgMask: 0 }, 0)).toBe(
      '! --sport 1:2 ! --dport 22 --tcp-option 2',
    );
    expect(tcpFlags(0)).toBe('NONE');
    expect(tcpFlags(0x3f)).toBe('ALL');
  });
});
