import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { devgroup } from '../../src/translate/ext/devgroup.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, hex, roundTrip, u32 } from './helpers.js';

const P = { proto: 0, invProto: false };
const o = (name: string, arg: string, invert = false): SaveOption => ({
  name,
  invert,
  args: [arg],
});
const V = { flags: 0, srcGroup: 0, srcMask: 0, dstGroup: 0, dstMask: 0 };

describe('devgroup match (rev 0)', () => {
  it('decodes and encodes a hand-built payload', () => {
    const b = hex('07000000 03000000 ffffffff 00000000 ffffffff');
    const v = { flags: 7, srcGroup: 3, srcMask: 0xffffffff, dstGroup: 0, dstMask: 0xffffffff };
    expect(devgroup.decode(b, 0)).toEqual(v);
    expect(devgroup.encode(v, 0)).toEqual(Buffer.concat([b, Buffer.alloc(4)]));
  });

  roundTrip(
    devgroup,
    fc.record({ flags: u32(), srcGroup: u32(), srcMask: u32(), dstGroup: u32(), dstMask: u32() }),
  );

  it('checks flags and which hooks have the device it tests (EINVAL)', () => {
    const src = { ...V, flags: 1 };
    const dst = { ...V, flags: 4 };
    expect(() => devgroup.check(src, 0, ctx({ hookMask: 0x06 }))).not.toThrow();
    expectErrno(() => devgroup.check(src, 0, ctx({ hookMask: 0x08 })), EINVAL);
    expect(() => devgroup.check(dst, 0, ctx({ hookMask: 0x0c }))).not.toThrow();
    expectErrno(() => devgroup.check(dst, 0, ctx({ hookMask: 0x02 })), EINVAL);
    expectErrno(() => devgroup.check({ ...V, flags: 0x10 }, 0, ctx()), EINVAL);
    expect(() => devgroup.check({ ...V, flags: 0xa }, 0, ctx({ hookMask: 0x1f }))).not.toThrow();
  });

  it('parses and formats both groups, names through iproute2’s group file', () => {
    const v = devgroup.parse?.([o('dst-group', 'default', true), o('src-group', '0x10/0xf0')], P);
    expect(v?.value).toEqual({
      flags: 0xd,
      srcGroup: 0x10,
      srcMask: 0xf0,
      dstGroup: 0,
      dstMask: 0xffffffff,
    });
    expect(devgroup.format(v?.value as never, 0)).toBe(
      '--src-group 0x10/0xf0 ! --dst-group default',
    );
    expect(() => devgroup.parse?.([], P)).toThrow(/--src-group or --dst-group/);
  });
});
