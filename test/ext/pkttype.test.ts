import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pkttype, type PkttypeMatch } from '../../src/translate/ext/pkttype.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, hex, roundTrip } from './helpers.js';

const i32 = (): fc.Arbitrary<number> => fc.integer({ min: -0x80000000, max: 0x7fffffff });
const parse = (text: string, invert = false): PkttypeMatch =>
  pkttype.parse!([{ name: 'pkt-type', invert, args: [text] }] satisfies SaveOption[], {
    proto: 0,
    invProto: false,
  }).value as PkttypeMatch;

describe('pkttype match', () => {
  it('two C ints', () => {
    const v = { pkttype: 2, invert: 1 };
    expect(pkttype.dataSize(0)).toBe(8);
    expect(pkttype.encode(v, 0)).toEqual(hex('02000000 01000000'));
    expect(pkttype.decode(hex('02000000 01000000'), 0)).toEqual(v);
    expect(pkttype.format(v, 0)).toBe('! --pkt-type multicast');
  });

  roundTrip(pkttype, fc.record({ pkttype: i32(), invert: i32() }));

  it('format: names for 0-3, the number (signed) otherwise', () => {
    expect([0, 1, 3].map((t) => pkttype.format({ pkttype: t, invert: 0 }, 0))).toEqual([
      '--pkt-type unicast',
      '--pkt-type broadcast',
      '--pkt-type otherhost',
    ]);
    expect(pkttype.format({ pkttype: 5, invert: -1 }, 0)).toBe('! --pkt-type 5');
    expect(pkttype.format({ pkttype: -2, invert: 0 }, 0)).toBe('--pkt-type -2');
  });

  it('check refuses nothing', () => {
    expect(() => pkttype.check({ pkttype: 99, invert: 7 }, 0, ctx())).not.toThrow();
  });

  it('parse: names and aliases, case-insensitive; nothing else', () => {
    expect(
      ['UNICAST', 'host', 'Bcast', 'broadcast', 'mcast', 'multicast', 'otherhost'].map(
        (t) => parse(t).pkttype,
      ),
    ).toEqual([0, 0, 1, 1, 2, 2, 3]);
    expect(parse('host', true)).toEqual({ pkttype: 0, invert: 1 });
    expect(() => parse('outgoing')).toThrow(/bad packet type "outgoing"/);
    expect(() => parse('1')).toThrow(/bad packet type/);
    expect(() => pkttype.parse!([], { proto: 0, invProto: false })).toThrow(/required/);
  });
});
