// iptables rewrites the whole table for every command: `iptables -A` on a 10,000-rule table
// sends 10,001 entries of which 10,000 are byte for byte what the last SET_REPLACE sent. The
// kernel checks them all again (xt_check_match per entry) in C; we would spend most of a
// command's time in find_check_entry and decoding. The extensions' checks are functions of the
// entry's bytes, the table and the hooks it is reachable from, and decoding is a function of the
// bytes alone, so an entry seen with the same three in the last accepted table needs neither:
// its decoded rule body is reused (which also keeps object identity for later memos, e.g. the
// classifier's regions).
//
// The key leaves out what the kernel overwrites or decides elsewhere: comefrom and the counters
// (zeroed on its copy) and a standard target's verdict (checked by verdict_ok and
// mark_source_chains for every entry; the standard target has no checkentry).
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

/** An entry seen in a checked blob: its key bytes (see top) and what they decode to. */
interface Seen {
  readonly hash: number;
  /** The key's 32-bit words (every part of an entry's key starts and ends 4-aligned). */
  readonly words: Int32Array;
  readonly hookMask: number;
  body?: EntryBody;
  /** The last generation that kept it (so each is kept once per generation). */
  kept: number;
}

/** Checked and decoded entries of the last accepted table of one (netns, table). */
export class EntryMemo {
  private last = new Map<number, Seen[]>();
  private next = new Map<number, Seen[]>();
  private generation = 0;
  private table = '';
  /** What each entry of the blob being checked was matched with, by offset. */
  private readonly current = new Map<number, Seen>();
  /** The blob being checked as 32-bit words. */
  private view: { readonly blob: Buffer; readonly words: Int32Array } | undefined;

  /**
   * Whether the entry at `pos` (with `hookMask` from mark_source_chains) was checked before.
   * Called before find_check_entry: the key is taken from the bytes the caller sent, not the
   * ones checkentry may rewrite.
   */
  checked(blob: Buffer, pos: number, hookMask: number, table: string): boolean {
    if (table !== this.table) {
      this.last = new Map();
      this.table = table;
    }
    const parts = keyParts(blob, pos);
    // Entries are 8-aligned and so are their parts unless a match's size is odd (which the
    // kernel's check refuses): such an entry is simply checked again.
    if (parts.some((p) => p % 4 !== 0)) return false;
    const words = this.wordsOf(blob);
    const hash = hashParts(words, parts, hookMask);
    const seen =
      find(this.next.get(hash), words, parts, hookMask) ??
      find(this.last.get(hash), words, parts, hookMask);
    if (seen?.body !== undefined) {
      this.current.set(pos, seen);
      this.keep(seen);
      return true;
    }
    this.current.set(pos, { hash, words: copyParts(words, parts), hookMask, kept: -1 });
    return false;
  }

  private wordsOf(blob: Buffer): Int32Array {
    if (this.view?.blob !== blob) {
      const aligned = blob.byteOffset % 4 === 0 ? blob : Buffer.from(blob);
      const words = new Int32Array(aligned.buffer, aligned.byteOffset, aligned.length >> 2);
      this.view = { blob, words };
    }
    return this.view.words;
  }

  /** The body remembered for the entry at `pos` of the blob being checked. */
  body(pos: number): EntryBody | undefined {
    return this.current.get(pos)?.body;
  }

  remember(pos: number, body: EntryBody): void {
    const seen = this.current.get(pos);
    if (seen === undefined || seen.body !== undefined) return;
    seen.body = body;
    this.keep(seen);
  }

  private keep(seen: Seen): void {
    if (seen.kept === this.generation) return;
    seen.kept = this.generation;
    const bucket = this.next.get(seen.hash);
    if (bucket) bucket.push(seen);
    else this.next.set(seen.hash, [seen]);
  }

  /** The blob was accepted: its entries are what the next one is compared with. */
  commit(): void {
    this.last = this.next;
    this.end();
  }

  /** The blob was refused: keep comparing with the last accepted one. */
  abandon(): void {
    this.end();
  }

  private end(): void {
    this.next = new Map();
    this.current.clear();
    this.view = undefined;
    this.generation++;
  }

  /** Distinct entries remembered. */
  get size(): number {
    let n = 0;
    for (const b of this.last.values()) n += b.length;
    return n;
  }
}

/** The byte ranges [start, end) of an entry's key, as absolute offsets, flattened. */
function keyParts(blob: Buffer, pos: number): number[] {
  const to = targetOffsetAt(blob, pos);
  const end = pos + nextOffsetAt(blob, pos);
  if (!cNameIs(blob, pos + to + 2, ''))
    return [pos, pos + OFF_COMEFROM, pos + SIZEOF_IPT_ENTRY, end];
  const verdict = pos + to + SIZEOF_XT_ENTRY_TARGET;
  return [pos, pos + OFF_COMEFROM, pos + SIZEOF_IPT_ENTRY, verdict, verdict + 4, end];
}

function hashParts(words: Int32Array, parts: readonly number[], hookMask: number): number {
  let h = Math.imul(hookMask ^ 0x811c9dc5, 0x01000193);
  for (let k = 0; k < parts.length; k += 2) {
    const end = (parts[k + 1] as number) >> 2;
    for (let i = (parts[k] as number) >> 2; i < end; i++)
      h = Math.imul(h ^ (words[i] as number), 0x01000193);
  }
  return h >>> 0;
}

function copyParts(words: Int32Array, parts: readonly number[]): Int32Array {
  let n = 0;
  for (let k = 0; k < parts.length; k += 2)
    n += ((parts[k + 1] as number) - (parts[k] as number)) >> 2;
  const out = new Int32Array(n);
  let at = 0;
  for (let k = 0; k < parts.length; k += 2) {
    const part = words.subarray((parts[k] as number) >> 2, (parts[k + 1] as number) >> 2);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function find(
  bucket: readonly Seen[] | undefined,
  words: Int32Array,
  parts: readonly number[],
  hookMask: number,
): Seen | undefined {
  if (bucket === undefined) return undefined;
  for (const s of bucket) {
    if (s.hookMask !== hookMask) continue;
    const key = s.words;
    let at = 0;
    let same = true;
    for (let k = 0; k < parts.length && same; k += 2) {
      const end = (parts[k + 1] as number) >> 2;
      for (let i = (parts[k] as number) >> 2; i < end; i++, at++) {
        if (at >= key.length || key[at] !== words[i]) {
          same = false;
          break;
        }
      }
    }
    if (same && at === key.length) return s;
  }
  return undefined;
}
