import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERANGE } from '../../src/translate/errno.js';
import { CREDITS_PER_JIFFY, limit, user2credits } from '../../src/translate/ext/limit.js';
import { ctx, expectErrno, roundTrip, u32 } from './helpers.js';

describe('limit match', () => {
  it('user data is avg and burst only; the 32 kernel bytes are zeroed', () => {
    expect(limit.dataSize(0)).toBe(40);
    expect(limit.userSize(0)).toBe(8);
    const b = Buffer.alloc(40);
    b.writeUInt32LE(2000, 0);
    b.writeUInt32LE(10, 4);
    expect(limit.encode({ avg: 2000, burst: 10 }, 0)).toEqual(b);
    // What iptables could leave in prev/credit/cost/master is not part of the value.
    const dirty = Buffer.from(b);
    dirty.fill(0xaa, 8);
    expect(limit.decode(dirty, 0)).toEqual({ avg: 2000, burst: 10 });
    expect(limit.encode(limit.decode(dirty, 0), 0)).toEqual(b);
  });

  roundTrip(limit, fc.record({ avg: u32(), burst: u32() }));

  it('uses the kernel’s credit arithmetic for HZ=250', () => {
    expect(CREDITS_PER_JIFFY).toBe(128);
    expect(user2credits(10000)).toBe(32000); // one second
    expect(user2credits(134217)).toBe(Math.floor((134217 * 32000) / 10000));
    // Above 0xFFFFFFFF / 32000 the kernel divides first, then multiplies in u32 (wrapping).
    expect(user2credits(864000000)).toBe(2764800000);
    expect(user2credits(3456000000)).toBe((345600 * 32000) % 2 ** 32);
  });

  it('accepts a burst whose credits do not wrap', () => {
    expect(() => limit.check({ avg: 2000, burst: 10 }, 0, ctx())).not.toThrow();
    expect(() => limit.check({ avg: 864000000, burst: 1 }, 0, ctx())).not.toThrow();
    expect(() => limit.check({ avg: 0, burst: 1 }, 0, ctx())).not.toThrow();
  });

  it('refuses burst 0 (ERANGE)', () => {
    expectErrno(() => limit.check({ avg: 2000, burst: 0 }, 0, ctx()), ERANGE);
  });

  it('refuses avg*burst whose credits wrap below avg’s (ERANGE)', () => {
    expectErrno(() => limit.check({ avg: 864000000, burst: 2 }, 0, ctx()), ERANGE);
  });

  it('formats as iptables-save would', () => {
    expect(limit.format({ avg: 2000, burst: 10 }, 0)).toBe('--limit 5/sec --limit-burst 10');
    expect(limit.format({ avg: 12000000, burst: 5 }, 0)).toBe('--limit 3/hour');
  });
});
