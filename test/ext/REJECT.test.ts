import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { REJECT } from '../../src/translate/ext/REJECT.js';
import { ctx, expectErrno, hex, roundTrip, u32 } from './helpers.js';

const INPUT = 1 << 1;
const FORWARD = 1 << 2;
const OUTPUT = 1 << 3;

describe('REJECT target', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = hex('07000000 00000000');
    expect(REJECT.decode(b, 0)).toEqual({ with: 7 });
    expect(REJECT.encode({ with: 7 }, 0)).toEqual(b);
    expect(REJECT.dataSize(0)).toBe(4);
  });

  roundTrip(REJECT, fc.record({ with: u32() }));

  it('accepts every icmp reply from INPUT, FORWARD and OUTPUT of filter', () => {
    for (const w of [0, 1, 2, 3, 5, 6, 8]) {
      expect(() =>
        REJECT.check({ with: w }, 0, ctx({ hookMask: INPUT | FORWARD | OUTPUT })),
      ).not.toThrow();
    }
  });

  it('accepts tcp-reset on a -p tcp rule', () => {
    expect(() => REJECT.check({ with: 7 }, 0, ctx({ proto: 6 }))).not.toThrow();
  });

  it('accepts values past the enum (the kernel then drops without replying)', () => {
    expect(() => REJECT.check({ with: 99 }, 0, ctx())).not.toThrow();
  });

  it('refuses tables other than filter (EINVAL)', () => {
    expectErrno(() => REJECT.check({ with: 3 }, 0, ctx({ table: 'mangle' })), EINVAL);
  });

  it('refuses rules reachable from PREROUTING or POSTROUTING (EINVAL)', () => {
    expectErrno(() => REJECT.check({ with: 3 }, 0, ctx({ hookMask: INPUT | 1 })), EINVAL);
    expectErrno(() => REJECT.check({ with: 3 }, 0, ctx({ hookMask: 1 << 4 })), EINVAL);
  });

  it('refuses icmp-echo-reply (EINVAL)', () => {
    expectErrno(() => REJECT.check({ with: 4 }, 0, ctx()), EINVAL);
  });

  it('refuses tcp-reset without -p tcp or with ! -p tcp (EINVAL)', () => {
    expectErrno(() => REJECT.check({ with: 7 }, 0, ctx({ proto: 17 })), EINVAL);
    expectErrno(() => REJECT.check({ with: 7 }, 0, ctx({ proto: 0 })), EINVAL);
    expectErrno(() => REJECT.check({ with: 7 }, 0, ctx({ proto: 6, invProto: true })), EINVAL);
  });

  it('formats as iptables-save would', () => {
    expect(REJECT.format({ with: 3 }, 0)).toBe('--reject-with icmp-port-unreachable');
    expect(REJECT.format({ with: 7 }, 0)).toBe('--reject-with tcp-reset');
  });
});
