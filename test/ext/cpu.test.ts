import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { cpu } from '../../src/translate/ext/cpu.js';
import { ctx, expectErrno, hex, roundTrip, u32 } from './helpers.js';

const P = { proto: 0, invProto: false };

describe('cpu match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('03000000 01000000');
    expect(cpu.decode(b, 0)).toEqual({ cpu: 3, invert: 1 });
    expect(cpu.encode({ cpu: 3, invert: 1 }, 0)).toEqual(b);
  });

  roundTrip(cpu, fc.record({ cpu: u32(), invert: u32() }));

  it('refuses an invert other than 0 or 1 (EINVAL)', () => {
    expect(() => cpu.check({ cpu: 0xffffffff, invert: 1 }, 0, ctx())).not.toThrow();
    expectErrno(() => cpu.check({ cpu: 0, invert: 2 }, 0, ctx()), EINVAL);
  });

  it('parses and formats', () => {
    const v = cpu.parse?.([{ name: 'cpu', invert: true, args: ['4294967295'] }], P).value;
    expect(v).toEqual({ cpu: 0xffffffff, invert: 1 });
    expect(cpu.format({ cpu: 1, invert: 1 }, 0)).toBe('! --cpu 1');
    expect(() => cpu.parse?.([{ name: 'cpu', invert: false, args: ['x'] }], P)).toThrow();
  });
});
