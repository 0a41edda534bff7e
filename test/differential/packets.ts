// IPv4 packets with correct IP and L4 checksums (conntrack and the routers' own TCP/ICMP code
// check them), and a one-line decoding for reports.
import { ipChecksum } from './topology.js';

export const ip4 = (s: string): number =>
  s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
export const ip4str = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export interface IpFields {
  readonly src: number;
  readonly dst: number;
  readonly proto: number;
  readonly ttl: number;
  /** Generator-chosen id (the topology adds a per-run offset). */
  readonly id: number;
  /** Fragment offset in 8-byte units. */
  readonly fragoff: number;
  readonly mf: boolean;
  readonly df: boolean;
  readonly tos: number;
  /** IP option bytes, zero-padded to a multiple of 4 here. */
  readonly options?: Buffer;
}

export function ipv4(f: IpFields, payload: Buffer): Buffer {
  const opts = f.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + ((opts.length + 3) & ~3));
  h[0] = 0x40 | (h.length / 4);
  h[1] = f.tos;
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(f.id, 4);
  h.writeUInt16BE((f.df ? 0x4000 : 0) | (f.mf ? 0x2000 : 0) | f.fragoff, 6);
  h[8] = f.ttl;
  h[9] = f.proto;
  h.writeUInt32BE(f.src, 12);
  h.writeUInt32BE(f.dst, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(ipChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

/** The TCP/UDP checksum over the pseudo-header. */
function l4sum(src: number, dst: number, proto: number, seg: Buffer): number {
  const ph = Buffer.alloc(12);
  ph.writeUInt32BE(src, 0);
  ph.writeUInt32BE(dst, 4);
  ph[9] = proto;
  ph.writeUInt16BE(seg.length, 10);
  return ipChecksum(Buffer.concat([ph, seg]));
}

export interface TcpFields {
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  /** Raw option bytes, zero-padded (EOL) to a multiple of 4 here. */
  readonly options: Buffer;
  readonly data: Buffer;
}

export function tcpSeg(src: number, dst: number, t: TcpFields): Buffer {
  const opt = Buffer.concat([t.options, Buffer.alloc((4 - (t.options.length % 4)) % 4)]);
  const s = Buffer.alloc(20 + opt.length + t.data.length);
  s.writeUInt16BE(t.sport, 0);
  s.writeUInt16BE(t.dport, 2);
  s.writeUInt32BE(t.seq >>> 0, 4);
  s.writeUInt32BE(t.ack >>> 0, 8);
  s[12] = ((20 + opt.length) / 4) << 4;
  s[13] = t.flags;
  s.writeUInt16BE(64240, 14);
  opt.copy(s, 20);
  t.data.copy(s, 20 + opt.length);
  s.writeUInt16BE(l4sum(src, dst, 6, s), 16);
  return s;
}

export function udpSeg(
  src: number,
  dst: number,
  sport: number,
  dport: number,
  data: Buffer,
): Buffer {
  const s = Buffer.alloc(8 + data.length);
  s.writeUInt16BE(sport, 0);
  s.writeUInt16BE(dport, 2);
  s.writeUInt16BE(s.length, 4);
  data.copy(s, 8);
  s.writeUInt16BE(l4sum(src, dst, 17, s) || 0xffff, 6);
  return s;
}

export function icmpMsg(type: number, code: number, rest: number, data: Buffer): Buffer {
  const s = Buffer.alloc(8 + data.length);
  s[0] = type;
  s[1] = code;
  s.writeUInt32BE(rest >>> 0, 4);
  data.copy(s, 8);
  s.writeUInt16BE(ipChecksum(s), 2);
  return s;
}

const FLAG_NAMES = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'C'];

/** One line: the kind of packet, its addresses, ports or types, flags, ttl, length. */
export function describe(ip: Buffer): string {
  const v = ip[0] ?? 0;
  if (ip.length < 20 || v >> 4 !== 4) return `non-ip ${ip.toString('hex')}`;
  const ihl = (v & 15) * 4;
  const src = ip4str(ip.readUInt32BE(12));
  const dst = ip4str(ip.readUInt32BE(16));
  const proto = ip[9] as number;
  const frag = ip.readUInt16BE(6);
  const off = frag & 0x1fff;
  const fragStr = off || frag & 0x2000 ? ` frag(off=${off}${frag & 0x2000 ? ',MF' : ''})` : '';
  const tail = ` ttl=${ip[8]} len=${ip.readUInt16BE(2)}${fragStr}`;
  const l4 = ip.subarray(ihl);
  if (off === 0 && proto === 6 && l4.length >= 20) {
    const flags = FLAG_NAMES.filter((_, i) => (l4[13] as number) & (1 << i)).join('');
    return `tcp ${src}:${l4.readUInt16BE(0)} > ${dst}:${l4.readUInt16BE(2)} [${flags}] seq=${l4.readUInt32BE(4)} ack=${l4.readUInt32BE(8)} doff=${(l4[12] as number) >> 4}${tail}`;
  }
  if (off === 0 && proto === 17 && l4.length >= 8)
    return `udp ${src}:${l4.readUInt16BE(0)} > ${dst}:${l4.readUInt16BE(2)}${tail}`;
  if (off === 0 && proto === 1 && l4.length >= 4) {
    const inner = l4.length >= 28 && [3, 4, 5, 11, 12].includes(l4[0] as number);
    return `icmp ${src} > ${dst} type=${l4[0]} code=${l4[1]}${tail}${inner ? ` quoting {${describe(l4.subarray(8))}}` : ''}`;
  }
  return `proto ${proto} ${src} > ${dst}${tail}`;
}

/** A captured Ethernet frame, decoded from its IP header. */
export const describeFrame = (f: Buffer): string => describe(f.subarray(14));
