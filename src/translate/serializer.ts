// Wire records → bytes, the exact inverse of parser.ts.
import { ZERO_COUNTERS } from './ir.js';
import { Writer } from './writer.js';
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

/** `cs` as xt_counters from `at` of a zeroed buffer (the zero ones are left as they are). */
export function writeCounterArray(buf: Buffer, at: number, cs: readonly XtCounters[]): void {
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i] as XtCounters;
    if (c === ZERO_COUNTERS) continue;
    buf.writeBigUInt64LE(c.pcnt, at + 16 * i);
    buf.writeBigUInt64LE(c.bcnt, at + 16 * i + 8);
  }
}

function counters(w: Writer, c: XtCounters): void {
  w.u64(c.pcnt).u64(c.bcnt);
}

function hooks(w: Writer, values: readonly number[]): void {
  for (let h = 0; h < 5; h++) w.u32(values[h] ?? 0);
}

function writeIptIp(w: Writer, ip: IptIp): void {
  w.be32(ip.src).be32(ip.dst).be32(ip.smsk).be32(ip.dmsk);
  w.bytes(ip.iniface).bytes(ip.outiface).bytes(ip.inifaceMask).bytes(ip.outifaceMask);
  w.u16(ip.proto).u8(ip.flags).u8(ip.invflags);
}

function writeEntryMatch(w: Writer, m: XtEntryMatch): void {
  w.u16(m.size).bytes(m.name).u8(m.revision).bytes(m.data);
}

export function serializeIptIp(ip: IptIp): Buffer {
  const w = new Writer(84);
  writeIptIp(w, ip);
  return w.finish();
}

export function serializeEntryMatch(m: XtEntryMatch): Buffer {
  const w = new Writer(m.size);
  writeEntryMatch(w, m);
  return w.finish();
}

export function writeEntry(w: Writer, e: IptEntry): void {
  writeIptIp(w, e.ip);
  w.u32(e.nfcache).u16(e.targetOffset).u16(e.nextOffset).u32(e.comefrom);
  counters(w, e.counters);
  for (const m of e.matches) writeEntryMatch(w, m);
  writeEntryMatch(w, e.target);
  w.bytes(e.trailer);
}

export function serializeEntry(e: IptEntry): Buffer {
  const w = new Writer(e.nextOffset);
  writeEntry(w, e);
  return w.finish();
}

export function serializeEntries(entries: readonly IptEntry[]): Buffer {
  const w = new Writer(4096);
  for (const e of entries) writeEntry(w, e);
  return w.finish();
}

export function serializeReplace(r: IptReplace): Buffer {
  const w = new Writer(96 + r.entries.length);
  w.bytes(r.name).u32(r.validHooks).u32(r.numEntries).u32(r.size);
  hooks(w, r.hookEntry);
  hooks(w, r.underflow);
  w.u32(r.numCounters).u64(r.counters).bytes(r.entries);
  return w.finish();
}

export function serializeGetinfo(g: IptGetinfo): Buffer {
  const w = new Writer(84);
  w.bytes(g.name).u32(g.validHooks);
  hooks(w, g.hookEntry);
  hooks(w, g.underflow);
  w.u32(g.numEntries).u32(g.size);
  return w.finish();
}

export function serializeGetEntries(g: IptGetEntries): Buffer {
  const w = new Writer(40 + g.entries.length);
  w.bytes(g.name).u32(g.size).u32(g.pad).bytes(g.entries);
  return w.finish();
}

export function serializeCountersInfo(c: XtCountersInfo): Buffer {
  const w = new Writer(40 + 16 * c.counters.length);
  w.bytes(c.name).u32(c.numCounters).u32(c.pad);
  for (const x of c.counters) counters(w, x);
  return w.finish();
}

export function serializeGetRevision(g: XtGetRevision): Buffer {
  const w = new Writer(30);
  w.bytes(g.name).u8(g.revision);
  return w.finish();
}
