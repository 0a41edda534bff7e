// The 2018 bpfilter seed's wire format between the kernel side (kmod or shim) and the helper:
// struct mbox_request { u64 addr; u32 len; u32 is_set; u32 cmd; u32 pid; } (24 bytes) and
// struct mbox_reply { u32 status; } (0, a positive length, or a negative errno).

export const MBOX_REQUEST_SIZE = 24;
export const MBOX_REPLY_SIZE = 4;

export interface MboxRequest {
  /** The caller's optval, in the caller's address space. */
  readonly addr: bigint;
  /** optlen (for getsockopt: the value of *optlen on entry). */
  readonly len: number;
  readonly isSet: boolean;
  /** The sockopt number (IPT_SO_*). */
  readonly cmd: number;
  /** The caller's pid (thread group id), whose memory and netns the request refers to. */
  readonly pid: number;
}

export function parseRequest(buf: Buffer): MboxRequest {
  if (buf.length !== MBOX_REQUEST_SIZE)
    throw new RangeError(`mbox_request is ${MBOX_REQUEST_SIZE} bytes, got ${buf.length}`);
  return {
    addr: buf.readBigUInt64LE(0),
    len: buf.readUInt32LE(8),
    isSet: buf.readUInt32LE(12) !== 0,
    cmd: buf.readUInt32LE(16),
    pid: buf.readUInt32LE(20),
  };
}

export function serializeRequest(req: MboxRequest): Buffer {
  const buf = Buffer.alloc(MBOX_REQUEST_SIZE);
  buf.writeBigUInt64LE(req.addr, 0);
  buf.writeUInt32LE(req.len, 8);
  buf.writeUInt32LE(req.isSet ? 1 : 0, 12);
  buf.writeUInt32LE(req.cmd, 16);
  buf.writeUInt32LE(req.pid, 20);
  return buf;
}

/** The all-zero request the kernel side sends to check the helper is alive. */
export function isHealthCheck(req: MboxRequest): boolean {
  return req.addr === 0n && req.len === 0 && !req.isSet && req.cmd === 0 && req.pid === 0;
}

export function serializeReply(status: number): Buffer {
  const buf = Buffer.alloc(MBOX_REPLY_SIZE);
  buf.writeInt32LE(status, 0);
  return buf;
}

export function parseReply(buf: Buffer): number {
  if (buf.length !== MBOX_REPLY_SIZE)
    throw new RangeError(`mbox_reply is ${MBOX_REPLY_SIZE} bytes, got ${buf.length}`);
  return buf.readInt32LE(0);
}

/**
 * Splits a byte stream into 24-byte requests, whatever the chunking of reads (pipes and sockets
 * may deliver a request in pieces or several at once).
 */
export class RequestFramer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): MboxRequest[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: MboxRequest[] = [];
    while (this.pending.length >= MBOX_REQUEST_SIZE) {
      out.push(parseRequest(this.pending.subarray(0, MBOX_REQUEST_SIZE)));
      this.pending = this.pending.subarray(MBOX_REQUEST_SIZE);
    }
    return out;
  }

  /** Bytes of an unfinished request (a short write by the peer). */
  get leftover(): number {
    return this.pending.length;
  }
}
