// Plain typed records of the IPv4 iptables wire structs, field for field. Fixed char arrays stay
// raw Buffers here so that decode → encode is byte exact even for names with bytes after the NUL;
// ir.ts turns them into strings. Addresses are the network-order u32 read big-endian
// (1.2.3.4 → 0x01020304). The *_LAYOUT tables give each field's offset; test/abi-sizes.test.ts
// checks them against offsetof() in the C headers.

/** struct xt_counters */
export interface XtCounters {
  readonly pcnt: bigint;
  readonly bcnt: bigint;
}

/** struct ipt_ip */
export interface IptIp {
  readonly src: number;
  readonly dst: number;
  readonly smsk: number;
  readonly dmsk: number;
  /** char[IFNAMSIZ] */
  readonly iniface: Buffer;
  readonly outiface: Buffer;
  /** unsigned char[IFNAMSIZ] */
  readonly inifaceMask: Buffer;
  readonly outifaceMask: Buffer;
  readonly proto: number;
  readonly flags: number;
  readonly invflags: number;
}

/** struct xt_entry_match: header (size, name, revision) and its payload. */
export interface XtEntryMatch {
  /** u.match_size: header + payload, as written on the wire. */
  readonly size: number;
  /** char name[XT_EXTENSION_MAXNAMELEN] */
  readonly name: Buffer;
  readonly revision: number;
  /** The match_size - 32 bytes after the header. */
  readonly data: Buffer;
}

/** struct xt_entry_target: same shape as a match. */
export type XtEntryTarget = XtEntryMatch;

/** struct ipt_entry with its matches and target. */
export interface IptEntry {
  readonly ip: IptIp;
  readonly nfcache: number;
  readonly targetOffset: number;
  readonly nextOffset: number;
  readonly comefrom: number;
  readonly counters: XtCounters;
  readonly matches: readonly XtEntryMatch[];
  readonly target: XtEntryTarget;
  /** Bytes between the target's end and next_offset (normally none). */
  readonly trailer: Buffer;
}

/** struct ipt_replace (96-byte header); `entries` is the raw entry blob that follows. */
export interface IptReplace {
  /** char name[XT_TABLE_MAXNAMELEN] */
  readonly name: Buffer;
  readonly validHooks: number;
  readonly numEntries: number;
  readonly size: number;
  readonly hookEntry: readonly number[];
  readonly underflow: readonly number[];
  readonly numCounters: number;
  /** struct xt_counters __user *counters: the caller's address, where old counters go. */
  readonly counters: bigint;
  readonly entries: Buffer;
}

/** struct ipt_getinfo */
export interface IptGetinfo {
  readonly name: Buffer;
  readonly validHooks: number;
  readonly hookEntry: readonly number[];
  readonly underflow: readonly number[];
  readonly numEntries: number;
  readonly size: number;
}

/** struct ipt_get_entries (40-byte header) and the entry blob that follows. */
export interface IptGetEntries {
  readonly name: Buffer;
  readonly size: number;
  readonly pad: number;
  readonly entries: Buffer;
}

/** struct xt_counters_info (40-byte header) and its counters. */
export interface XtCountersInfo {
  readonly name: Buffer;
  readonly numCounters: number;
  readonly pad: number;
  readonly counters: readonly XtCounters[];
}

/** struct xt_get_revision */
export interface XtGetRevision {
  /** char name[XT_EXTENSION_MAXNAMELEN] */
  readonly name: Buffer;
  readonly revision: number;
}

export const IPT_IP_LAYOUT = {
  src: 0,
  dst: 4,
  smsk: 8,
  dmsk: 12,
  iniface: 16,
  outiface: 32,
  iniface_mask: 48,
  outiface_mask: 64,
  proto: 80,
  flags: 82,
  invflags: 83,
} as const;

export const IPT_ENTRY_LAYOUT = {
  ip: 0,
  nfcache: 84,
  target_offset: 88,
  next_offset: 90,
  comefrom: 92,
  counters: 96,
  elems: 112,
} as const;

export const XT_COUNTERS_LAYOUT = { pcnt: 0, bcnt: 8 } as const;

export const XT_ENTRY_MATCH_LAYOUT = { match_size: 0, name: 2, revision: 31, data: 32 } as const;

export const XT_ENTRY_TARGET_LAYOUT = { target_size: 0, name: 2, revision: 31, data: 32 } as const;

export const XT_STANDARD_TARGET_LAYOUT = { target: 0, verdict: 32 } as const;

export const XT_ERROR_TARGET_LAYOUT = { target: 0, errorname: 32 } as const;

export const IPT_REPLACE_LAYOUT = {
  name: 0,
  valid_hooks: 32,
  num_entries: 36,
  size: 40,
  hook_entry: 44,
  underflow: 64,
  num_counters: 84,
  counters: 88,
  entries: 96,
} as const;

export const IPT_GETINFO_LAYOUT = {
  name: 0,
  valid_hooks: 32,
  hook_entry: 36,
  underflow: 56,
  num_entries: 76,
  size: 80,
} as const;

export const IPT_GET_ENTRIES_LAYOUT = { name: 0, size: 32, entrytable: 40 } as const;

export const XT_COUNTERS_INFO_LAYOUT = { name: 0, num_counters: 32, counters: 40 } as const;

export const XT_GET_REVISION_LAYOUT = { name: 0, revision: 29 } as const;
