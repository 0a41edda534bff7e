import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { length } from '../../src/translate/ext/length.js';
import { ctx, hex, roundTrip, u16, u8 } from './helpers.js';

describe('length match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = hex('6400 dc05 01 00 0000');
    const v = { min: 100, max: 1500, invert: 1 };
    expect(length.decode(b, 0)).toEqual(v);
    expect(length.encode(v, 0)).toEqual(b);
    expect(length.dataSize(0)).toBe(6);
    expect(length.format(v, 0)).toBe('! --length 100:1500');
  });

  roundTrip(length, fc.record({ min: u16(), max: u16(), invert: u8() }));

  it('accepts any value (no checkentry)', () => {
    expect(() => length.check({ min: 9, max: 1, invert: 3 }, 0, ctx())).not.toThrow();
  });
});
