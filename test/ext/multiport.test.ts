import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { multiport, type MultiportMatch } from '../../src/translate/ext/multiport.js';
import { ctx, expectErrno, roundTrip, u16, u8 } from './helpers.js';

const fill15 = (...v: number[]): number[] => [...v, ...Array<number>(15 - v.length).fill(0)];
const WEB: MultiportMatch = {
  flags: 1,
  count: 4,
  ports: fill15(22, 80, 1000, 2000),
  pflags: fill15(0, 0, 1),
  invert: 0,
};

describe('multiport match (rev 1)', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = Buffer.alloc(48);
    b[0] = 1; // XT_MULTIPORT_DESTINATION
    b[1] = 4; // count
    [22, 80, 1000, 2000].forEach((p, i) => b.writeUInt16LE(p, 2 + 2 * i));
    b[32 + 2] = 1; // pflags[2]: ports[2]..ports[3] is a range
    expect(multiport.decode(b, 1)).toEqual(WEB);
    expect(multiport.encode(WEB, 1)).toEqual(b);
    expect(multiport.dataSize(1)).toBe(48);
    expect(multiport.revisions).toEqual([1]);
  });

  roundTrip(
    multiport,
    fc.record({
      flags: u8(),
      count: u8(),
      ports: fc.array(u16(), { minLength: 15, maxLength: 15 }),
      pflags: fc.array(u8(), { minLength: 15, maxLength: 15 }),
      invert: u8(),
    }),
    1,
  );

  it('accepts tcp, udp, udplite, sctp and dccp rules with up to 15 ports', () => {
    for (const proto of [6, 17, 136, 132, 33]) {
      expect(() =>
        multiport.check({ ...WEB, count: 15, flags: 2 }, 1, ctx({ proto })),
      ).not.toThrow();
    }
  });

  it('refuses a protocol without ports (EINVAL)', () => {
    expectErrno(() => multiport.check(WEB, 1, ctx({ proto: 0 })), EINVAL);
    expectErrno(() => multiport.check(WEB, 1, ctx({ proto: 1 })), EINVAL);
  });

  it('refuses ! -p tcp (EINVAL)', () => {
    expectErrno(() => multiport.check(WEB, 1, ctx({ proto: 6, invProto: true })), EINVAL);
  });

  it('refuses an unknown mode (EINVAL)', () => {
    expectErrno(() => multiport.check({ ...WEB, flags: 3 }, 1, ctx({ proto: 6 })), EINVAL);
  });

  it('refuses more than 15 ports (EINVAL)', () => {
    expectErrno(() => multiport.check({ ...WEB, count: 16 }, 1, ctx({ proto: 6 })), EINVAL);
  });

  it('refuses a range whose high end is past count (EINVAL)', () => {
    expectErrno(() => multiport.check({ ...WEB, count: 3 }, 1, ctx({ proto: 6 })), EINVAL);
  });

  it('refuses a range whose high end starts another range (EINVAL)', () => {
    const v = { ...WEB, count: 5, pflags: fill15(0, 0, 1, 1) };
    expectErrno(() => multiport.check(v, 1, ctx({ proto: 6 })), EINVAL);
  });

  it('refuses a range with lo > hi (EINVAL), accepts lo == hi', () => {
    const down = { ...WEB, ports: fill15(22, 80, 2000, 1000) };
    expectErrno(() => multiport.check(down, 1, ctx({ proto: 6 })), EINVAL);
    const flat = { ...WEB, ports: fill15(22, 80, 1000, 1000) };
    expect(() => multiport.check(flat, 1, ctx({ proto: 6 }))).not.toThrow();
  });

  it('ignores pflags past count', () => {
    const v = { ...WEB, pflags: fill15(0, 0, 1, 0, 1, 1, 1) };
    expect(() => multiport.check(v, 1, ctx({ proto: 6 }))).not.toThrow();
  });

  it('formats as iptables-save would', () => {
    expect(multiport.format(WEB, 1)).toBe('--dports 22,80,1000:2000');
    expect(multiport.format({ ...WEB, flags: 0, count: 1, invert: 1 }, 1)).toBe('! --sports 22');
  });
});
