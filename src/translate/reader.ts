// A cursor over little-endian bytes (x86-64 host order), in the shape of pg-protocol's
// buffer-reader. Reads past the end throw RangeError: callers that parse untrusted bytes check
// bounds first and turn shortfalls into the kernel's errno.

export class Reader {
  private pos: number;

  constructor(
    readonly buf: Buffer,
    offset = 0,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }

  seek(offset: number): this {
    this.pos = offset;
    return this;
  }

  u8(): number {
    const v = this.buf.readUInt8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A network-order IPv4 address as the u32 it reads as in big-endian (1.2.3.4 → 0x01020304). */
  be32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A copy of the next `n` bytes (copies, so records never alias the caller's buffer). */
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new RangeError(`read of ${n} bytes past the end`);
    const v = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return v;
  }

  skip(n: number): this {
    this.pos += n;
    return this;
  }
}

/** The C string in a fixed char array: bytes up to the first NUL (or all of them). */
export function cString(field: Buffer): string {
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul === -1 ? field.length : nul);
}
