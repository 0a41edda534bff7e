// What a restarted helper needs to answer as before: per namespace and table, the last accepted
// ipt_replace exactly as the caller sent it (re-validated on load, so the IR is rebuilt by the
// same code path) and the counters SET_ADD_COUNTERS added since. Files are replaced atomically.
//
// A replace is written ahead as `<table>.next` before the backend switches, and renamed over
// `<table>.replace` after: a helper killed in between finds both, and the tag of each (a hash
// of its bytes, which the backend also writes next to the table it runs) tells which one the
// kernel took. The counters file carries the tag of the replace it counts for, so counters of
// the previous table never attach to the next one.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { XtCounters } from '../translate/ir.js';
import { parseCounterArray } from '../translate/parser.js';
import { writeCounterArray } from '../translate/serializer.js';
import { writeFileAtomic } from '../sys/libc.js';

export const DEFAULT_STATE_DIR = '/run/bpfilter/state';

export interface SavedTable {
  readonly replace: Buffer;
  readonly tag: bigint;
  readonly base: readonly XtCounters[];
}

/** The tag of an ipt_replace: 64 bits of its SHA-256, never 0 (what an untagged half reads). */
export function tagOf(replace: Buffer): bigint {
  return createHash('sha256').update(replace).digest().readBigUInt64LE(0) | 1n;
}

// Writes go through libuv's thread pool, each file whole in one job (writeFileAtomic): a
// 100k-rule replace is 10 MB, and the event loop keeps answering other namespaces meanwhile.
// Callers await each one in their table's turn.
type What = 'replace' | 'next' | 'counters';

export class StateFiles {
  constructor(private readonly dir: string) {}

  private path(netns: string, table: string, what: What): string {
    const d = join(this.dir, netns);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return join(d, `${table}.${what}`);
  }

  /** Before the backend switches to `replace`: what it is switching to. */
  saveNext(netns: string, table: string, replace: Buffer): Promise<void> {
    return writeFileAtomic(this.path(netns, table, 'next'), replace);
  }

  /** The switch happened: the written-ahead replace is the table's. */
  commitNext(netns: string, table: string): Promise<void> {
    return rename(this.path(netns, table, 'next'), this.path(netns, table, 'replace'));
  }

  /** The switch did not happen: the written-ahead replace is dropped. */
  dropNext(netns: string, table: string): Promise<void> {
    return rm(this.path(netns, table, 'next'), { force: true });
  }

  saveCounters(
    netns: string,
    table: string,
    tag: bigint,
    base: readonly XtCounters[],
  ): Promise<void> {
    const buf = Buffer.alloc(8 + 16 * base.length);
    buf.writeBigUInt64LE(tag, 0);
    writeCounterArray(buf, 8, base);
    return writeFileAtomic(this.path(netns, table, 'counters'), buf);
  }

  /** The namespaces (cookies) with saved tables. */
  namespaces(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => /^\d+$/.test(n));
    } catch {
      return [];
    }
  }

  remove(netns: string): void {
    rmSync(join(this.dir, netns), { recursive: true, force: true });
  }

  /** The last completed replace and its counters. */
  load(netns: string, table: string): SavedTable | undefined {
    const replace = this.read(netns, table, 'replace');
    if (replace === undefined) return undefined;
    const tag = tagOf(replace);
    const raw = this.read(netns, table, 'counters');
    // Written for another replace (or none since this one): no counters added to this one.
    const mine = raw !== undefined && raw.length % 16 === 8 && raw.readBigUInt64LE(0) === tag;
    const base = mine ? parseCounterArray(raw, 8, (raw.length - 8) / 16) : [];
    return { replace, tag, base };
  }

  /** A replace written ahead whose switch no helper saw through. */
  loadNext(netns: string, table: string): Buffer | undefined {
    return this.read(netns, table, 'next');
  }

  private read(netns: string, table: string, what: What): Buffer | undefined {
    try {
      return readFileSync(this.path(netns, table, what));
    } catch {
      return undefined;
    }
  }
}
