// Entry blob ⇄ IR table. blobToTable expects a blob that passed validate.ts (it is what
// checkReplace calls last); tableToBlob lays a table out as libiptc would and as the kernel
// returns it from GET_ENTRIES (comefrom = reachable hooks, counters from the caller).
import {
  HOOK_NAMES,
  IFNAMSIZ,
  SIZEOF_IPT_IP,
  IPT_F_GOTO,
  NF_ACCEPT,
  NF_DROP,
  NF_INET_NUMHOOKS,
  NF_QUEUE,
  SIZEOF_IPT_ENTRY,
  SIZEOF_IPT_GETINFO,
  SIZEOF_IPT_REPLACE,
  SIZEOF_XT_ENTRY_MATCH,
  SIZEOF_XT_ENTRY_TARGET,
  SIZEOF_XT_ERROR_TARGET,
  SIZEOF_XT_STANDARD_TARGET,
  XT_EXTENSION_MAXNAMELEN,
  XT_RETURN,
  XT_TABLE_MAXNAMELEN,
  xtAlign,
} from './abi.js';
import {
  markSourceChains,
  nextOffsetAt,
  OFF_COMEFROM,
  OFF_COUNTERS,
  OFF_TARGET_OFFSET,
  targetNameIs,
  targetOffsetAt,
  unconditional,
  verdictAt,
} from './entries.js';
import { EOPNOTSUPP, XtError } from './errno.js';
import { error as errorTarget } from './ext/error.js';
import { findExtension } from './ext/registry.js';
import { standard } from './ext/standard.js';
import {
  type BuiltinChain,
  type Chain,
  type ExtensionUse,
  ANY_IFACE,
  type IfaceMatch,
  type JumpTarget,
  type Policy,
  type Rule,
  type RuleIp,
  type RuleTarget,
  type Table,
  type UserChain,
  type Verdict,
  type XtCounters,
  ZERO_COUNTERS,
} from './ir.js';
import type { EntryBody, EntryMemo } from './memo.js';
import { parseEntry } from './parser.js';
import { cString } from './reader.js';
import { serializeGetinfo } from './serializer.js';
import type { IptEntry, XtEntryMatch } from './wire.js';
import { Writer } from './writer.js';

/** What SET_REPLACE hands over besides the entries (ipt_replace's header fields). */
export interface BlobLayout {
  readonly name: string;
  readonly validHooks: number;
  readonly hookEntry: readonly number[];
  readonly underflow: readonly number[];
}

/** A table laid out as an entry blob, with what GET_INFO reports about it. */
export interface EncodedTable {
  readonly entries: Buffer;
  /** Per hook; 0xffffffff for hooks the table does not have (as the kernel reports). */
  readonly hookEntry: readonly number[];
  readonly underflow: readonly number[];
  readonly numEntries: number;
  readonly size: number;
}

const NO_HOOK = 0xffffffff;
/** Chain name jumps use for Table.prelude. */
const PRELUDE = '';
const USER_HEAD_SIZE = SIZEOF_IPT_ENTRY + SIZEOF_XT_ERROR_TARGET;
const STANDARD_ENTRY_SIZE = SIZEOF_IPT_ENTRY + SIZEOF_XT_STANDARD_TARGET;

/**
 * The standard target's verdicts as rule targets, one shared object each. A Map: negative
 * numbers as object keys are strings, made anew on every lookup of every entry.
 */
const VERDICT_TARGETS: ReadonlyMap<number, RuleTarget> = new Map(
  (
    [
      [-NF_ACCEPT - 1, 'ACCEPT'],
      [-NF_DROP - 1, 'DROP'],
      [-NF_QUEUE - 1, 'QUEUE'],
      [XT_RETURN, 'RETURN'],
    ] as const
  ).map(([v, verdict]) => [v, Object.freeze({ kind: 'verdict', verdict })]),
);

export function verdictValue(v: Verdict): number {
  switch (v) {
    case 'ACCEPT':
      return -NF_ACCEPT - 1;
    case 'DROP':
      return -NF_DROP - 1;
    case 'QUEUE':
      return -NF_QUEUE - 1;
    case 'RETURN':
      return XT_RETURN;
  }
}

function unrepresentable(what: string): never {
  throw new XtError(
    EOPNOTSUPP,
    `the kernel accepts this blob but the rule model cannot hold it: ${what}`,
  );
}

// ---------------------------------------------------------------------------------------------
// blob → IR

interface Segment {
  readonly start: number;
  readonly kind: 'builtin' | 'user' | 'end' | 'prelude';
  readonly hook: number;
  /** Entry offsets in this segment. */
  readonly entries: number[];
}

function decodeIface(name: Buffer, mask: Buffer): IfaceMatch {
  if (isZero(name) && isZero(mask)) return ANY_IFACE;
  const text = cString(name);
  const clean = ifaceBytes(text).equals(name);
  return {
    name: text,
    mask: Uint8Array.from(mask),
    ...(clean ? {} : { raw: Uint8Array.from(name) }),
  };
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function decodeUse(kind: 'match' | 'target', m: XtEntryMatch): ExtensionUse {
  const extension = findExtension(kind, cString(m.name), m.revision);
  return { extension, revision: m.revision, value: extension.decode(m.data, m.revision) };
}

/** ipt_ip at `off` (parseIptIp's fields), read in place: most rules name no interface. */
function ipAt(blob: Buffer, off: number): RuleIp {
  const iface = (name: number, mask: number): IfaceMatch => {
    let any = 0;
    for (let i = 0; i < IFNAMSIZ; i += 4)
      any |= blob.readUInt32LE(name + i) | blob.readUInt32LE(mask + i);
    if (any === 0) return ANY_IFACE;
    return decodeIface(
      Buffer.from(blob.subarray(name, name + IFNAMSIZ)),
      Buffer.from(blob.subarray(mask, mask + IFNAMSIZ)),
    );
  };
  return {
    src: blob.readUInt32BE(off),
    dst: blob.readUInt32BE(off + 4),
    srcMask: blob.readUInt32BE(off + 8),
    dstMask: blob.readUInt32BE(off + 12),
    inIface: iface(off + 16, off + 48),
    outIface: iface(off + 32, off + 64),
    proto: blob.readUInt16LE(off + 80),
    flags: blob[off + 82] as number,
    invflags: blob[off + 83] as number,
  };
}

/**
 * The body of the entry at `off` of a blob validate.ts accepted, read in place; an extension
 * checked on the way has its decoded value in `uses` (validate.ts findCheck). A blob not laid
 * out as the checks demand goes through parseEntry, which says what is wrong.
 */
function bodyAt(blob: Buffer, off: number, uses?: ReadonlyMap<number, ExtensionUse>): EntryBody {
  const to = targetOffsetAt(blob, off);
  const next = nextOffsetAt(blob, off);
  const sized = (at: number, end: number): number => {
    const n = at + SIZEOF_XT_ENTRY_MATCH <= end ? blob.readUInt16LE(at) : 0;
    return n >= SIZEOF_XT_ENTRY_MATCH && at + n <= end ? n : 0;
  };
  const useAt = (kind: 'match' | 'target', at: number, n: number): ExtensionUse =>
    uses?.get(at) ??
    decodeUse(kind, {
      size: n,
      name: blob.subarray(at + 2, at + 2 + XT_EXTENSION_MAXNAMELEN),
      revision: blob[at + 31] as number,
      data: Buffer.from(blob.subarray(at + SIZEOF_XT_ENTRY_MATCH, at + n)),
    });
  const matches: ExtensionUse[] = [];
  let at = off + SIZEOF_IPT_ENTRY;
  const targetAt = off + to;
  while (at < targetAt) {
    const n = sized(at, targetAt);
    if (n === 0) return parsedBody(blob, off);
    matches.push(useAt('match', at, n));
    at += n;
  }
  const tn = at === targetAt && to >= SIZEOF_IPT_ENTRY ? sized(targetAt, off + next) : 0;
  if (tn === 0) return parsedBody(blob, off);
  return {
    ip: ipAt(blob, off),
    nfcache: blob.readUInt32LE(off + SIZEOF_IPT_IP),
    matches,
    target: targetNameIs(blob, off, '') ? undefined : useAt('target', targetAt, tn),
    slack: next - to - tn,
  };
}

/** bodyAt through parseEntry, for a blob it cannot read in place (parseEntry throws). */
function parsedBody(blob: Buffer, off: number): EntryBody {
  const e: IptEntry = parseEntry(blob, off);
  return {
    ip: ipAt(blob, off),
    nfcache: e.nfcache,
    matches: e.matches.map((m) => decodeUse('match', m)),
    target: targetNameIs(blob, off, '') ? undefined : decodeUse('target', e.target),
    slack: e.trailer.length,
  };
}

function segmentsOf(blob: Buffer, offsets: readonly number[], layout: BlobLayout): Segment[] {
  const starts = new Map<number, { kind: 'builtin' | 'user' | 'end'; hook: number }>();
  for (let h = 0; h < NF_INET_NUMHOOKS; h++) {
    if (layout.validHooks & (1 << h))
      starts.set(layout.hookEntry[h] ?? 0, { kind: 'builtin', hook: h });
  }
  const last = offsets[offsets.length - 1] ?? 0;
  for (const off of offsets) {
    if (!targetNameIs(blob, off, 'ERROR')) continue;
    // A hook may start on an ERROR entry: it is then simply the first rule of that built-in.
    if (starts.has(off)) continue;
    starts.set(off, { kind: off === last ? 'end' : 'user', hook: -1 });
  }
  const segments: Segment[] = [];
  for (const off of offsets) {
    const s = starts.get(off);
    if (s !== undefined) segments.push({ start: off, ...s, entries: [] });
    // Entries before every chain start (hook entries moved past them): unreachable but accepted.
    if (segments.length === 0)
      segments.push({ start: off, kind: 'prelude', hook: -1, entries: [] });
    segments[segments.length - 1]?.entries.push(off);
  }
  return segments;
}

/** An entry libiptc writes with fixed bytes (policy, head, footer, end): check it is one. */
function isPlainEntry(blob: Buffer, off: number, size: number): boolean {
  return (
    unconditional(blob, off) &&
    nextOffsetAt(blob, off) === size &&
    blob.readUInt32LE(off + 84) === 0
  );
}

/** A plain ERROR entry whose errorname has nothing after its NUL (what writeErrorEntry makes). */
function isPlainErrorEntry(blob: Buffer, off: number): boolean {
  if (!isPlainEntry(blob, off, USER_HEAD_SIZE)) return false;
  const at = off + SIZEOF_IPT_ENTRY + SIZEOF_XT_ENTRY_MATCH;
  const field = blob.subarray(at, at + 30);
  return errorTarget.decode(field, 0).raw === undefined;
}

function countersAt(blob: Buffer, off: number): XtCounters {
  // A checked blob's counters are zeroed (the kernel's copy): one shared object, no BigInts.
  const at = off + OFF_COUNTERS;
  if ((blob.readUInt32LE(at) | blob.readUInt32LE(at + 4) | blob.readUInt32LE(at + 8)) === 0) {
    if (blob.readUInt32LE(at + 12) === 0) return ZERO_COUNTERS;
  }
  return {
    pcnt: blob.readBigUInt64LE(off + OFF_COUNTERS),
    bcnt: blob.readBigUInt64LE(off + OFF_COUNTERS + 8),
  };
}

function policyOf(blob: Buffer, off: number): Policy {
  return verdictAt(blob, off) === -NF_ACCEPT - 1 ? 'ACCEPT' : 'DROP';
}

/**
 * The IR of a validated entry blob (its entries 8-aligned, as check_entry_size_and_hooks demands).
 * `checked`: the blob is translate_table's copy, whose comefrom fields hold mark_source_chains'
 * answer (the rules' hook masks). Never refuses a blob validate.ts accepted (EOPNOTSUPP would
 * mean a model gap).
 */
export function blobToTable(
  blob: Buffer,
  layout: BlobLayout,
  checked = false,
  memo?: EntryMemo,
  uses?: ReadonlyMap<number, ExtensionUse>,
): Table {
  const offsets: number[] = [];
  for (let off = 0; off < blob.length; off += nextOffsetAt(blob, off)) {
    if (off % 8 !== 0) throw new Error(`entry at ${off} is not 8-aligned`);
    offsets.push(off);
  }
  const segments = segmentsOf(blob, offsets, layout);

  // Per entry, by offset / 8 (arrays, not maps: this runs for every entry of every command):
  // where it sits in the model (segment + 1, position in it) for jumps.
  const slots = (blob.length >> 3) + 1;
  const segOf = new Int32Array(slots);
  const posOf = new Int32Array(slots);
  const names: string[] = segments.map((s) =>
    s.kind === 'builtin'
      ? (HOOK_NAMES[s.hook] ?? `hook${s.hook}`)
      : s.kind === 'prelude'
        ? PRELUDE
        : cString(parseEntry(blob, s.start).target.data),
  );
  segments.forEach((s, si) => {
    s.entries.forEach((off, i) => {
      segOf[off >> 3] = si + 1;
      posOf[off >> 3] = s.kind === 'user' ? i - 1 : i;
    });
  });
  const where = (off: number): JumpTarget | undefined => {
    const si = off % 8 === 0 && off < blob.length ? (segOf[off >> 3] as number) : 0;
    return si === 0 ? undefined : { chain: names[si - 1] ?? '', index: posOf[off >> 3] as number };
  };

  const counters = (off: number): XtCounters => countersAt(blob, off);

  const bodyOf = (off: number): EntryBody => {
    const known = memo?.body(off);
    if (known !== undefined) return known;
    const body = bodyAt(blob, off, uses);
    memo?.remember(off, body);
    seedEntryBytes(blob, off, body);
    return body;
  };

  const decodeRule = (off: number): Rule => {
    const body = bodyOf(off);
    let target: RuleTarget;
    if (body.target === undefined) {
      const v = verdictAt(blob, off);
      if (v >= 0) {
        const to = where(v);
        // Only unreachable code can jump to a non-entry or to the final entry: keep the offset.
        target =
          to === undefined || v === offsets[offsets.length - 1]
            ? { kind: 'rawJump', offset: v }
            : {
                kind: body.ip.flags & IPT_F_GOTO ? 'goto' : 'jump',
                chain: to.chain,
                index: to.index,
              };
      } else {
        const verdict = VERDICT_TARGETS.get(v);
        if (verdict === undefined) unrepresentable(`verdict ${v}`);
        target = verdict;
      }
    } else {
      target = { kind: 'extension', target: body.target };
    }
    const hookMask = checked ? blob.readUInt32LE(off + OFF_COMEFROM) : undefined;
    const counters = countersAt(blob, off);
    const { ip, nfcache, matches, slack } = body;
    // Two literals rather than a spread: this runs once per entry of every command.
    return hookMask === undefined
      ? { ip, nfcache, matches, target, counters, slack }
      : { ip, nfcache, matches, target, counters, slack, hookMask };
  };

  const chains: Chain[] = [];
  let end: Table['end'] | undefined;
  let prelude: Rule[] | undefined;
  segments.forEach((s, si) => {
    const name = names[si] ?? '';
    if (s.kind === 'prelude') {
      prelude = s.entries.map(decodeRule);
      return;
    }
    if (s.kind === 'end') {
      if (s.entries.length !== 1) unrepresentable('entries after the final ERROR entry');
      const plain = isPlainErrorEntry(blob, s.start);
      end = { name, counters: counters(s.start), ...(plain ? {} : { entry: decodeRule(s.start) }) };
      return;
    }
    if (s.kind === 'builtin') {
      const last = s.entries[s.entries.length - 1] ?? -1;
      const uflow = layout.underflow[s.hook] ?? -1;
      if (last !== uflow) {
        // The kernel accepts any unconditional ACCEPT/DROP entry as underflow: point at it.
        const at = where(uflow);
        if (at === undefined) unrepresentable(`underflow of ${name} at ${uflow}`);
        chains.push({
          kind: 'builtin',
          hook: s.hook,
          name,
          rules: s.entries.map(decodeRule),
          policy: policyOf(blob, uflow),
          policyCounters: ZERO_COUNTERS,
          underflowAt: at,
        });
        return;
      }
      const nfcache = blob.readUInt32LE(last + 84);
      const chain: BuiltinChain = {
        kind: 'builtin',
        hook: s.hook,
        name,
        rules: s.entries.slice(0, -1).map(decodeRule),
        policy: policyOf(blob, last),
        policyCounters: counters(last),
        ...(nfcache === 0 ? {} : { policyNfcache: nfcache }),
      };
      chains.push(chain);
      return;
    }
    const head = s.start;
    const foot = s.entries[s.entries.length - 1] ?? -1;
    const hasFooter =
      s.entries.length >= 2 &&
      isPlainEntry(blob, foot, STANDARD_ENTRY_SIZE) &&
      targetNameIs(blob, foot, '') &&
      verdictAt(blob, foot) === XT_RETURN;
    const chain: UserChain = {
      kind: 'user',
      name,
      rules: s.entries.slice(1, hasFooter ? -1 : undefined).map(decodeRule),
      headCounters: counters(head),
      ...(hasFooter ? { returnCounters: counters(foot) } : {}),
      ...(isPlainErrorEntry(blob, head) ? {} : { head: decodeRule(head) }),
    };
    chains.push(chain);
  });
  // libiptc always ends with an ERROR entry; the kernel does not insist.
  end ??= { name: '', counters: ZERO_COUNTERS, absent: true };
  const table: Table = {
    name: layout.name,
    validHooks: layout.validHooks,
    chains,
    end,
    ...(prelude === undefined ? {} : { prelude }),
  };
  if (checked) {
    const marks = Uint32Array.from(offsets, (o) => blob.readUInt32LE(o + OFF_COMEFROM));
    checkedComefrom.set(table, { size: blob.length, offsets: Uint32Array.from(offsets), marks });
  }
  return table;
}

/**
 * mark_source_chains' answer for a table decoded from a checked blob: each entry's offset and
 * mark. Encoding keeps every entry's size, so a layout of the same size has the same offsets and
 * needs no second walk.
 */
const checkedComefrom = new WeakMap<
  Table,
  { readonly size: number; readonly offsets: Uint32Array; readonly marks: Uint32Array }
>();

// ---------------------------------------------------------------------------------------------
// IR → blob

function useSize(u: ExtensionUse): number {
  return SIZEOF_XT_ENTRY_MATCH + xtAlign(u.extension.dataSize(u.revision));
}

function ruleSize(r: Rule): number {
  const matches = r.matches.reduce((n, m) => n + useSize(m), 0);
  const target =
    r.target.kind === 'extension' ? useSize(r.target.target) : SIZEOF_XT_STANDARD_TARGET;
  return SIZEOF_IPT_ENTRY + matches + target + r.slack;
}

function ifaceBytes(name: string): Buffer {
  const b = Buffer.alloc(IFNAMSIZ);
  b.write(name, 0, IFNAMSIZ, 'latin1');
  return b;
}

// Rules decoded through an EntryMemo share their ip and extension objects with the tables
// before them, so each is encoded once, not once per GET_ENTRIES of every later table.
const ipBytes = new WeakMap<RuleIp, Buffer>();
const useBytes = new WeakMap<ExtensionUse, Buffer>();

function writeIp(w: Writer, ip: RuleIp, flags: number): void {
  let b = ipBytes.get(ip);
  if (b === undefined) {
    const iw = new Writer(SIZEOF_IPT_IP);
    iw.be32(ip.src).be32(ip.dst).be32(ip.srcMask).be32(ip.dstMask);
    iw.bytes(ip.inIface.raw ?? ifaceBytes(ip.inIface.name));
    iw.bytes(ip.outIface.raw ?? ifaceBytes(ip.outIface.name));
    iw.bytes(ip.inIface.mask).bytes(ip.outIface.mask);
    iw.u16(ip.proto).u8(ip.flags).u8(ip.invflags);
    b = iw.finish();
    ipBytes.set(ip, b);
  }
  w.bytes(b.subarray(0, SIZEOF_IPT_IP - 2))
    .u8(flags)
    .u8(ip.invflags);
}

function writeUse(w: Writer, name: string, u: ExtensionUse): void {
  let b = useBytes.get(u);
  if (b === undefined) {
    const data = u.extension.encode(u.value, u.revision);
    b = new Writer(SIZEOF_XT_ENTRY_MATCH + data.length)
      .u16(SIZEOF_XT_ENTRY_MATCH + data.length)
      .fixedString(name, 29)
      .u8(u.revision)
      .bytes(data)
      .finish();
    useBytes.set(u, b);
  }
  w.bytes(b);
}

const UNCONDITIONAL: RuleIp = {
  src: 0,
  srcMask: 0,
  dst: 0,
  dstMask: 0,
  inIface: { name: '', mask: new Uint8Array(IFNAMSIZ) },
  outIface: { name: '', mask: new Uint8Array(IFNAMSIZ) },
  proto: 0,
  flags: 0,
  invflags: 0,
};

function writeHeader(
  w: Writer,
  ip: RuleIp,
  flags: number,
  nfcache: number,
  to: number,
  next: number,
  c: XtCounters,
) {
  writeIp(w, ip, flags);
  w.u32(nfcache).u16(to).u16(next).u32(0).u64(c.pcnt).u64(c.bcnt);
}

function writeStandardEntry(w: Writer, verdict: number, c: XtCounters, nfcache: number): void {
  writeHeader(w, UNCONDITIONAL, 0, nfcache, SIZEOF_IPT_ENTRY, STANDARD_ENTRY_SIZE, c);
  w.u16(SIZEOF_XT_STANDARD_TARGET).zeros(30).bytes(standard.encode({ verdict }, 0));
}

function writeErrorEntry(w: Writer, name: string, c: XtCounters): void {
  writeHeader(w, UNCONDITIONAL, 0, 0, SIZEOF_IPT_ENTRY, USER_HEAD_SIZE, c);
  w.u16(SIZEOF_XT_ERROR_TARGET)
    .fixedString('ERROR', 29)
    .u8(0)
    .bytes(errorTarget.encode({ name }, 0));
}

/**
 * `table` as an entry blob with `live` counters (per entry, in blob order) in place of the IR's.
 * Tables are immutable and GET_INFO/GET_ENTRIES ask for the same one again and again (iptables
 * fetches the whole table for every command), so the layout is computed once per table and only
 * the counters are written per call.
 */
export function tableToBlob(table: Table, live?: readonly XtCounters[]): EncodedTable {
  return withCounters(laidOut(table), live);
}

/** A laid-out table's entries with `live` counters (per entry, in blob order) written in. */
export function withCounters(enc: LaidOut, live?: readonly XtCounters[]): EncodedTable {
  const entries = Buffer.from(enc.entries);
  if (live !== undefined) {
    const at = enc.offsets;
    const n = Math.min(live.length, at.length);
    for (let i = 0; i < n; i++) {
      const c = live[i];
      if (c === undefined) continue;
      const o = (at[i] ?? 0) + OFF_COUNTERS;
      if (c === ZERO_COUNTERS && countersAt(entries, o - OFF_COUNTERS) === ZERO_COUNTERS) continue;
      entries.writeBigUInt64LE(c.pcnt, o);
      entries.writeBigUInt64LE(c.bcnt, o + 8);
    }
  }
  return {
    entries,
    hookEntry: enc.hookEntry,
    underflow: enc.underflow,
    numEntries: enc.numEntries,
    size: enc.size,
  };
}

/** The ipt_replace iptables would send for `table` (num_counters 1, no counters address). */
export function replaceBlob(table: Table): Buffer {
  const enc = laidOut(table);
  const hdr = Buffer.alloc(SIZEOF_IPT_REPLACE);
  hdr.write(table.name, 0, XT_TABLE_MAXNAMELEN - 1, 'latin1');
  hdr.writeUInt32LE(table.validHooks, 32);
  hdr.writeUInt32LE(enc.numEntries, 36);
  hdr.writeUInt32LE(enc.size, 40);
  enc.hookEntry.forEach((v, h) => hdr.writeUInt32LE(v >>> 0, 44 + 4 * h));
  enc.underflow.forEach((v, h) => hdr.writeUInt32LE(v >>> 0, 64 + 4 * h));
  hdr.writeUInt32LE(1, 84);
  return Buffer.concat([hdr, enc.entries]);
}

/** A table as GET_INFO and GET_ENTRIES show it, but for the live counters. Plain data. */
export interface LaidOut extends EncodedTable {
  /** Offset of each entry, in blob order. */
  readonly offsets: Uint32Array;
}

const encodedTables = new WeakMap<Table, LaidOut>();

/** `table` laid out (kept: GET_INFO and GET_ENTRIES ask for it again and again). */
export function laidOut(table: Table): LaidOut {
  let enc = encodedTables.get(table);
  if (enc === undefined) {
    enc = encodeTable(table);
    encodedTables.set(table, enc);
  }
  return enc;
}

/**
 * `table` laid out now, not kept: for the compute, which hands the layout to the thread that
 * keeps it.
 */
export function encodeTable(table: Table): LaidOut {
  // Pass 1: offsets of every position a jump can name.
  const pos = new Map<string, number[]>();
  let off = 0;
  if (table.prelude !== undefined) {
    const at: number[] = [];
    for (const r of table.prelude) {
      at.push(off);
      off += ruleSize(r);
    }
    pos.set(PRELUDE, at);
  }
  for (const c of table.chains) {
    const at: number[] = [];
    if (c.kind === 'user') {
      at.push(off);
      off += c.head === undefined ? USER_HEAD_SIZE : ruleSize(c.head);
    }
    for (const r of c.rules) {
      at.push(off);
      off += ruleSize(r);
    }
    if (c.kind === 'builtin' ? c.underflowAt === undefined : c.returnCounters !== undefined) {
      at.push(off);
      off += STANDARD_ENTRY_SIZE;
    }
    pos.set(c.name, at);
  }
  const endSize = table.end.entry === undefined ? USER_HEAD_SIZE : ruleSize(table.end.entry);
  const size = off + (table.end.absent === true ? 0 : endSize);
  const userChains = new Set(table.chains.filter((c) => c.kind === 'user').map((c) => c.name));
  const jumpOffset = (t: JumpTarget): number => {
    const at = pos.get(t.chain);
    const shift = userChains.has(t.chain) ? 1 : 0;
    const v = at?.[t.index + shift];
    if (v === undefined)
      throw new XtError(EOPNOTSUPP, `jump to ${t.chain}[${t.index}] which does not exist`);
    return v;
  };

  const hookEntry = Array<number>(NF_INET_NUMHOOKS).fill(NO_HOOK);
  const underflow = Array<number>(NF_INET_NUMHOOKS).fill(NO_HOOK);
  const w = new Writer(size);
  const offsets: number[] = [];
  const next = (c: XtCounters): XtCounters => {
    offsets.push(w.offset);
    return c;
  };

  for (const r of table.prelude ?? []) writeRule(w, r, next(r.counters), jumpOffset);
  for (const c of table.chains) {
    if (c.kind === 'user') {
      if (c.head === undefined) writeErrorEntry(w, c.name, next(c.headCounters));
      else writeRule(w, c.head, next(c.headCounters), jumpOffset);
    } else {
      hookEntry[c.hook] = w.offset;
    }
    for (const r of c.rules) writeRule(w, r, next(r.counters), jumpOffset);
    if (c.kind === 'builtin' && c.underflowAt !== undefined) {
      underflow[c.hook] = jumpOffset(c.underflowAt);
    } else if (c.kind === 'builtin') {
      underflow[c.hook] = w.offset;
      writeStandardEntry(w, verdictValue(c.policy), next(c.policyCounters), c.policyNfcache ?? 0);
    } else if (c.returnCounters !== undefined) {
      writeStandardEntry(w, XT_RETURN, next(c.returnCounters), 0);
    }
  }
  if (table.end.absent === true) {
    // nothing: the blob had no final ERROR entry
  } else if (table.end.entry === undefined) {
    writeErrorEntry(w, table.end.name, next(table.end.counters));
  } else {
    writeRule(w, table.end.entry, next(table.end.counters), jumpOffset);
  }
  const entries = w.finish();
  const checked = checkedComefrom.get(table);
  if (checked !== undefined && checked.size === entries.length) {
    checked.offsets.forEach((o, i) =>
      entries.writeUInt32LE(checked.marks[i] as number, o + OFF_COMEFROM),
    );
  } else {
    patchComefrom(entries, table.validHooks, hookEntry);
  }
  return {
    entries,
    hookEntry,
    underflow,
    numEntries: offsets.length,
    size: entries.length,
    offsets: Uint32Array.from(offsets),
  };
}

/**
 * A rule's entry bytes with zero counters, comefrom and verdict, by its ip object: a rule decoded
 * through an EntryMemo shares ip, matches and target with the rules of earlier tables (and so
 * with their bytes), and a 10,000-rule table is laid out again after every command. The other
 * parts of the body are compared on use, since a table built another way may share an ip.
 */
interface EntryBytes {
  readonly matches: readonly ExtensionUse[];
  readonly target: ExtensionUse | undefined;
  readonly nfcache: number;
  readonly slack: number;
  readonly flags: number;
  readonly bytes: Buffer;
}
const entryBytes = new WeakMap<RuleIp, EntryBytes>();

/**
 * The layout's bytes of a decoded entry, straight from its blob: what encodeRule would write for
 * it, which is also what the kernel's copy_entries_to_user returns of the bytes it was given (the
 * caller's entry with each name zero-padded after its NUL and each payload zeroed past the
 * extension's usersize), with counters, comefrom and trailer zeroed. A table decoded from a
 * checked blob is then laid out by copying, not by encoding every rule again; `test/ir.test.ts`
 * holds the two ways to the same bytes.
 */
function seedEntryBytes(blob: Buffer, off: number, body: EntryBody): void {
  const size = nextOffsetAt(blob, off);
  const bytes = Buffer.allocUnsafe(size);
  blob.copy(bytes, 0, off, off + size);
  // Short runs, zeroed in a loop: Buffer.fill and indexOf are a native call each.
  const zero = (from: number, to: number): void => {
    for (let i = from; i < to; i++) bytes[i] = 0;
  };
  zero(OFF_COMEFROM, OFF_COUNTERS + 16);
  let u = SIZEOF_IPT_ENTRY;
  const use = (userSize: number): void => {
    const n = bytes.readUInt16LE(u);
    const name = u + 2;
    let nul = name;
    while (nul < name + 29 && bytes[nul] !== 0) nul++;
    zero(nul, name + 29);
    zero(Math.min(u + SIZEOF_XT_ENTRY_MATCH + userSize, u + n), u + n);
    u += n;
  };
  for (const m of body.matches) use(m.extension.userSize(m.revision));
  use(body.target === undefined ? 4 : body.target.extension.userSize(body.target.revision));
  zero(u, size);
  const { ip, matches, target, nfcache, slack } = body;
  entryBytes.set(ip, { matches, target, nfcache, slack, flags: ip.flags, bytes });
}

function writeRule(w: Writer, r: Rule, c: XtCounters, jumpOffset: (t: JumpTarget) => number): void {
  const t = r.target;
  const use = t.kind === 'extension' ? t.target : undefined;
  const flags =
    t.kind === 'jump'
      ? r.ip.flags & ~IPT_F_GOTO
      : t.kind === 'goto'
        ? r.ip.flags | IPT_F_GOTO
        : r.ip.flags;
  let cached = entryBytes.get(r.ip);
  if (
    cached === undefined ||
    cached.matches !== r.matches ||
    cached.target !== use ||
    cached.nfcache !== r.nfcache ||
    cached.slack !== r.slack ||
    cached.flags !== flags
  ) {
    const own = new Writer(ruleSize(r));
    encodeRule(own, r, flags, ZERO_COUNTERS, () => 0);
    const bytes = own.finish();
    cached = { matches: r.matches, target: use, nfcache: r.nfcache, slack: r.slack, flags, bytes };
    entryBytes.set(r.ip, cached);
  }
  const start = w.offset;
  w.bytes(cached.bytes);
  // The kept bytes have zero counters already: no BigInts for a rule that counted nothing.
  if (c !== ZERO_COUNTERS) {
    w.patchU64(start + OFF_COUNTERS, c.pcnt).patchU64(start + OFF_COUNTERS + 8, c.bcnt);
  }
  if (use === undefined) {
    const to = cached.bytes.readUInt16LE(OFF_TARGET_OFFSET);
    w.patchI32(start + to + SIZEOF_XT_ENTRY_TARGET, standardVerdict(t, jumpOffset));
  }
}

function standardVerdict(t: RuleTarget, jumpOffset: (t: JumpTarget) => number): number {
  return t.kind === 'verdict'
    ? verdictValue(t.verdict)
    : t.kind === 'rawJump'
      ? t.offset
      : t.kind === 'extension'
        ? 0
        : jumpOffset(t);
}

function encodeRule(
  w: Writer,
  r: Rule,
  flags: number,
  c: XtCounters,
  jumpOffset: (t: JumpTarget) => number,
): void {
  const start = w.offset;
  const matchBytes = r.matches.reduce((s, m) => s + useSize(m), 0);
  const to = SIZEOF_IPT_ENTRY + matchBytes;
  const t = r.target;
  writeHeader(w, r.ip, flags, r.nfcache, to, ruleSize(r), c);
  for (const m of r.matches) writeUse(w, m.extension.name, m);
  if (t.kind === 'extension') {
    writeUse(w, t.target.extension.name, t.target);
  } else {
    const verdict = standardVerdict(t, jumpOffset);
    w.u16(SIZEOF_XT_STANDARD_TARGET).zeros(30).bytes(standard.encode({ verdict }, 0));
  }
  w.zeros(r.slack);
  if (w.offset - start !== ruleSize(r)) throw new Error('rule size mismatch');
}

function patchComefrom(entries: Buffer, validHooks: number, hookEntry: readonly number[]): void {
  const offsets: number[] = [];
  for (let o = 0; o < entries.length; o += nextOffsetAt(entries, o)) offsets.push(o);
  for (let h = 0; h < NF_INET_NUMHOOKS; h++) {
    if (validHooks & (1 << h) && hookEntry[h] === NO_HOOK) return;
  }
  const marks = markSourceChains(entries, entries.length, validHooks, hookEntry, offsets);
  if (marks === null) return;
  for (const o of offsets) entries.writeUInt32LE(marks[o >> 3] as number, o + OFF_COMEFROM);
}

// ---------------------------------------------------------------------------------------------
// GET_INFO and the initial table

/** IPT_SO_GET_INFO's answer for `table` (84 bytes). */
export function encodeGetinfo(table: Table): Buffer {
  return getinfoOf(table.name, table.validHooks, laidOut(table));
}

/** ipt_getinfo of the table `name` laid out as `enc`. */
export function getinfoOf(name: string, validHooks: number, enc: EncodedTable): Buffer {
  const cname = Buffer.alloc(XT_TABLE_MAXNAMELEN);
  cname.write(name, 0, XT_TABLE_MAXNAMELEN - 1, 'latin1');
  const out = serializeGetinfo({
    name: cname,
    validHooks,
    hookEntry: enc.hookEntry,
    underflow: enc.underflow,
    numEntries: enc.numEntries,
    size: enc.size,
  });
  if (out.length !== SIZEOF_IPT_GETINFO) throw new Error('ipt_getinfo size');
  return out;
}

const TABLE_HOOKS: Readonly<Record<string, number>> = {
  filter: (1 << 1) | (1 << 2) | (1 << 3),
};

/**
 * The table the kernel registers in a fresh network namespace (iptable_filter: INPUT, FORWARD and
 * OUTPUT with policy ACCEPT, then the final ERROR entry), all counters zero.
 */
export function initialTable(name: 'filter'): Table {
  const validHooks = TABLE_HOOKS[name] ?? 0;
  const chains: BuiltinChain[] = [];
  for (let h = 0; h < NF_INET_NUMHOOKS; h++) {
    if (!(validHooks & (1 << h))) continue;
    chains.push({
      kind: 'builtin',
      hook: h,
      name: HOOK_NAMES[h] ?? '',
      rules: [],
      policy: 'ACCEPT',
      policyCounters: ZERO_COUNTERS,
    });
  }
  return { name, validHooks, chains, end: { name: 'ERROR', counters: ZERO_COUNTERS } };
}

/** Index → entry counters in blob order, as stored in the IR (the order GET_ENTRIES uses). */
export function tableCounters(table: Table): XtCounters[] {
  const out: XtCounters[] = (table.prelude ?? []).map((r) => r.counters);
  for (const c of table.chains) {
    if (c.kind === 'user') out.push(c.headCounters);
    for (const r of c.rules) out.push(r.counters);
    if (c.kind === 'builtin') {
      if (c.underflowAt === undefined) out.push(c.policyCounters);
    } else if (c.returnCounters !== undefined) out.push(c.returnCounters);
  }
  if (table.end.absent !== true) out.push(table.end.counters);
  return out;
}
