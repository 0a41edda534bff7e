import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isHealthCheck,
  parseReply,
  parseRequest,
  RequestFramer,
  serializeReply,
  serializeRequest,
  type MboxRequest,
} from '../../src/ipc/mbox.js';

const request: fc.Arbitrary<MboxRequest> = fc.record({
  addr: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  len: fc.nat({ max: 0xffffffff }),
  isSet: fc.boolean(),
  cmd: fc.nat({ max: 0xffffffff }),
  pid: fc.nat({ max: 0xffffffff }),
});

describe('mbox wire format (the 2018 seed)', () => {
  it('mbox_request is {u64 addr; u32 len; u32 is_set; u32 cmd; u32 pid}, little-endian', () => {
    const req = { addr: 0x7ffd12345678n, len: 84, isSet: false, cmd: 64, pid: 4242 };
    expect(serializeRequest(req).toString('hex')).toBe(
      '78563412fd7f0000' + '54000000' + '00000000' + '40000000' + '92100000',
    );
    expect(parseRequest(serializeRequest(req))).toEqual(req);
  });

  it('mbox_reply carries a negative errno as u32 two complement', () => {
    expect(serializeReply(-22).toString('hex')).toBe('eaffffff');
    expect(serializeReply(0).toString('hex')).toBe('00000000');
    expect(parseReply(Buffer.from('eaffffff', 'hex'))).toBe(-22);
  });

  it('the all-zero request is the health check, and only it', () => {
    expect(isHealthCheck(parseRequest(Buffer.alloc(24)))).toBe(true);
    const b = Buffer.alloc(24);
    b[20] = 1;
    expect(isHealthCheck(parseRequest(b))).toBe(false);
  });

  it('round-trips and frames any chunking of a request stream', () => {
    fc.assert(
      fc.property(
        fc.array(request, { maxLength: 8 }),
        fc.array(fc.nat({ max: 30 })),
        (reqs, cuts) => {
          const stream = Buffer.concat(reqs.map(serializeRequest));
          const framer = new RequestFramer();
          const got: MboxRequest[] = [];
          let at = 0;
          for (const c of cuts) {
            got.push(...framer.push(stream.subarray(at, Math.min(stream.length, at + c))));
            at = Math.min(stream.length, at + c);
          }
          got.push(...framer.push(stream.subarray(at)));
          expect(got).toEqual(reqs);
          expect(framer.leftover).toBe(0);
        },
      ),
    );
  });

  it('rejects wrong sizes', () => {
    expect(() => parseRequest(Buffer.alloc(23))).toThrow(RangeError);
    expect(() => parseReply(Buffer.alloc(5))).toThrow(RangeError);
  });
});
