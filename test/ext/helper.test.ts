import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { helper } from '../../src/translate/ext/helper.js';
import { ctx, pad, roundTrip, u32 } from './helpers.js';

const P = { proto: 0, invProto: false };

describe('helper match (rev 0)', () => {
  it('reads 29 name bytes: the kernel NUL-terminates name[29] in checkentry', () => {
    const b = Buffer.alloc(40);
    b.writeUInt32LE(1, 0);
    b.write('x'.repeat(30), 4, 'latin1');
    expect(helper.decode(b, 0)).toEqual({ invert: 1, name: 'x'.repeat(29) });
    const back = Buffer.from(b);
    back[4 + 29] = 0;
    expect(helper.encode(helper.decode(b, 0), 0)).toEqual(back);
    expect(helper.dataSize(0)).toBe(36);
  });

  roundTrip(
    helper,
    fc.record({
      invert: u32(),
      name: fc
        .string({
          maxLength: 29,
          unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
        })
        .map((s) => s.replace(/\0+$/, '')),
      pad: pad(2),
    }),
  );

  it('accepts anything; formats with xtables_save_string quoting', () => {
    expect(() => helper.check({ invert: 7, name: '' }, 0, ctx())).not.toThrow();
    expect(helper.format({ invert: 0, name: 'ftp' }, 0)).toBe('--helper ftp');
    expect(helper.format({ invert: 1, name: 'a.b"c' }, 0)).toBe('! --helper "a.b\\"c"');
    expect(helper.format({ invert: 0, name: '' }, 0)).toBe('--helper ""');
  });

  it('parses, silently cutting to 29 bytes as iptables', () => {
    const v = helper.parse?.([{ name: 'helper', invert: true, args: ['a'.repeat(40)] }], P).value;
    expect(v).toEqual({ invert: 1, name: 'a'.repeat(29) });
    expect(() => helper.parse?.([], P)).toThrow(/--helper is required/);
  });
});
