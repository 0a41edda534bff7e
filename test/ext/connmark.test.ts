import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connmark } from '../../src/translate/ext/connmark.js';
import { ctx, hex, pad, roundTrip, u32, u8 } from './helpers.js';

const P = { proto: 0, invProto: false };
const parse = (arg: string, invert = false) =>
  connmark.parse?.([{ name: 'mark', invert, args: [arg] }], P).value;

describe('connmark match (rev 1)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('10000000 ff000000 01 000000 00000000');
    expect(connmark.decode(b, 1)).toEqual({ mark: 0x10, mask: 0xff, invert: 1 });
    expect(connmark.encode({ mark: 0x10, mask: 0xff, invert: 1 }, 1)).toEqual(b);
    expect(connmark.revisions).toEqual([1]);
  });

  roundTrip(connmark, fc.record({ mark: u32(), mask: u32(), invert: u8(), pad: pad(3) }), 1);

  it('accepts any value', () => {
    expect(() => connmark.check({ mark: 1, mask: 0, invert: 9 }, 1, ctx())).not.toThrow();
  });

  it('parses value[/mask] as xtables_parse_val_mask and formats as xtables_print_mark_mask', () => {
    expect(parse('0x10/0xff')).toEqual({ mark: 0x10, mask: 0xff, invert: 0 });
    expect(parse('010', true)).toEqual({ mark: 8, mask: 0xffffffff, invert: 1 });
    expect(connmark.format({ mark: 5, mask: 0xffffffff, invert: 1 }, 1)).toBe('! --mark 0x5');
    expect(connmark.format({ mark: 0x10, mask: 0xff, invert: 0 }, 1)).toBe('--mark 0x10/0xff');
    expect(() => parse('1/x')).toThrow(/bad integer/);
    expect(() => parse('1x')).toThrow(/trailing garbage/);
    expect(() => parse('4294967296')).toThrow(/bad integer/);
    expect(() => connmark.parse?.([], P)).toThrow(/--mark is required/);
  });
});
