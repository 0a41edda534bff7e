// Shared pieces of the per-extension tests: a default check context, errno assertions and the
// fast-check round trip every codec must pass.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { xtAlign } from '../../src/translate/abi.js';
import { XtError } from '../../src/translate/errno.js';
import type { CheckContext, Extension } from '../../src/translate/ext/types.js';

/** A rule in filter/INPUT without -p, unless overridden. */
export function ctx(over: Partial<CheckContext> = {}): CheckContext {
  return { table: 'filter', hookMask: 1 << 1, proto: 0, invProto: false, ...over };
}

export function expectErrno(fn: () => void, errno: number): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(XtError);
    expect((e as XtError).errno).toBe(errno);
    return;
  }
  expect.fail(`expected XtError errno ${errno}, nothing thrown`);
}

export const u8 = (): fc.Arbitrary<number> => fc.integer({ min: 0, max: 0xff });
export const u16 = (): fc.Arbitrary<number> => fc.integer({ min: 0, max: 0xffff });
export const u32 = (): fc.Arbitrary<number> => fc.integer({ min: 0, max: 0xffffffff });

/**
 * decode(encode(v)) == v for every value, encode is xtAlign(dataSize) long, and decode never
 * throws on arbitrary bytes of that length (encode(decode(b)) is then a fixed point).
 */
export function roundTrip<T>(ext: Extension<T>, arb: fc.Arbitrary<T>, revision = 0): void {
  const size = xtAlign(ext.dataSize(revision));
  it(`round-trips typed values (rev ${revision})`, () => {
    fc.assert(
      fc.property(arb, (v) => {
        const b = ext.encode(v, revision);
        expect(b.length).toBe(size);
        expect(ext.decode(b, revision)).toEqual(v);
        expect(ext.encode(ext.decode(b, revision), revision).equals(b)).toBe(true);
      }),
    );
  });
  it(`decodes any ${size} bytes without throwing, re-encoding to a fixed point (rev ${revision})`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: size, maxLength: size }), (raw) => {
        const once = ext.encode(ext.decode(Buffer.from(raw), revision), revision);
        expect(ext.encode(ext.decode(once, revision), revision).equals(once)).toBe(true);
        expect(() => ext.format(ext.decode(Buffer.from(raw), revision), revision)).not.toThrow();
      }),
    );
  });
  it(`decodes a short or long buffer as zero-filled/cut (rev ${revision})`, () => {
    expect(() => ext.decode(Buffer.alloc(0), revision)).not.toThrow();
    expect(ext.encode(ext.decode(Buffer.alloc(size + 8, 0), revision), revision)).toEqual(
      Buffer.alloc(size),
    );
  });
}

/** Bytes from a hex string with spaces allowed. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** An extension value's optional struct padding of `bytes` bytes: absent, or not zero. */
export const pad = (bytes: number): fc.Arbitrary<number | undefined> =>
  fc.option(fc.integer({ min: 1, max: 2 ** (8 * bytes) - 1 }), { nil: undefined });
