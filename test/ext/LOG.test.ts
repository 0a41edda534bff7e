import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { LOG, logPrefix, type LogTarget } from '../../src/translate/ext/LOG.js';
import { ctx, expectErrno, roundTrip, u8 } from './helpers.js';

const IN: LogTarget = { level: 6, logflags: 0x09, prefix: 'in: ' };

describe('LOG target', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = Buffer.alloc(32);
    b[0] = 6;
    b[1] = 0x09;
    b.write('in: ', 2, 'latin1');
    expect(LOG.decode(b, 0)).toEqual(IN);
    expect(LOG.encode(IN, 0)).toEqual(b);
    expect(LOG.dataSize(0)).toBe(32);
  });

  roundTrip(
    LOG,
    fc.record({
      level: u8(),
      logflags: u8(),
      prefix: fc
        .uint8Array({ maxLength: 30 })
        .map((a) => Buffer.from(a).toString('latin1').replace(/\0+$/, '')),
    }),
  );

  it('accepts levels 0..7 and a 29-byte prefix, anywhere', () => {
    const v = { level: 7, logflags: 0xff, prefix: 'p'.repeat(29) };
    expect(() => LOG.check(v, 0, ctx({ table: 'mangle', hookMask: 31 }))).not.toThrow();
  });

  it('refuses level 8 and above (EINVAL)', () => {
    expectErrno(() => LOG.check({ ...IN, level: 8 }, 0, ctx()), EINVAL);
    expectErrno(() => LOG.check({ ...IN, level: 255 }, 0, ctx()), EINVAL);
  });

  it('refuses a prefix whose last byte is not NUL (EINVAL)', () => {
    expectErrno(() => LOG.check({ ...IN, prefix: 'p'.repeat(30) }, 0, ctx()), EINVAL);
  });

  it('refuses garbage in the last byte even after an inner NUL (EINVAL), as the kernel reads byte 29', () => {
    const b = Buffer.alloc(32);
    b.write('ab', 2, 'latin1');
    b[31] = 0x41;
    const v = LOG.decode(b, 0);
    expect(logPrefix(v)).toBe('ab');
    expect(LOG.encode(v, 0)).toEqual(b);
    expectErrno(() => LOG.check(v, 0, ctx()), EINVAL);
  });

  it('formats as iptables-save would', () => {
    expect(LOG.format(IN, 0)).toBe(
      '--log-prefix "in: " --log-level 6 --log-tcp-sequence --log-uid',
    );
    expect(LOG.format({ level: 4, logflags: 0, prefix: '' }, 0)).toBe('');
  });
});
