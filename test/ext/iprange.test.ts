import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iprange } from '../../src/translate/ext/iprange.js';
import { ctx, roundTrip, u32, u8 } from './helpers.js';

describe('iprange match (rev 1)', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = Buffer.alloc(72);
    b.set([10, 0, 0, 1], 0); // src_min
    b.set([10, 0, 0, 9], 16); // src_max
    b.set([192, 168, 1, 1], 32); // dst_min
    b.set([192, 168, 2, 254], 48); // dst_max
    b[64] = 0x23; // SRC | DST | DST_INV
    const v = {
      srcMin: 0x0a000001,
      srcMax: 0x0a000009,
      dstMin: 0xc0a80101,
      dstMax: 0xc0a802fe,
      flags: 0x23,
    };
    expect(iprange.decode(b, 1)).toEqual(v);
    expect(iprange.encode(v, 1)).toEqual(b);
    expect(iprange.dataSize(1)).toBe(68);
    expect(iprange.format(v, 1)).toBe(
      '--src-range 10.0.0.1-10.0.0.9 ! --dst-range 192.168.1.1-192.168.2.254',
    );
  });

  roundTrip(
    iprange,
    fc.record({ srcMin: u32(), srcMax: u32(), dstMin: u32(), dstMax: u32(), flags: u8() }),
    1,
  );

  it('accepts any value (no checkentry)', () => {
    const v = { srcMin: 9, srcMax: 1, dstMin: 0, dstMax: 0, flags: 0xff };
    expect(() => iprange.check(v, 1, ctx())).not.toThrow();
  });
});
