import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/translate/ext/args.js';
import { parseTosMask, tos } from '../../src/translate/ext/tos.js';
import { ctx, hex, roundTrip, u8 } from './helpers.js';

const opt = (args: string[], invert = false) => [{ name: 'tos', invert, args }];

describe('tos match (rev 1)', () => {
  it('decodes and encodes a hand-built payload (mask, value, invert)', () => {
    const b = hex('3f 10 01 00000000 00');
    const v = { mask: 0x3f, value: 0x10, invert: 1 };
    expect(tos.decode(b, 1)).toEqual(v);
    expect(tos.encode(v, 1)).toEqual(b);
    expect([tos.dataSize(1), tos.userSize(1), tos.revisions]).toEqual([3, 3, [1]]);
  });

  roundTrip(tos, fc.record({ mask: u8(), value: u8(), invert: u8() }), 1);

  it('has no checkentry', () => {
    expect(() => tos.check({ mask: 0, value: 0xff, invert: 9 }, 1, ctx())).not.toThrow();
  });

  it('formats as iptables-save: value/mask always, in hex', () => {
    expect(tos.format({ mask: 0xff, value: 0x10, invert: 0 }, 1)).toBe('--tos 0x10/0xff');
    expect(tos.format({ mask: 0x3f, value: 2, invert: 1 }, 1)).toBe('! --tos 0x02/0x3f');
  });

  it('parses numbers with mask 0xff by default and names with mask 0x3f', () => {
    expect(parseTosMask('0x10', 0x3f, 'w')).toEqual([0x10, 0xff]);
    expect(parseTosMask('16/0x3f', 0x3f, 'w')).toEqual([0x10, 0x3f]);
    expect(parseTosMask('minimize-delay', 0x3f, 'w')).toEqual([0x10, 0x3f]);
    expect(parseTosMask('Normal-Service', 0x3f, 'w')).toEqual([0, 0x3f]);
    expect(tos.parse?.(opt(['8'], true), { proto: 0, invProto: false }).value).toEqual({
      mask: 0xff,
      value: 8,
      invert: 1,
    });
  });

  it('refuses what iptables refuses', () => {
    // A number above 255 is looked up as a name.
    for (const bad of ['300', '5/0x100', '5/', '5x', 'Bogus', '-1']) {
      expect(() => parseTosMask(bad, 0x3f, 'w')).toThrow(OptionError);
    }
    expect(() => tos.parse?.([], { proto: 0, invProto: false })).toThrow(/--tos is required/);
  });
});
