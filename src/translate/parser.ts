// Bytes → wire records. These parsers assume the bytes are structurally sound (validate.ts has
// already run the kernel's checks on untrusted input); a blob that does not tile still fails
// cleanly with EINVAL rather than reading out of bounds.
import {
  IFNAMSIZ,
  SIZEOF_IPT_ENTRY,
  SIZEOF_IPT_GET_ENTRIES,
  SIZEOF_IPT_GETINFO,
  SIZEOF_IPT_IP,
  SIZEOF_IPT_REPLACE,
  SIZEOF_XT_COUNTERS,
  SIZEOF_XT_COUNTERS_INFO,
  SIZEOF_XT_ENTRY_MATCH,
  SIZEOF_XT_GET_REVISION,
  XT_EXTENSION_MAXNAMELEN,
  XT_TABLE_MAXNAMELEN,
} from './abi.js';
import { EINVAL, XtError } from './errno.js';
import { ZERO_COUNTERS } from './ir.js';
import { Reader } from './reader.js';
import type {
  IptEntry,
  IptGetEntries,
  IptGetinfo,
  IptIp,
  IptReplace,
  XtCounters,
  XtCountersInfo,
  XtEntryMatch,
  XtGetRevision,
} from './wire.js';

const NUMHOOKS = 5;

function need(buf: Buffer, offset: number, n: number, what: string): void {
  if (offset < 0 || offset + n > buf.length) {
    throw new XtError(EINVAL, `${what} at ${offset} needs ${n} bytes, blob has ${buf.length}`);
  }
}

function hooks(r: Reader): number[] {
  return Array.from({ length: NUMHOOKS }, () => r.u32());
}

export function parseCounters(r: Reader): XtCounters {
  const pcnt = r.u64();
  const bcnt = r.u64();
  return { pcnt, bcnt };
}

export function parseIptIp(buf: Buffer, offset = 0): IptIp {
  need(buf, offset, SIZEOF_IPT_IP, 'ipt_ip');
  const r = new Reader(buf, offset);
  return {
    src: r.be32(),
    dst: r.be32(),
    smsk: r.be32(),
    dmsk: r.be32(),
    iniface: r.bytes(IFNAMSIZ),
    outiface: r.bytes(IFNAMSIZ),
    inifaceMask: r.bytes(IFNAMSIZ),
    outifaceMask: r.bytes(IFNAMSIZ),
    proto: r.u16(),
    flags: r.u8(),
    invflags: r.u8(),
  };
}

/** An xt_entry_match or xt_entry_target at `offset`: header + (size - 32) payload bytes. */
export function parseEntryMatch(buf: Buffer, offset: number): XtEntryMatch {
  need(buf, offset, SIZEOF_XT_ENTRY_MATCH, 'xt_entry_match');
  const r = new Reader(buf, offset);
  const size = r.u16();
  if (size < SIZEOF_XT_ENTRY_MATCH)
    throw new XtError(EINVAL, `match/target size ${size} < 32 at ${offset}`);
  need(buf, offset, size, 'xt_entry_match payload');
  const name = r.bytes(XT_EXTENSION_MAXNAMELEN);
  const revision = r.u8();
  return { size, name, revision, data: r.bytes(size - SIZEOF_XT_ENTRY_MATCH) };
}

/** The ipt_entry at `offset` with its matches (which must tile up to target_offset) and target. */
export function parseEntry(buf: Buffer, offset: number): IptEntry {
  need(buf, offset, SIZEOF_IPT_ENTRY, 'ipt_entry');
  const ip = parseIptIp(buf, offset);
  const r = new Reader(buf, offset + SIZEOF_IPT_IP);
  const nfcache = r.u32();
  const targetOffset = r.u16();
  const nextOffset = r.u16();
  const comefrom = r.u32();
  const counters = parseCounters(r);
  if (targetOffset < SIZEOF_IPT_ENTRY || targetOffset + SIZEOF_XT_ENTRY_MATCH > nextOffset) {
    throw new XtError(
      EINVAL,
      `entry at ${offset}: target_offset ${targetOffset}, next_offset ${nextOffset}`,
    );
  }
  need(buf, offset, nextOffset, 'ipt_entry');
  const matches: XtEntryMatch[] = [];
  let pos = SIZEOF_IPT_ENTRY;
  while (pos < targetOffset) {
    const m = parseEntryMatch(buf, offset + pos);
    if (pos + m.size > targetOffset)
      throw new XtError(EINVAL, `entry at ${offset}: match overruns the target`);
    matches.push(m);
    pos += m.size;
  }
  const target = parseEntryMatch(buf, offset + targetOffset);
  const end = targetOffset + target.size;
  if (end > nextOffset)
    throw new XtError(EINVAL, `entry at ${offset}: target overruns next_offset`);
  const trailer = Buffer.from(buf.subarray(offset + end, offset + nextOffset));
  return { ip, nfcache, targetOffset, nextOffset, comefrom, counters, matches, target, trailer };
}

/** Every entry of an entry blob, in order, with the offset each starts at. */
export function parseEntries(blob: Buffer): { offset: number; entry: IptEntry }[] {
  const out: { offset: number; entry: IptEntry }[] = [];
  let offset = 0;
  while (offset < blob.length) {
    const entry = parseEntry(blob, offset);
    out.push({ offset, entry });
    offset += entry.nextOffset;
  }
  return out;
}

/** ipt_replace: the 96-byte header and the `size` bytes of entries after it. */
export function parseReplace(buf: Buffer): IptReplace {
  need(buf, 0, SIZEOF_IPT_REPLACE, 'ipt_replace');
  const r = new Reader(buf);
  const name = r.bytes(XT_TABLE_MAXNAMELEN);
  const validHooks = r.u32();
  const numEntries = r.u32();
  const size = r.u32();
  const hookEntry = hooks(r);
  const underflow = hooks(r);
  const numCounters = r.u32();
  const counters = r.u64();
  need(buf, SIZEOF_IPT_REPLACE, size, 'ipt_replace entries');
  const entries = r.bytes(size);
  return {
    name,
    validHooks,
    numEntries,
    size,
    hookEntry,
    underflow,
    numCounters,
    counters,
    entries,
  };
}

export function parseGetinfo(buf: Buffer): IptGetinfo {
  need(buf, 0, SIZEOF_IPT_GETINFO, 'ipt_getinfo');
  const r = new Reader(buf);
  const name = r.bytes(XT_TABLE_MAXNAMELEN);
  const validHooks = r.u32();
  const hookEntry = hooks(r);
  const underflow = hooks(r);
  const numEntries = r.u32();
  const size = r.u32();
  return { name, validHooks, hookEntry, underflow, numEntries, size };
}

/** ipt_get_entries: the header and whatever follows it (the caller's buffer, `size` long). */
export function parseGetEntries(buf: Buffer): IptGetEntries {
  need(buf, 0, SIZEOF_IPT_GET_ENTRIES, 'ipt_get_entries');
  const r = new Reader(buf);
  const name = r.bytes(XT_TABLE_MAXNAMELEN);
  const size = r.u32();
  const pad = r.u32();
  return { name, size, pad, entries: r.bytes(buf.length - SIZEOF_IPT_GET_ENTRIES) };
}

/**
 * `n` xt_counters from `at`, each that is zero as the one shared ZERO_COUNTERS: between two
 * commands most of a big table's count nothing, and 10,000 of them then make no object and no
 * BigInt. Read through 32-bit words where the buffer allows (a loop of readUInt32LE took ten
 * times as long): this runs for every SET_ADD_COUNTERS, on the event loop.
 */
export function parseCounterArray(buf: Buffer, at: number, n: number): XtCounters[] {
  const out: XtCounters[] = [];
  const aligned = ((buf.byteOffset + at) & 3) === 0;
  const w = aligned
    ? new Int32Array(buf.buffer, buf.byteOffset + at, 4 * n)
    : new Int32Array(new Uint8Array(buf.subarray(at, at + SIZEOF_XT_COUNTERS * n)).buffer);
  for (let i = 0; i < n; i++) {
    const q = 4 * i;
    if (
      ((w[q] as number) | (w[q + 1] as number) | (w[q + 2] as number) | (w[q + 3] as number)) ===
      0
    ) {
      out.push(ZERO_COUNTERS);
    } else {
      const o = at + SIZEOF_XT_COUNTERS * i;
      out.push({ pcnt: buf.readBigUInt64LE(o), bcnt: buf.readBigUInt64LE(o + 8) });
    }
  }
  return out;
}

/** xt_counters_info with exactly num_counters counters after it. */
export function parseCountersInfo(buf: Buffer): XtCountersInfo {
  need(buf, 0, SIZEOF_XT_COUNTERS_INFO, 'xt_counters_info');
  const r = new Reader(buf);
  const name = r.bytes(XT_TABLE_MAXNAMELEN);
  const numCounters = r.u32();
  const pad = r.u32();
  need(buf, SIZEOF_XT_COUNTERS_INFO, numCounters * SIZEOF_XT_COUNTERS, 'xt_counters_info counters');
  const counters = parseCounterArray(buf, SIZEOF_XT_COUNTERS_INFO, numCounters);
  return { name, numCounters, pad, counters };
}

export function parseGetRevision(buf: Buffer): XtGetRevision {
  need(buf, 0, SIZEOF_XT_GET_REVISION, 'xt_get_revision');
  const r = new Reader(buf);
  return { name: r.bytes(XT_EXTENSION_MAXNAMELEN), revision: r.u8() };
}
