// -j REJECT: struct ipt_reject_info (linux/netfilter_ipv4/ipt_REJECT.h), revision 0 of
// ipt_REJECT.c: IPv4, table "filter", hooks INPUT/FORWARD/OUTPUT (xt_check_target, EINVAL).
// reject_tg_check refuses icmp-echo-reply and a tcp-reset on a rule that is not `-p tcp`
// without `!`. Values past the enum are accepted and, at run time, drop without a reply.
import { NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT } from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import { JEq, LoadMem, Nop, R1, Size, withLabel, type Insn } from '../../bpf/asm/index.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { EventKind, INFO_MAX } from '../../bpf/codegen/event.js';

/** Record byte: whether this --reject-with answers at all. */
const REPLIES = INFO_MAX - 1;
import { OptionError, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_TCP, payload, requireHooks, requireTable, zeroed } from './util.js';

export const IPT_ICMP_NET_UNREACHABLE = 0;
export const IPT_ICMP_HOST_UNREACHABLE = 1;
export const IPT_ICMP_PROT_UNREACHABLE = 2;
export const IPT_ICMP_PORT_UNREACHABLE = 3;
export const IPT_ICMP_ECHOREPLY = 4;
export const IPT_ICMP_NET_PROHIBITED = 5;
export const IPT_ICMP_HOST_PROHIBITED = 6;
export const IPT_TCP_RESET = 7;
export const IPT_ICMP_ADMIN_PROHIBITED = 8;

const REJECT_HOOKS = (1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT);

export interface RejectTarget {
  /** enum ipt_reject_with. */
  readonly with: number;
}

const SIZE = 4;

const WITH_NAMES: readonly string[] = [
  'icmp-net-unreachable',
  'icmp-host-unreachable',
  'icmp-proto-unreachable',
  'icmp-port-unreachable',
  'icmp-echo-reply',
  'icmp-net-prohibited',
  'icmp-host-prohibited',
  'tcp-reset',
  'icmp-admin-prohibited',
];

/** The --reject-with values the kernel accepts (icmp-echo-reply is refused), as iptables names them. */
export const REJECT_WITH: readonly string[] = WITH_NAMES.filter((n) => n !== 'icmp-echo-reply');

export const REJECT: Extension<RejectTarget> = {
  kind: 'target',
  name: 'REJECT',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): RejectTarget {
    return { with: payload(data, SIZE).readUInt32LE(0) };
  },
  encode(v: RejectTarget): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.with >>> 0, 0);
    return b;
  },
  check(v: RejectTarget, _revision: number, ctx: CheckContext): void {
    requireTable(ctx, 'filter', 'target "REJECT"');
    requireHooks(ctx, REJECT_HOOKS, 'target "REJECT"');
    if (v.with === IPT_ICMP_ECHOREPLY) {
      throw new XtError(EINVAL, 'target "REJECT": icmp-echo-reply is no longer supported');
    }
    if (v.with === IPT_TCP_RESET && (ctx.proto !== IPPROTO_TCP || ctx.invProto)) {
      throw new XtError(EINVAL, 'target "REJECT": tcp-reset needs -p tcp without "!"');
    }
  },
  engine: {
    recordSize: INFO_MAX,
    record(v: RejectTarget): Buffer {
      const b = Buffer.alloc(INFO_MAX);
      REJECT.encode(v, 0).copy(b);
      // Values past the enum drop without a reply, as reject_tg's switch does.
      b[REPLIES] = v.with <= IPT_ICMP_ADMIN_PROHIBITED && v.with !== IPT_ICMP_ECHOREPLY ? 1 : 0;
      return b;
    },
    evaluate(cg: EvalContext): Insn[] {
      const silent = cg.label('rej_silent');
      return [
        LoadMem(R1, RECORD, REPLIES, Size.B),
        JEq.imm(R1, 0, silent),
        ...cg.event(EventKind.REJECT, { ct: true }),
        withLabel(Nop(), silent),
      ];
    },
    verdict: () => 'drop',
    sendsReplies: true,
  },
  format(v: RejectTarget): string {
    return `--reject-with ${WITH_NAMES[v.with] ?? String(v.with)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('target "REJECT"', options, { with: { names: ['reject-with'] } });
    // libipt_REJECT's default.
    if (o.with === undefined) {
      return { extension: REJECT, revision: 0, value: { with: IPT_ICMP_PORT_UNREACHABLE } };
    }
    const name = (o.with.args[0] ?? '').toLowerCase();
    const k = WITH_NAMES.indexOf(name);
    const alias = WITH_ALIASES.indexOf(name);
    const w = k !== -1 ? k : alias;
    if (w === IPT_ICMP_ECHOREPLY || name === 'echoreply') {
      throw new OptionError('target "REJECT": --reject-with echo-reply is no longer supported');
    }
    if (w === -1) {
      throw new OptionError(`target "REJECT": unknown --reject-with "${o.with.args[0] ?? ''}"`);
    }
    return { extension: REJECT, revision: 0, value: { with: w } };
  },
};

/** ICMP destination-unreachable code per --reject-with (reject_tg's switch). */
const ICMP_CODE: Readonly<Record<number, number>> = {
  [IPT_ICMP_NET_UNREACHABLE]: 0,
  [IPT_ICMP_HOST_UNREACHABLE]: 1,
  [IPT_ICMP_PROT_UNREACHABLE]: 2,
  [IPT_ICMP_PORT_UNREACHABLE]: 3,
  [IPT_ICMP_NET_PROHIBITED]: 9,
  [IPT_ICMP_HOST_PROHIBITED]: 10,
  [IPT_ICMP_ADMIN_PROHIBITED]: 13,
};

/** The rejected packet as the hook saw it, and what the replying stack needs of its netns. */
export interface RejectedPacket {
  /** From the IP header; at most what was captured. */
  readonly packet: Buffer;
  /** skb->len */
  readonly skbLen: number;
  readonly hook: number;
  /** skb->ip_summed */
  readonly ipSummed: number;
  /** skb->pkt_type */
  readonly pktType: number;
  /** Whether the destination is one of the netns' own addresses (RTCF_LOCAL). */
  readonly local: boolean;
  /** Whether the destination is a broadcast or multicast address (RTCF_BROADCAST|MULTICAST). */
  readonly broadcast: boolean;
  /** net.ipv4.ip_default_ttl: the hop limit of the reply's route. */
  readonly ttl: number;
  /**
   * Sent by the kernel's own ICMP socket (an echo or timestamp reply, an ICMP error), seen in
   * OUTPUT: the kernel sends those holding icmp_xmit_lock, where icmp_send's trylock fails.
   */
  readonly icmpSocket: boolean;
}

/** A reply to send with a raw socket: the IP packet (checksums filled) and whom it goes to. */
export interface RejectReply {
  readonly kind: 'icmp' | 'tcp-reset';
  readonly packet: Buffer;
  readonly to: string;
}

/** Ones' complement sum of `b` added to `sum`, not folded or inverted. */
function sum16(b: Buffer, sum = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += (b[b.length - 1] as number) << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

const checksum = (b: Buffer, sum = 0): number => ~fold(sum16(b, sum)) & 0xffff;

/** The pseudo-header sum for TCP/UDP checksums. */
function pseudo(ip: Buffer, proto: number, len: number): number {
  return sum16(ip.subarray(12, 20)) + proto + len;
}

const NF_INET_LOCAL_IN_HOOK = 1;
const CHECKSUM_NONE = 0;
const CHECKSUM_COMPLETE = 2;
const PACKET_HOST = 0;

/**
 * nf_ip_checksum: whether the kernel would find the L4 checksum bad. Only packets whose
 * checksum nobody vouched for are checked (CHECKSUM_NONE, or COMPLETE at LOCAL_IN). The sum
 * runs over the whole packet: a valid IP header sums to zero, so only L4 (with the TCP/UDP
 * pseudo-header) counts. Beyond the capture the packet is taken as valid.
 */
export function badChecksum(p: RejectedPacket, proto: number): boolean {
  const verify =
    p.ipSummed === CHECKSUM_NONE ||
    (p.ipSummed === CHECKSUM_COMPLETE && p.hook === NF_INET_LOCAL_IN_HOOK);
  if (!verify || p.packet.length < p.skbLen) return false;
  const ihl = ((p.packet[0] as number) & 0x0f) * 4;
  const l4len = p.skbLen - ihl;
  const start = proto === 6 || proto === 17 ? pseudo(p.packet, proto, l4len) : 0;
  return checksum(p.packet.subarray(0, p.skbLen), start) !== 0;
}

/** nf_reject_verify_csum: protocols whose checksum REJECT does not look at. */
function verifiesChecksum(p: RejectedPacket, proto: number): boolean {
  const ihl = ((p.packet[0] as number) & 0x0f) * 4;
  switch (proto) {
    case 17: {
      const uh = p.packet.length >= ihl + 8 ? p.packet.subarray(ihl, ihl + 8) : undefined;
      return uh === undefined || uh.readUInt16BE(6) !== 0;
    }
    case 47: // GRE
    case 51: // AH
    case 50: // ESP
    case 132: // SCTP
    case 136: // UDPLITE
      return false;
    // DCCP (33) was on this list until the kernel retired DCCP (6.16): 6.18 verifies its
    // "checksum" as any other protocol's, so a DCCP packet whose ones' complement sum is not
    // zero is dropped without a reply (found by the differential harness).
    default:
      return true;
  }
}

const dotted = (b: Buffer, at: number): string => [...b.subarray(at, at + 4)].join('.');

/** ICMP types the kernel never answers with an error (icmp_pointers[].error, unknown types). */
const isIcmpError = (type: number): boolean =>
  type > 18 || ![0, 8, 13, 14, 15, 16, 17, 18].includes(type);

/** nf_send_unreach → __icmp_send: the ICMP error, or undefined when the kernel sends none. */
function unreach(code: number, p: RejectedPacket): RejectReply | undefined {
  const ip = p.packet;
  if (ip.length < 20 || p.icmpSocket) return undefined;
  const ihl = ((ip[0] as number) & 0x0f) * 4;
  const proto = ip[9] as number;
  if (ip.readUInt16BE(6) & 0x1fff) return undefined;
  if (verifiesChecksum(p, proto) && badChecksum(p, proto)) return undefined;
  if (p.pktType !== PACKET_HOST || p.broadcast) return undefined;
  if (proto === 1) {
    if (ip.length < ihl + 1 || p.skbLen < ihl + 1) return undefined;
    if (isIcmpError(ip[ihl] as number)) return undefined;
  }
  // room: 576 bytes minus our IP and ICMP headers; the quote starts at the offending IP header.
  const quote = ip.subarray(0, Math.min(p.skbLen, 576 - 20 - 8, ip.length));
  const icmp = Buffer.alloc(8 + quote.length);
  icmp[0] = 3;
  icmp[1] = code;
  quote.copy(icmp, 8);
  icmp.writeUInt16BE(checksum(icmp), 2);
  const hdr = Buffer.alloc(20);
  hdr[0] = 0x45;
  hdr[1] = ((ip[1] as number) & 0x1e) | 0xc0;
  hdr.writeUInt16BE(20 + icmp.length, 2);
  hdr[8] = p.ttl;
  hdr[9] = 1;
  // A local destination answers from itself; otherwise the route to the sender picks the
  // source (a raw socket fills saddr 0 from its route, as icmp_route_lookup does).
  if (p.local) ip.copy(hdr, 12, 16, 20);
  ip.copy(hdr, 16, 12, 16);
  return { kind: 'icmp', packet: Buffer.concat([hdr, icmp]), to: dotted(ip, 12) };
}

/** nf_send_reset: the RST, or undefined when the kernel sends none. */
function reset(p: RejectedPacket): RejectReply | undefined {
  const ip = p.packet;
  if (ip.length < 20) return undefined;
  const ihl = ((ip[0] as number) & 0x0f) * 4;
  if (ip.readUInt16BE(6) & 0x1fff || ip[9] !== 6) return undefined;
  if (p.skbLen < ihl + 20 || ip.length < ihl + 20) return undefined;
  const oth = ip.subarray(ihl, ihl + 20);
  if ((oth[13] as number) & 0x04) return undefined;
  if (badChecksum(p, 6)) return undefined;
  if (p.broadcast) return undefined;
  const tcph = Buffer.alloc(20);
  oth.copy(tcph, 0, 2, 4);
  oth.copy(tcph, 2, 0, 2);
  tcph[12] = 5 << 4;
  const flags = oth[13] as number;
  if (flags & 0x10) {
    oth.copy(tcph, 4, 8, 12);
    tcph[13] = 0x04;
  } else {
    const doff = ((oth[12] as number) >> 4) * 4;
    const ack =
      oth.readUInt32BE(4) + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0) + p.skbLen - ihl - doff;
    tcph.writeUInt32BE(ack >>> 0, 8);
    tcph[13] = 0x14;
  }
  const hdr = Buffer.alloc(20);
  hdr[0] = 0x45;
  hdr.writeUInt16BE(40, 2);
  hdr.writeUInt16BE(0x4000, 6);
  hdr[8] = p.ttl;
  hdr[9] = 6;
  ip.copy(hdr, 12, 16, 20);
  ip.copy(hdr, 16, 12, 16);
  tcph.writeUInt16BE(checksum(tcph, pseudo(hdr, 6, 20)), 16);
  hdr.writeUInt16BE(checksum(hdr), 10);
  return { kind: 'tcp-reset', packet: Buffer.concat([hdr, tcph]), to: dotted(ip, 12) };
}

/** What the kernel's REJECT would send for `p`, before rate limits; undefined for nothing. */
export function rejectReply(v: RejectTarget, p: RejectedPacket): RejectReply | undefined {
  if (v.with === IPT_TCP_RESET) return reset(p);
  const code = ICMP_CODE[v.with];
  return code === undefined ? undefined : unreach(code, p);
}

/** libipt_REJECT's short spellings, by enum ipt_reject_with value. */
const WITH_ALIASES: readonly string[] = [
  'net-unreach',
  'host-unreach',
  'proto-unreach',
  'port-unreach',
  'echo-reply',
  'net-prohib',
  'host-prohib',
  'tcp-rst',
  'admin-prohib',
];
