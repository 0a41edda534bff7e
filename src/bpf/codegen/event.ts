// Events: what a target that needs user space (LOG, REJECT) hands the helper through the
// per-netns ring buffer. A netfilter BPF program can only accept or drop; the helper writes the
// log line or sends the reply. The record is fixed-size so the verifier can bound every store.

export const EVENTS_MAP = 'events';

/**
 * Bytes of struct nf_conn a REJECT reply carries along: what xt_conntrack reads of the entry
 * the kernel attaches to its reply (tuples, status, timeout) lies within them (ct.ts checks).
 */
export const CT_IMAGE = 256;

/**
 * The kernel attaches a rejected packet's conntrack entry to its reply (nf_ct_attach), so the
 * reply crosses OUTPUT as RELATED. Ours is sent by the helper from a raw socket: just before
 * sending, the helper writes that socket's cookie and the ctinfo to give into this one-entry
 * array per namespace, {u64 cookie, u32 ctinfo}; OUTPUT programs of rulesets that REJECT
 * compare skb->sk's cookie with it.
 */
export const REPLIES_MAP = 'replies';
/** {u64 cookie, u32 ctinfo, u32 has_ct, u8 ct[CT_IMAGE]}: the entry image the reply reads. */
export const REPLY = { COOKIE: 0, CTINFO: 8, HAS_CT: 12, CT: 16 } as const;
export const REPLY_VALUE_SIZE = REPLY.CT + CT_IMAGE;
/** CTINFO for a reply to a packet that had no conntrack entry: only mark it as ours. */
export const REPLY_NO_CTINFO = -1;

export const EventKind = { LOG: 1, REJECT: 2 } as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

/**
 * Packet bytes captured from the IP header: a whole Ethernet-MTU packet, so REJECT can check the
 * L4 checksum as the kernel does before answering (icmp_send quotes at most 548 of them).
 */
export const CAPTURE = 1504;
/** Link-layer header bytes kept for LOG's MAC= (dev->hard_header_len, clamped). */
export const MAC_MAX = 32;
/** Target payload bytes copied into the record (xt_log_info is 32). */
export const INFO_MAX = 32;

/** Byte offsets in the record (little endian, as the program stores them). */
export const EV = {
  KIND: 0,
  ENTRY: 4,
  HOOK: 8,
  SKBLEN: 12,
  MARK: 16,
  /** u32: packet bytes at PACKET (min(skb->len, CAPTURE), 0 if the read failed). */
  CAPLEN: 20,
  /** u32: skb->ip_summed (CHECKSUM_NONE 0, UNNECESSARY 1, COMPLETE 2, PARTIAL 3). */
  IP_SUMMED: 24,
  /** u32: link-layer header bytes at MAC; NO_INPUT when the hook has no input device. */
  MACLEN: 28,
  /** u16: in->type (ARPHRD_*). */
  DEVTYPE: 32,
  /** u16: EVF_* */
  FLAGS: 34,
  IIFINDEX: 36,
  OIFINDEX: 40,
  /** u32: ctinfo as the packet state holds it; CTSET: whether an entry exists. */
  CTINFO: 44,
  CTSET: 48,
  /** u32: skb->pkt_type (PACKET_HOST 0, BROADCAST 1, MULTICAST 2, ...). */
  PKT_TYPE: 52,
  /** u32 each: the fsuid/fsgid of the sending socket's file, with EVF_UID. */
  UID: 56,
  GID: 60,
  IIF: 64,
  OIF: 80,
  INFO: 96,
  MAC: 128,
  /** CT_IMAGE bytes of the packet's conntrack entry (REJECT, when it has one: EVF_CT). */
  CT: 160,
  PACKET: 160 + 256,
  SIZE: 160 + 256 + CAPTURE,
} as const;

export const NO_INPUT = 0xffffffff;

/** FLAGS: UID/GID hold the owner of a full socket the packet came from (LOG --log-uid). */
export const EVF_UID = 1;
/** FLAGS: CT holds the first CT_IMAGE bytes of the packet's struct nf_conn. */
export const EVF_CT = 2;
/** FLAGS: sent by the kernel's own ICMP socket, in OUTPUT (a REJECT there answers it nothing). */
export const EVF_ICMP_SOCKET = 4;

/** Ring buffer bytes per netns: a power of two pages; ~600 records before the producer drops. */
export const RING_BYTES = 1 << 20;

/**
 * The namespace's ceiling on events, per kind (index EventKind), checked in BPF before a record
 * is reserved: a flood of packets hitting LOG or REJECT must not become a flood of user-space
 * work (the ring alone only bounds memory, not the reader's CPU). A GCRA bucket per kind,
 * {u64 tat, u64 interval, u64 slack, u64 dropped} in ns: the event passes when the theoretical
 * arrival time `tat` is at most `slack` ahead of now, and moves `tat` one interval on; interval 0
 * is no ceiling (a test load's own map). CPUs update `tat` without a lock: a lost update lets an
 * event more through, never fewer, so the ceiling holds within a factor of the CPU count.
 */
export const BUDGET_MAP = 'evbudget';
export const BUDGET = { TAT: 0, INTERVAL: 8, SLACK: 16, DROPPED: 24, SIZE: 32 } as const;
/** One array entry holding every kind's bucket: programs address it directly (one-entry maps only). */
export const BUDGET_VALUE_SIZE = 3 * BUDGET.SIZE;
/**
 * Events per second and burst, per kind and namespace. REJECT's ICMP errors are all type 3,
 * which the kernel's own global limit (icmp_msgs_per_sec 1,000 and burst 50 by default, per
 * netns, before the per-destination one) holds to half of this or less: the ceiling drops only
 * replies the kernel would not send either. TCP resets, which the kernel does not limit, and LOG
 * lines, which it prints all, are where a flood past the ceiling gets fewer than the kernel's;
 * each one turned away is counted (`bpfilter status`: events dropped in the kernel).
 */
export const EVENT_CEILING = {
  [EventKind.LOG]: { perSec: 5_000, burst: 500 },
  [EventKind.REJECT]: { perSec: 2_000, burst: 200 },
} as const;

/** The budget map's value: each kind's ceiling, none for a kind not given. */
export function budgetValue(
  ceilings: Partial<Record<EventKind, { perSec: number; burst: number }>>,
): Buffer {
  const v = Buffer.alloc(BUDGET_VALUE_SIZE);
  for (const [kind, { perSec, burst }] of Object.entries(ceilings)) {
    const k = Number(kind);
    const interval = BigInt(Math.ceil(1e9 / perSec));
    v.writeBigUInt64LE(interval, k * BUDGET.SIZE + BUDGET.INTERVAL);
    v.writeBigUInt64LE(interval * BigInt(Math.max(0, burst - 1)), k * BUDGET.SIZE + BUDGET.SLACK);
  }
  return v;
}

export interface Event {
  readonly kind: number;
  readonly entry: number;
  readonly hook: number;
  readonly skbLen: number;
  readonly mark: number;
  readonly ipSummed: number;
  /** Undefined when the hook has no input device. */
  readonly mac: Buffer | undefined;
  readonly devType: number;
  readonly in: { readonly name: string; readonly ifindex: number } | undefined;
  readonly out: { readonly name: string; readonly ifindex: number } | undefined;
  readonly ctinfo: number;
  readonly ctset: boolean;
  readonly pktType: number;
  /** Sent by the kernel's ICMP socket (EVF_ICMP_SOCKET). */
  readonly icmpSocket: boolean;
  /** The sending socket's file owner, when asked for and there is one. */
  readonly owner: { readonly uid: number; readonly gid: number } | undefined;
  /** The conntrack entry's first CT_IMAGE bytes, when asked for and there is one. */
  readonly ctImage: Buffer | undefined;
  readonly info: Buffer;
  /** The packet from its IP header, at most CAPTURE bytes. */
  readonly packet: Buffer;
}

const name = (b: Buffer): string => {
  const end = b.indexOf(0);
  return b.toString('latin1', 0, end < 0 ? b.length : end);
};

/** Parses one ring buffer record; throws on a record of the wrong size. */
export function parseEvent(rec: Buffer): Event {
  if (rec.length !== EV.SIZE) throw new Error(`event record of ${rec.length} bytes`);
  const maclen = rec.readUInt32LE(EV.MACLEN);
  const caplen = Math.min(rec.readUInt32LE(EV.CAPLEN), CAPTURE);
  const dev = (at: number, ifAt: number): Event['in'] => {
    const n = name(rec.subarray(at, at + 16));
    return n === '' ? undefined : { name: n, ifindex: rec.readInt32LE(ifAt) };
  };
  return {
    kind: rec.readUInt32LE(EV.KIND),
    entry: rec.readUInt32LE(EV.ENTRY),
    hook: rec.readUInt32LE(EV.HOOK),
    skbLen: rec.readUInt32LE(EV.SKBLEN),
    mark: rec.readUInt32LE(EV.MARK),
    ipSummed: rec.readUInt32LE(EV.IP_SUMMED),
    mac:
      maclen === NO_INPUT
        ? undefined
        : Buffer.from(rec.subarray(EV.MAC, EV.MAC + Math.min(maclen, MAC_MAX))),
    devType: rec.readUInt16LE(EV.DEVTYPE),
    in: dev(EV.IIF, EV.IIFINDEX),
    out: dev(EV.OIF, EV.OIFINDEX),
    ctinfo: rec.readUInt32LE(EV.CTINFO),
    ctset: rec.readUInt32LE(EV.CTSET) !== 0,
    pktType: rec.readUInt32LE(EV.PKT_TYPE),
    icmpSocket: (rec.readUInt16LE(EV.FLAGS) & EVF_ICMP_SOCKET) !== 0,
    ctImage:
      rec.readUInt16LE(EV.FLAGS) & EVF_CT
        ? Buffer.from(rec.subarray(EV.CT, EV.CT + CT_IMAGE))
        : undefined,
    owner:
      rec.readUInt16LE(EV.FLAGS) & EVF_UID
        ? { uid: rec.readUInt32LE(EV.UID), gid: rec.readUInt32LE(EV.GID) }
        : undefined,
    info: Buffer.from(rec.subarray(EV.INFO, EV.INFO + INFO_MAX)),
    packet: Buffer.from(rec.subarray(EV.PACKET, EV.PACKET + caplen)),
  };
}
