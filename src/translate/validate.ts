// The kernel's SET_REPLACE checks, in the kernel's order, with the kernel's errno (Linux 6.x
// net/ipv4/netfilter/ip_tables.c do_replace → translate_table, net/netfilter/x_tables.c). Each
// check is a small named function; checkReplace runs them as the kernel does and returns the IR.
// State checks against the live table (table exists, valid_hooks, num_counters) are separate:
// checkReplaceAgainst.
import {
  IPT_F_MASK,
  IPT_INV_MASK,
  IPT_INV_PROTO,
  NF_ACCEPT,
  NF_DROP,
  NF_INET_NUMHOOKS,
  NF_QUEUE,
  SIZEOF_IPT_ENTRY,
  SIZEOF_IPT_GET_ENTRIES,
  SIZEOF_IPT_GETINFO,
  SIZEOF_IPT_REPLACE,
  SIZEOF_XT_COUNTERS,
  SIZEOF_XT_COUNTERS_INFO,
  SIZEOF_XT_ENTRY_MATCH,
  SIZEOF_XT_ENTRY_TARGET,
  SIZEOF_XT_ERROR_TARGET,
  SIZEOF_XT_GET_REVISION,
  SIZEOF_XT_STANDARD_TARGET,
  XT_EXTENSION_MAXNAMELEN,
  XT_FUNCTION_MAXNAMELEN,
  XT_RETURN,
  XT_TABLE_MAXNAMELEN,
  xtAlign,
} from './abi.js';
import {
  cNameIs,
  markSourceChains,
  nextOffsetAt,
  OFF_COMEFROM,
  targetOffsetAt,
  unconditional,
  verdictAt,
} from './entries.js';
import { EAGAIN, EINVAL, ELOOP, ENOENT, ENOMEM, XtError } from './errno.js';
import { findExtension } from './ext/registry.js';
import type { CheckContext, Extension } from './ext/types.js';
import type { ExtensionUse, Table, XtCounters } from './ir.js';
import type { EntryMemo } from './memo.js';
import { parseCounterArray } from './parser.js';
import { blobToTable } from './table.js';
import type { TableView } from './view.js';

const INT_MAX = 0x7fffffff;
/** XT_MAX_TABLE_SIZE (x_tables.c): 512 MiB. */
const XT_MAX_TABLE_SIZE = 512 * 1024 * 1024;
/** sizeof(struct xt_table_info) on x86-64: 14 u32, a pointer, then the entries. */
const SIZEOF_XT_TABLE_INFO = 64;

/** The ipt_replace header fields checkReplace needs, as the kernel reads them. */
export interface ReplaceHeader {
  /** tmp.name with name[31] forced to NUL, as a C string. */
  readonly name: string;
  readonly validHooks: number;
  readonly numEntries: number;
  readonly size: number;
  readonly hookEntry: readonly number[];
  readonly underflow: readonly number[];
  readonly numCounters: number;
  /** The caller's address for the old counters. */
  readonly counters: bigint;
}

function fail(errno: number, message: string): never {
  throw new XtError(errno, message);
}

function cStringAt(buf: Buffer, at: number, max: number): string {
  const field = buf.subarray(at, at + max);
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul === -1 ? field.length : nul);
}

/**
 * do_replace's header checks (`buf` is optval, at least its header; `optlen` the caller's optlen): short → EINVAL, counters
 * overflow → ENOMEM, num_counters 0 → EINVAL, len < size + header → EINVAL, then
 * xt_alloc_table_info's size limit → ENOMEM.
 */
export function checkReplaceHeader(buf: Buffer, optlen = buf.length): ReplaceHeader {
  if (optlen < SIZEOF_IPT_REPLACE) fail(EINVAL, `optlen ${optlen} < sizeof(ipt_replace)`);
  const numCounters = buf.readUInt32LE(84);
  const size = buf.readUInt32LE(40);
  if (numCounters >= Math.floor(INT_MAX / SIZEOF_XT_COUNTERS))
    fail(ENOMEM, `num_counters ${numCounters} overflows`);
  if (numCounters === 0) fail(EINVAL, 'num_counters is 0');
  if (optlen < size + SIZEOF_IPT_REPLACE) fail(EINVAL, `optlen ${optlen} < size ${size} + header`);
  if (SIZEOF_XT_TABLE_INFO + size >= XT_MAX_TABLE_SIZE)
    fail(ENOMEM, `table size ${size} too large`);
  const hooks = (at: number): number[] =>
    Array.from({ length: NF_INET_NUMHOOKS }, (_, h) => buf.readUInt32LE(at + 4 * h));
  return {
    name: cStringAt(buf, 0, XT_TABLE_MAXNAMELEN - 1),
    validHooks: buf.readUInt32LE(32),
    numEntries: buf.readUInt32LE(36),
    size,
    hookEntry: hooks(44),
    underflow: hooks(64),
    numCounters,
    counters: buf.readBigUInt64LE(88),
  };
}

/** ip_checkentry: flags and invflags within their masks, else EINVAL. */
export function ipCheckentry(blob: Buffer, pos: number): void {
  const flags = blob.readUInt8(pos + 82);
  const invflags = blob.readUInt8(pos + 83);
  if (flags & ~IPT_F_MASK) fail(EINVAL, `entry at ${pos}: unknown flags 0x${flags.toString(16)}`);
  if (invflags & ~IPT_INV_MASK)
    fail(EINVAL, `entry at ${pos}: unknown invflags 0x${invflags.toString(16)}`);
}

/** x_tables.c verdict_ok: a positive jump offset, or ACCEPT/DROP/QUEUE/RETURN. */
export function verdictOk(verdict: number): boolean {
  if (verdict > 0) return true;
  if (verdict < 0) {
    if (verdict === XT_RETURN) return true;
    const v = -verdict - 1;
    return v === NF_ACCEPT || v === NF_DROP || v === NF_QUEUE;
  }
  return false;
}

/**
 * xt_check_entry_match: the matches between the entry header and the target tile exactly, each
 * 8-aligned, at least a header long and not past the target. EINVAL otherwise.
 */
export function xtCheckEntryMatch(blob: Buffer, pos: number, targetOffset: number): void {
  let length = targetOffset - SIZEOF_IPT_ENTRY;
  let at = pos + SIZEOF_IPT_ENTRY;
  if (length === 0) return;
  do {
    if (at % 8 !== 0) fail(EINVAL, `entry at ${pos}: match at ${at} misaligned`);
    if (length < SIZEOF_XT_ENTRY_MATCH)
      fail(EINVAL, `entry at ${pos}: ${length} bytes left, less than a match`);
    const size = blob.readUInt16LE(at);
    if (size < SIZEOF_XT_ENTRY_MATCH) fail(EINVAL, `entry at ${pos}: match_size ${size} < 32`);
    if (size > length) fail(EINVAL, `entry at ${pos}: match_size ${size} runs past the target`);
    length -= size;
    at += size;
  } while (length > 0);
}

/**
 * xt_check_entry_offsets: target inside the entry, target_size sane, standard target exactly 40
 * bytes with a valid verdict, ERROR target exactly 64 bytes with a terminated name, then the
 * match tiling. EINVAL otherwise.
 */
export function xtCheckEntryOffsets(
  blob: Buffer,
  pos: number,
  targetOffset: number,
  nextOffset: number,
): void {
  if (targetOffset < SIZEOF_IPT_ENTRY)
    fail(EINVAL, `entry at ${pos}: target_offset ${targetOffset} inside the header`);
  if (targetOffset + SIZEOF_XT_ENTRY_TARGET > nextOffset) {
    fail(EINVAL, `entry at ${pos}: target_offset ${targetOffset} leaves no room for a target`);
  }
  const t = pos + targetOffset;
  const targetSize = blob.readUInt16LE(t);
  if (targetSize < SIZEOF_XT_ENTRY_TARGET)
    fail(EINVAL, `entry at ${pos}: target_size ${targetSize} < 32`);
  if (targetOffset + targetSize > nextOffset)
    fail(EINVAL, `entry at ${pos}: target runs past next_offset`);
  if (cNameIs(blob, t + 2, '')) {
    if (xtAlign(targetOffset + SIZEOF_XT_STANDARD_TARGET) !== nextOffset) {
      fail(
        EINVAL,
        `entry at ${pos}: standard target entry must end at ${xtAlign(targetOffset + 40)}`,
      );
    }
    const verdict = blob.readInt32LE(t + SIZEOF_XT_ENTRY_TARGET);
    if (!verdictOk(verdict)) fail(EINVAL, `entry at ${pos}: bad verdict ${verdict}`);
  } else if (cNameIs(blob, t + 2, 'ERROR')) {
    const name = blob.subarray(
      t + SIZEOF_XT_ENTRY_TARGET,
      t + SIZEOF_XT_ENTRY_TARGET + XT_FUNCTION_MAXNAMELEN,
    );
    if (targetSize !== SIZEOF_XT_ERROR_TARGET || name.indexOf(0) === -1) {
      fail(EINVAL, `entry at ${pos}: malformed ERROR target`);
    }
  }
  xtCheckEntryMatch(blob, pos, targetOffset);
}

/** check_underflow: an underflow entry must be an unconditional standard ACCEPT or DROP. */
export function checkUnderflow(blob: Buffer, pos: number): boolean {
  if (!unconditional(blob, pos)) return false;
  if (!cNameIs(blob, pos + targetOffsetAt(blob, pos) + 2, '')) return false;
  const v = (-verdictAt(blob, pos) - 1) >>> 0;
  return v === NF_DROP || v === NF_ACCEPT;
}

/** Hook entry points and underflows found while walking the entries. */
interface Hooks {
  readonly hookEntry: number[];
  readonly underflow: number[];
}

/**
 * check_entry_size_and_hooks for the entry at `pos` (blob = the `size` entry bytes): alignment,
 * header and next_offset inside the blob, minimum size, ip_checkentry, xt_check_entry_offsets,
 * then records hook entries and checks underflows. EINVAL on any failure.
 */
export function checkEntrySizeAndHooks(
  blob: Buffer,
  pos: number,
  hdr: ReplaceHeader,
  found: Hooks,
): void {
  const limit = blob.length;
  if (pos % 8 !== 0) fail(EINVAL, `entry at ${pos} misaligned`);
  if (pos + SIZEOF_IPT_ENTRY >= limit)
    fail(EINVAL, `entry at ${pos}: header reaches the end of the table`);
  const next = nextOffsetAt(blob, pos);
  if (pos + next > limit) fail(EINVAL, `entry at ${pos}: next_offset ${next} past the end`);
  if (next < SIZEOF_IPT_ENTRY + SIZEOF_XT_ENTRY_TARGET)
    fail(EINVAL, `entry at ${pos}: next_offset ${next} too small`);
  ipCheckentry(blob, pos);
  xtCheckEntryOffsets(blob, pos, targetOffsetAt(blob, pos), next);
  for (let h = 0; h < NF_INET_NUMHOOKS; h++) {
    if (!(hdr.validHooks & (1 << h))) continue;
    if (pos === hdr.hookEntry[h]) found.hookEntry[h] = pos;
    if (pos === hdr.underflow[h]) {
      if (!checkUnderflow(blob, pos))
        fail(EINVAL, `underflow of hook ${h} at ${pos} is not an unconditional ACCEPT/DROP`);
      found.underflow[h] = pos;
    }
  }
}

/** xt_check_table_hooks: every valid hook has an entry and an underflow, both strictly ascending. */
export function xtCheckTableHooks(found: Hooks, validHooks: number): void {
  let maxEntry = 0;
  let maxUflow = 0;
  let checkHooks = false;
  for (let h = 0; h < NF_INET_NUMHOOKS; h++) {
    if (!(validHooks & (1 << h))) continue;
    const entry = found.hookEntry[h] ?? 0xffffffff;
    const uflow = found.underflow[h] ?? 0xffffffff;
    if (entry === 0xffffffff) fail(EINVAL, `hook ${h} has no entry point`);
    if (uflow === 0xffffffff) fail(EINVAL, `hook ${h} has no underflow`);
    if (checkHooks) {
      if (maxUflow > uflow) fail(EINVAL, `unsorted underflow at hook ${h}`);
      if (maxUflow === uflow) fail(EINVAL, `duplicate underflow at hook ${h}`);
      if (maxEntry > entry) fail(EINVAL, `unsorted entry at hook ${h}`);
      if (maxEntry === entry) fail(EINVAL, `duplicate entry at hook ${h}`);
    }
    maxEntry = entry;
    maxUflow = uflow;
    checkHooks = true;
  }
}

/** check_entry (start of find_check_entry): ip_checkentry and the target inside the entry. */
export function checkEntry(blob: Buffer, pos: number): void {
  ipCheckentry(blob, pos);
  const to = targetOffsetAt(blob, pos);
  const next = nextOffsetAt(blob, pos);
  if (to + SIZEOF_XT_ENTRY_TARGET > next) fail(EINVAL, `entry at ${pos}: no room for the target`);
  if (to + blob.readUInt16LE(pos + to) > next)
    fail(EINVAL, `entry at ${pos}: target past next_offset`);
}

/**
 * xt_check_match / xt_check_target: the payload must be exactly XT_ALIGN(size) bytes (EINVAL),
 * then the extension's own table/hook/proto rules and checkentry, whose writes into the payload
 * (the kernel's working copy) are applied to `data`.
 */
export function xtCheckExtension(
  ext: Extension<unknown>,
  revision: number,
  data: Buffer,
  ctx: CheckContext,
): unknown {
  const want = xtAlign(ext.dataSize(revision));
  if (data.length !== want) {
    fail(EINVAL, `${ext.kind} "${ext.name}" rev ${revision}: size ${data.length} != ${want}`);
  }
  // Decoded from a copy: the value goes into the IR, which must not hold on to the blob.
  const value = ext.decode(copyOf(data), revision);
  ext.check(value, revision, ctx);
  if (!ext.writeBack) return value;
  ext.writeBack(data, revision);
  return ext.decode(copyOf(data), revision);
}

/** The bytes, in memory of their own (small ones from Node's pool). */
function copyOf(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  b.copy(out);
  return out;
}

/**
 * find_check_match / the target half of find_check_entry for the header at `at`. What the
 * payload decodes to (after the extension's writeBack) goes into `uses` by `at`, so the IR is
 * built without decoding it again.
 */
function findCheck(
  kind: 'match' | 'target',
  blob: Buffer,
  at: number,
  ctx: CheckContext,
  uses: Map<number, ExtensionUse> | undefined,
): void {
  const size = blob.readUInt16LE(at);
  const nameField = blob.subarray(at + 2, at + 2 + XT_EXTENSION_MAXNAMELEN);
  const nul = nameField.indexOf(0);
  const name = nameField.toString('latin1', 0, nul === -1 ? XT_EXTENSION_MAXNAMELEN : nul);
  const revision = blob.readUInt8(at + 31);
  const extension = findExtension(kind, name, revision);
  const data = blob.subarray(at + SIZEOF_XT_ENTRY_MATCH, at + size);
  const value = xtCheckExtension(extension, revision, data, ctx);
  uses?.set(at, { extension, revision, value });
}

/** find_check_entry: check_entry, then each match (lookup + check), then the target. */
export function findCheckEntry(
  blob: Buffer,
  pos: number,
  table: string,
  uses?: Map<number, ExtensionUse>,
): void {
  checkEntry(blob, pos);
  const ctx: CheckContext = {
    table,
    hookMask: blob.readUInt32LE(pos + OFF_COMEFROM),
    proto: blob.readUInt16LE(pos + 80),
    invProto: (blob.readUInt8(pos + 83) & IPT_INV_PROTO) !== 0,
  };
  const to = targetOffsetAt(blob, pos);
  for (let i = SIZEOF_IPT_ENTRY; i < to; i += blob.readUInt16LE(pos + i))
    findCheck('match', blob, pos + i, ctx, uses);
  findCheck('target', blob, pos + to, ctx, uses);
}

/**
 * translate_table: walk and check every entry, count them, check the hooks, mark source chains
 * (ELOOP), then find and check every extension. Returns the kernel's working copy of the entries
 * (counters zeroed, comefrom = reachable hooks) — what GET_ENTRIES would later show.
 */
export function translateTable(
  entries: Buffer,
  hdr: ReplaceHeader,
  memo?: EntryMemo,
  uses?: Map<number, ExtensionUse>,
): Buffer {
  const blob = Buffer.from(entries.subarray(0, hdr.size));
  if (hdr.numEntries > XT_MAX_TABLE_SIZE / 4)
    fail(ENOMEM, `num_entries ${hdr.numEntries} too large`);
  const found: Hooks = {
    hookEntry: Array<number>(NF_INET_NUMHOOKS).fill(0xffffffff),
    underflow: Array<number>(NF_INET_NUMHOOKS).fill(0xffffffff),
  };
  const offsets: number[] = [];
  let i = 0;
  for (let pos = 0; pos < blob.length; pos += nextOffsetAt(blob, pos)) {
    checkEntrySizeAndHooks(blob, pos, hdr, found);
    if (i < hdr.numEntries) offsets.push(pos);
    i++;
    // Clear counters and comefrom, as the kernel does on its copy.
    // Five words, written rather than filled: Buffer.fill is a native call per entry.
    for (let o = pos + OFF_COMEFROM; o < pos + SIZEOF_IPT_ENTRY; o += 4) blob.writeUInt32LE(0, o);
  }
  if (i !== hdr.numEntries) fail(EINVAL, `${i} entries, num_entries says ${hdr.numEntries}`);
  xtCheckTableHooks(found, hdr.validHooks);
  const marks = markSourceChains(blob, blob.length, hdr.validHooks, found.hookEntry, offsets);
  if (marks === null) fail(ELOOP, 'a loop, a jump to a non-entry, or a chain falling off the end');
  for (const off of offsets) blob.writeUInt32LE(marks[off >> 3] as number, off + OFF_COMEFROM);
  for (let pos = 0; pos < blob.length; pos += nextOffsetAt(blob, pos)) {
    if (memo?.checked(blob, pos, blob.readUInt32LE(pos + OFF_COMEFROM), hdr.name)) continue;
    findCheckEntry(blob, pos, hdr.name, uses);
  }
  return blob;
}

/**
 * IPT_SO_SET_REPLACE's stateless checks on the caller's optval (`buf.length` = optlen): the
 * header checks, then translate_table. Returns the IR table (rules carry hookMask) or
 * throws XtError with the kernel's errno. With `memo`, entries the last accepted blob had are
 * neither checked nor decoded again.
 */
export function checkReplace(buf: Buffer, memo?: EntryMemo): Table {
  try {
    const hdr = checkReplaceHeader(buf);
    const uses = new Map<number, ExtensionUse>();
    const blob = translateTable(buf.subarray(SIZEOF_IPT_REPLACE), hdr, memo, uses);
    const table = blobToTable(blob, hdr, true, memo, uses);
    memo?.commit();
    return table;
  } catch (e) {
    memo?.abandon();
    throw e;
  }
}

/**
 * __do_replace / xt_replace_table's checks against the live table, run after checkReplace:
 * no such table → ENOENT; valid_hooks differs → EINVAL; num_counters is not the current entry
 * count → EAGAIN (libiptc retries on that).
 */
export function checkReplaceAgainst(
  current: TableView | undefined,
  next: TableView,
  numCounters: number,
): void {
  if (current === undefined || current.name !== next.name) fail(ENOENT, `no table "${next.name}"`);
  if (next.validHooks !== current.validHooks) {
    fail(
      EINVAL,
      `valid_hooks 0x${next.validHooks.toString(16)} != 0x${current.validHooks.toString(16)}`,
    );
  }
  if (numCounters !== current.entries) {
    fail(EAGAIN, `num_counters ${numCounters} != ${current.entries} entries`);
  }
}

// ---------------------------------------------------------------------------------------------
// The other sockopts' argument checks (do_ipt_get_ctl / do_add_counters), stateless part first.

/** IPT_SO_SET_ADD_COUNTERS' request, as xt_copy_counters reads it. */
export interface AddCounters {
  readonly name: string;
  readonly counters: readonly XtCounters[];
}

/**
 * xt_copy_counters: optlen below the 40-byte header → EINVAL, num_counters 0 → EINVAL,
 * optlen != header + 16 · num_counters → EINVAL.
 */
export function checkAddCounters(buf: Buffer): AddCounters {
  if (buf.length < SIZEOF_XT_COUNTERS_INFO)
    fail(EINVAL, `optlen ${buf.length} < sizeof(xt_counters_info)`);
  const num = buf.readUInt32LE(32);
  if (num === 0) fail(EINVAL, 'num_counters is 0');
  if (num * SIZEOF_XT_COUNTERS !== buf.length - SIZEOF_XT_COUNTERS_INFO) {
    fail(
      EINVAL,
      `${num} counters need ${num * SIZEOF_XT_COUNTERS} bytes, got ${buf.length - SIZEOF_XT_COUNTERS_INFO}`,
    );
  }
  const counters = parseCounterArray(buf, SIZEOF_XT_COUNTERS_INFO, num);
  return { name: cStringAt(buf, 0, XT_TABLE_MAXNAMELEN - 1), counters };
}

/** do_add_counters against the live table: no table → ENOENT, wrong count → EINVAL. */
export function checkAddCountersAgainst(current: TableView | undefined, req: AddCounters): void {
  if (current === undefined) fail(ENOENT, `no table "${req.name}"`);
  const have = current.entries;
  if (req.counters.length !== have)
    fail(EINVAL, `${req.counters.length} counters for ${have} entries`);
}

/** get_info: optlen must be exactly sizeof(ipt_getinfo) (EINVAL); returns the table name asked. */
export function checkGetInfo(buf: Buffer): string {
  if (buf.length !== SIZEOF_IPT_GETINFO)
    fail(EINVAL, `optlen ${buf.length} != sizeof(ipt_getinfo)`);
  return cStringAt(buf, 0, XT_TABLE_MAXNAMELEN - 1);
}

/**
 * get_entries: optlen < 40 → EINVAL, optlen != 40 + size → EINVAL. `buf` holds at least the
 * header; `optlen` (default its length) is the caller's, so no buffer of `size` is needed.
 */
export function checkGetEntries(buf: Buffer, optlen = buf.length): { name: string; size: number } {
  if (optlen < SIZEOF_IPT_GET_ENTRIES) fail(EINVAL, `optlen ${optlen} < sizeof(ipt_get_entries)`);
  const size = buf.readUInt32LE(32);
  if (optlen !== SIZEOF_IPT_GET_ENTRIES + size)
    fail(EINVAL, `optlen ${optlen} != 40 + size ${size}`);
  return { name: cStringAt(buf, 0, XT_TABLE_MAXNAMELEN - 1), size };
}

/** get_entries against the live table: no table → ENOENT, size differs → EAGAIN. */
export function checkGetEntriesAgainst(
  current: { readonly size: number } | undefined,
  req: { name: string; size: number },
): void {
  if (current === undefined) fail(ENOENT, `no table "${req.name}"`);
  const size = current.size;
  if (req.size !== size) fail(EAGAIN, `size ${req.size} != table size ${size}`);
}

/** GET_REVISION_{MATCH,TARGET}: optlen must be sizeof(xt_get_revision) (EINVAL); name[28] = 0. */
export function checkGetRevision(buf: Buffer): { name: string; revision: number } {
  if (buf.length !== SIZEOF_XT_GET_REVISION)
    fail(EINVAL, `optlen ${buf.length} != sizeof(xt_get_revision)`);
  return { name: cStringAt(buf, 0, XT_EXTENSION_MAXNAMELEN - 1), revision: buf.readUInt8(29) };
}
