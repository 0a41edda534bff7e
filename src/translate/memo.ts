// iptables rewrites the whole table for every command: `iptables -A` on a 10,000-rule table
// sends 10,001 entries of which 10,000 are byte for byte what the last SET_REPLACE sent. The
// kernel checks them all again (xt_check_match per entry) in C; we would spend most of a
// command's time in find_check_entry and decoding. The extensions' checks are functions of the
// entry's bytes, the table and the hooks it is reachable from, and decoding is a function of the
// bytes alone, so an entry seen with the same three in the last accepted table needs neither:
// its decoded rule body is reused (which also keeps object identity for later memos, e.g. the
// classifier's regions and the engine's records).
//
// The key leaves out what the kernel overwrites or decides elsewhere: comefrom and the counters
// (zeroed on its copy) and a standard target's verdict (checked by verdict_ok and
// mark_source_chains for every entry; the standard target has no checkentry).
//
// Finding the old entry. An edit changes a few entries and shifts the rest, so the entries of
// the new blob are compared in order with those of the last one from a cursor: the entry under
// the cursor, else one of the next few (a deleted run), else any (a hash of every old entry's
// key, built only when an entry is neither and so never for an append, an insert or a delete).
// A hit moves the cursor past the old entry; a miss leaves it, so the entries after an inserted
// one meet their old selves again. Every comparison is of 32-bit words, with no hashing on the
// common path, which for a 10,000-entry table is what keeps a command in the milliseconds.
import { SIZEOF_IPT_ENTRY, SIZEOF_XT_ENTRY_TARGET } from './abi.js';
import { cNameIs, nextOffsetAt, OFF_COMEFROM, targetOffsetAt } from './entries.js';
import type { ExtensionUse, RuleIp } from './ir.js';

/** What an entry's own bytes say about its rule: all but counters, position and jump. */
export interface EntryBody {
  readonly ip: RuleIp;
  readonly nfcache: number;
  readonly matches: readonly ExtensionUse[];
  /** The target extension; undefined for the standard target (verdict or jump). */
  readonly target: ExtensionUse | undefined;
  readonly slack: number;
}

/** An entry of a checked blob: where its key is in the blob's words, and what it decoded to. */
interface Seen {
  /** Word index of the entry's start and end. */
  readonly start: number;
  readonly end: number;
  /** Word index of a standard target's verdict (left out of the key), or -1. */
  readonly verdict: number;
  readonly hookMask: number;
  body?: EntryBody;
}

/** A checked blob: its words as the caller sent them, and its entries in order. */
interface Generation {
  readonly table: string;
  readonly words: Int32Array;
  readonly entries: Seen[];
  /** Key hash → entry indexes, built on the first entry the cursor cannot find. */
  index?: Map<number, number[]>;
}

/** Old entries past the cursor tried before the hash: a deleted run up to this long. */
const LOOKAHEAD = 8;

/** Checked and decoded entries of the last accepted table of one (netns, table). */
export class EntryMemo {
  private last: Generation | undefined;
  private current: (Generation & { readonly blob: Buffer }) | undefined;
  /** What each entry of the blob being checked was matched with, by offset. */
  private readonly byPos = new Map<number, Seen>();
  private cursor = 0;

  /**
   * Whether the entry at `pos` (with `hookMask` from mark_source_chains) was checked before.
   * Called before find_check_entry, in blob order: the key is taken from the bytes the caller
   * sent, not the ones checkentry may rewrite.
   */
  checked(blob: Buffer, pos: number, hookMask: number, table: string): boolean {
    const cur = this.begin(blob, table);
    const to = targetOffsetAt(blob, pos);
    const next = nextOffsetAt(blob, pos);
    // Entries are 8-aligned and so are their parts unless a match's size is odd (which the
    // kernel's check refuses): such an entry is simply checked again.
    if (pos % 4 !== 0 || to % 4 !== 0 || next % 4 !== 0) return false;
    const seen: Seen = {
      start: pos >> 2,
      end: (pos + next) >> 2,
      verdict: cNameIs(blob, pos + to + 2, '') ? (pos + to + SIZEOF_XT_ENTRY_TARGET) >> 2 : -1,
      hookMask,
    };
    cur.entries.push(seen);
    this.byPos.set(pos, seen);
    const old = this.find(cur.words, seen);
    if (old?.body === undefined) return false;
    seen.body = old.body;
    return true;
  }

  /** The generation of `blob`, started on its first entry. */
  private begin(blob: Buffer, table: string): Generation & { readonly blob: Buffer } {
    if (this.current?.blob === blob) return this.current;
    if (this.last?.table !== table) this.last = undefined;
    // A copy: checkentry may rewrite the blob, and the key is what the caller sent.
    const words = new Int32Array(blob.length >> 2);
    new Uint8Array(words.buffer).set(blob.subarray(0, words.length << 2));
    this.current = { table, blob, words, entries: [] };
    this.byPos.clear();
    this.cursor = 0;
    return this.current;
  }

  /** The last generation's entry with the key of `seen`, from the cursor on (see top). */
  private find(words: Int32Array, seen: Seen): Seen | undefined {
    const last = this.last;
    if (last === undefined) return undefined;
    const old = last.entries;
    for (let k = this.cursor; k < old.length && k <= this.cursor + LOOKAHEAD; k++) {
      if (sameKey(words, seen, last.words, old[k] as Seen)) {
        this.cursor = k + 1;
        return old[k];
      }
    }
    if (inserted(words, seen, last.words, old[this.cursor])) return undefined;
    last.index ??= indexOf(last);
    for (const k of last.index.get(hashKey(words, seen)) ?? []) {
      if (sameKey(words, seen, last.words, old[k] as Seen)) {
        this.cursor = k + 1;
        return old[k];
      }
    }
    return undefined;
  }

  /** The body remembered for the entry at `pos` of the blob being checked. */
  body(pos: number): EntryBody | undefined {
    return this.byPos.get(pos)?.body;
  }

  remember(pos: number, body: EntryBody): void {
    const seen = this.byPos.get(pos);
    if (seen !== undefined && seen.body === undefined) seen.body = body;
  }

  /** The blob was accepted: its entries are what the next one is compared with. */
  commit(): void {
    if (this.current !== undefined) {
      const { table, words, entries } = this.current;
      this.last = { table, words, entries };
    }
    this.end();
  }

  /** The blob was refused: keep comparing with the last accepted one. */
  abandon(): void {
    this.end();
  }

  private end(): void {
    this.current = undefined;
    this.byPos.clear();
  }

  /** Entries remembered with their bodies. */
  get size(): number {
    return this.last?.entries.filter((e) => e.body !== undefined).length ?? 0;
  }
}

const COMEFROM = OFF_COMEFROM >> 2;
/** target_offset and next_offset, the two u16 before comefrom. */
const OFF_OFFSETS = OFF_COMEFROM - 4;
const HEADER_END = SIZEOF_IPT_ENTRY >> 2;

/** Whether two entries have the same key: all words but comefrom, counters and verdict. */
function sameKey(aw: Int32Array, a: Seen, bw: Int32Array, b: Seen): boolean {
  if (a.end - a.start !== b.end - b.start || a.hookMask !== b.hookMask) return false;
  const skip = a.verdict < 0 ? -1 : a.verdict - a.start;
  if (skip !== (b.verdict < 0 ? -1 : b.verdict - b.start)) return false;
  const shift = b.start - a.start;
  for (let i = a.start + HEADER_END; i < a.end; i++) {
    if (aw[i] !== bw[i + shift] && i - a.start !== skip) return false;
  }
  for (let i = a.start; i < a.start + COMEFROM; i++) if (aw[i] !== bw[i + shift]) return false;
  return true;
}

/**
 * Whether `old` (the entry under the cursor) is one of the few entries after `seen` in its blob:
 * then `seen` starts a run of inserted entries, new to the last generation.
 */
function inserted(
  words: Int32Array,
  seen: Seen,
  oldWords: Int32Array,
  old: Seen | undefined,
): boolean {
  if (old === undefined) return false;
  let start = seen.end;
  for (let k = 0; k < LOOKAHEAD && start + HEADER_END <= words.length; k++) {
    const head = words[start + (OFF_OFFSETS >> 2)] as number;
    const to = (head & 0xffff) >> 2;
    const end = start + ((head >>> 16) >> 2);
    if (end <= start || end > words.length) return false;
    // The standard target: an empty name (a u16 target_size, then the name's first byte).
    const standard =
      to >= HEADER_END && start + to < end && ((words[start + to] as number) & 0xff0000) === 0;
    const next: Seen = {
      start,
      end,
      verdict: standard ? start + to + (SIZEOF_XT_ENTRY_TARGET >> 2) : -1,
      hookMask: words[start + COMEFROM] as number,
    };
    if (sameKey(words, next, oldWords, old)) return true;
    start = end;
  }
  return false;
}

function hashKey(w: Int32Array, s: Seen): number {
  let h = Math.imul(s.hookMask ^ 0x811c9dc5, 0x01000193);
  for (let i = s.start; i < s.start + COMEFROM; i++)
    h = Math.imul(h ^ (w[i] as number), 0x01000193);
  for (let i = s.start + HEADER_END; i < s.end; i++) {
    if (i !== s.verdict) h = Math.imul(h ^ (w[i] as number), 0x01000193);
  }
  return h >>> 0;
}

function indexOf(g: Generation): Map<number, number[]> {
  const index = new Map<number, number[]>();
  g.entries.forEach((s, k) => {
    if (s.body === undefined) return;
    const h = hashKey(g.words, s);
    const bucket = index.get(h);
    if (bucket) bucket.push(k);
    else index.set(h, [k]);
  });
  return index;
}
