// Crafted IPv4 packets (from the IP header on), checksummed, for test-runs and injection.
export function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += (b[b.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const addr = (s: string): Buffer => Buffer.from(s.split('.').map(Number));

export interface IpOptions {
  src?: string;
  dst?: string;
  ttl?: number;
  tos?: number;
  /** Fragment offset in 8-byte units. */
  fragoff?: number;
  moreFragments?: boolean;
  /** IP options bytes (padded to 4). */
  options?: Buffer;
}

export function ipv4(proto: number, payload: Buffer, o: IpOptions = {}): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const optLen = (opts.length + 3) & ~3;
  const h = Buffer.alloc(20 + optLen);
  h[0] = 0x40 | ((20 + optLen) / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h.writeUInt16BE(((o.moreFragments ? 1 : 0) << 13) | (o.fragoff ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  addr(o.src ?? '10.0.0.1').copy(h, 12);
  addr(o.dst ?? '10.0.0.2').copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function tcp(
  sport: number,
  dport: number,
  flags = 0x02,
  extra: Buffer = Buffer.alloc(0),
): Buffer {
  const t = Buffer.alloc(20 + extra.length);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(1000, 4);
  t[12] = ((20 + extra.length) / 4) << 4;
  t[13] = flags;
  t.writeUInt16BE(65535, 14);
  extra.copy(t, 20);
  return t;
}

export function udp(sport: number, dport: number, data: Buffer = Buffer.from('hi')): Buffer {
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  data.copy(u, 8);
  return u;
}

export function icmp(type: number, code: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const i = Buffer.alloc(8 + data.length);
  i[0] = type;
  i[1] = code;
  data.copy(i, 8);
  i.writeUInt16BE(checksum(i), 2);
  return i;
}

/** `packet` with its TCP or UDP checksum filled in (pseudo-header included), as a stack sends it. */
export function withL4Checksum(packet: Buffer): Buffer {
  const p = Buffer.from(packet);
  const ihl = ((p[0] as number) & 0x0f) * 4;
  const proto = p[9] as number;
  const at = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (at < 0 || p.length < ihl + at + 2) return p;
  const l4 = p.subarray(ihl);
  l4.writeUInt16BE(0, at);
  const pseudo = Buffer.alloc(12);
  p.copy(pseudo, 0, 12, 20);
  pseudo[9] = proto;
  pseudo.writeUInt16BE(l4.length, 10);
  const sum = checksum(Buffer.concat([pseudo, l4]));
  l4.writeUInt16BE(proto === 17 && sum === 0 ? 0xffff : sum, at);
  return p;
}

/** An SCTP packet's common header and chunks ([type, flags, length]: the length field as given, 4 by default; the chunk padded to 4). */
export function sctpPacket(
  sport: number,
  dport: number,
  chunks: readonly (readonly [number, number, number?])[],
): Buffer {
  const parts = [Buffer.alloc(12)];
  parts[0]?.writeUInt16BE(sport, 0);
  parts[0]?.writeUInt16BE(dport, 2);
  for (const [type, flags, len = 4] of chunks) {
    const c = Buffer.alloc(Math.max(4, (len + 3) & ~3));
    c[0] = type;
    c[1] = flags;
    c.writeUInt16BE(len, 2);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** dccp_packet_hdr_len by DCCP packet type. */
const DCCP_TYPE_HDR = [4, 12, 0, 8, 8, 8, 8, 12, 8, 8, 12, 12, 12, 12, 12, 12];

export interface DccpOptions {
  /** The extended sequence number bit (4 more header bytes). */
  readonly x?: boolean;
  /** Option bytes after the type's header. */
  readonly options?: Buffer;
  /** dccph_doff as given (default: the header and options in 32-bit words, rounded up). */
  readonly doff?: number;
  /** Bytes after the header. */
  readonly data?: Buffer;
}

/** A DCCP header of `type` (generic part, extension, the type's part, options), then data. */
export function dccpPacket(
  sport: number,
  dport: number,
  type: number,
  o: DccpOptions = {},
): Buffer {
  const fixed = 12 + (o.x ? 4 : 0) + (DCCP_TYPE_HDR[type] ?? 12);
  const opts = o.options ?? Buffer.alloc(0);
  const hlen = (fixed + opts.length + 3) & ~3;
  const h = Buffer.alloc(hlen);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h[4] = o.doff ?? hlen / 4;
  h[8] = ((type & 15) << 1) | (o.x ? 1 : 0);
  opts.copy(h, fixed);
  return Buffer.concat([h, o.data ?? Buffer.alloc(0)]);
}
