// What a restarted helper needs to answer as before: per namespace and table, the last accepted
// ipt_replace exactly as the caller sent it (re-validated on load, so the IR is rebuilt by the
// same code path) and the counters SET_ADD_COUNTERS added since. Files are replaced atomically.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { XtCounters } from '../translate/ir.js';

export const DEFAULT_STATE_DIR = '/run/bpfilter/state';

export interface SavedTable {
  readonly replace: Buffer;
  readonly base: readonly XtCounters[];
}

function writeAtomic(path: string, data: Buffer): void {
  writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export class StateFiles {
  constructor(private readonly dir: string) {}

  private path(netns: string, table: string, what: 'replace' | 'counters'): string {
    const d = join(this.dir, netns);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return join(d, `${table}.${what}`);
  }

  saveReplace(netns: string, table: string, replace: Buffer): void {
    writeAtomic(this.path(netns, table, 'replace'), replace);
  }

  saveCounters(netns: string, table: string, base: readonly XtCounters[]): void {
    const buf = Buffer.alloc(16 * base.length);
    base.forEach((c, i) => {
      buf.writeBigUInt64LE(c.pcnt, 16 * i);
      buf.writeBigUInt64LE(c.bcnt, 16 * i + 8);
    });
    writeAtomic(this.path(netns, table, 'counters'), buf);
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

  load(netns: string, table: string): SavedTable | undefined {
    let replace: Buffer;
    try {
      replace = readFileSync(this.path(netns, table, 'replace'));
    } catch {
      return undefined;
    }
    let raw = Buffer.alloc(0);
    try {
      raw = readFileSync(this.path(netns, table, 'counters'));
    } catch {
      // no SET_ADD_COUNTERS since the replace
    }
    const base = Array.from({ length: raw.length / 16 }, (_, i) => ({
      pcnt: raw.readBigUInt64LE(16 * i),
      bcnt: raw.readBigUInt64LE(16 * i + 8),
    }));
    return { replace, base };
  }
}
