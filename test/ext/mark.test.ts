import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mark } from '../../src/translate/ext/mark.js';
import { ctx, hex, roundTrip, u32, u8 } from './helpers.js';

describe('mark match (rev 1)', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = hex('10000000 ff000000 01 000000 00000000');
    const v = { mark: 0x10, mask: 0xff, invert: 1 };
    expect(mark.decode(b, 1)).toEqual(v);
    expect(mark.encode(v, 1)).toEqual(b);
    expect(mark.dataSize(1)).toBe(12);
    expect(mark.revisions).toEqual([1]);
  });

  roundTrip(mark, fc.record({ mark: u32(), mask: u32(), invert: u8() }), 1);

  it('accepts any value (no checkentry)', () => {
    expect(() => mark.check({ mark: 1, mask: 0, invert: 7 }, 1, ctx())).not.toThrow();
  });

  it('formats as iptables-save would', () => {
    expect(mark.format({ mark: 0x10, mask: 0xff, invert: 0 }, 1)).toBe('--mark 0x10/0xff');
    expect(mark.format({ mark: 5, mask: 0xffffffff, invert: 1 }, 1)).toBe('! --mark 0x5');
  });
});
