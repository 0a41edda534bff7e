import { describe, expect, it } from 'vitest';
import { state, stateNames } from '../../src/translate/ext/state.js';
import { ctx, hex, roundTrip, u32 } from './helpers.js';
import fc from 'fast-check';

describe('state match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = hex('0a000000 00000000');
    expect(state.decode(b, 0)).toEqual({ statemask: 0x0a });
    expect(state.encode({ statemask: 0x0a }, 0)).toEqual(b);
    expect(state.dataSize(0)).toBe(4);
  });

  roundTrip(state, fc.record({ statemask: u32() }));

  it('accepts any mask in any table and hook, as state_mt_check does', () => {
    expect(() =>
      state.check({ statemask: 0xffffffff }, 0, ctx({ table: 'raw', hookMask: 9 })),
    ).not.toThrow();
  });

  it('formats as iptables-save would', () => {
    expect(state.format({ statemask: 0x0a }, 0)).toBe('--state NEW,ESTABLISHED');
    expect(stateNames(0x41)).toBe('INVALID,UNTRACKED');
    expect(stateNames(0x80)).toBe('0x80');
  });
});
