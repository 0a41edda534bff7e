import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ttl } from '../../src/translate/ext/ttl.js';
import { ctx, hex, roundTrip, u8 } from './helpers.js';

describe('ttl match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = hex('03 05 000000000000');
    expect(ttl.decode(b, 0)).toEqual({ mode: 3, ttl: 5 });
    expect(ttl.encode({ mode: 3, ttl: 5 }, 0)).toEqual(b);
    expect(ttl.dataSize(0)).toBe(2);
  });

  roundTrip(ttl, fc.record({ mode: u8(), ttl: u8() }));

  it('accepts an unknown mode, as the kernel does (it then never matches)', () => {
    expect(() => ttl.check({ mode: 9, ttl: 1 }, 0, ctx())).not.toThrow();
  });

  it('formats as iptables-save would', () => {
    expect(ttl.format({ mode: 0, ttl: 64 }, 0)).toBe('--ttl-eq 64');
    expect(ttl.format({ mode: 1, ttl: 64 }, 0)).toBe('! --ttl-eq 64');
    expect(ttl.format({ mode: 2, ttl: 3 }, 0)).toBe('--ttl-lt 3');
  });
});
