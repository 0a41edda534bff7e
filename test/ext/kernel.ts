// Golden bytes from the running kernel: rules are added with the stock iptables-legacy in a
// throwaway netns and read back with IPT_SO_GET_INFO/GET_ENTRIES by the small C dumper that
// test/helpers/cdc-dump-table.c holds; blobs go back through IPT_SO_SET_REPLACE with
// test/helpers/cdc-set-replace.c (both compiled into a temp dir at test time).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEntries } from '../../src/translate/parser.js';
import type { IptEntry } from '../../src/translate/wire.js';

const HOOKS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

export class KernelTable {
  private readonly dir = mkdtempSync(join(tmpdir(), 'ext-golden-'));
  private readonly dump = join(this.dir, 'dump');
  private readonly setReplace = join(this.dir, 'set-replace');
  // Unique per instance: test files may share a process (threads pool) and run side by side.
  readonly ns = `ext-gold-${process.pid}-${randomBytes(3).toString('hex')}`;

  constructor() {
    execFileSync('gcc', [
      '-Wall',
      '-O1',
      '-o',
      this.dump,
      join(import.meta.dirname, '..', 'helpers', 'cdc-dump-table.c'),
    ]);
    execFileSync('gcc', [
      '-Wall',
      '-O1',
      '-o',
      this.setReplace,
      join(import.meta.dirname, '..', 'helpers', 'cdc-set-replace.c'),
    ]);
    spawnSync('ip', ['netns', 'del', this.ns]);
    execFileSync('ip', ['netns', 'add', this.ns]);
  }

  close(): void {
    spawnSync('ip', ['netns', 'del', this.ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs iptables-legacy with `args` in the netns; returns its exit status and stderr. */
  iptables(args: readonly string[]): { status: number; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.ns, 'iptables-legacy', ...args], {
      encoding: 'utf8',
    });
    return { status: r.status ?? -1, stderr: r.stderr };
  }

  /** Flushes `table`, appends one rule to `chain` and returns the kernel's entry for it. */
  rule(args: readonly string[], chain = 'INPUT', table = 'filter'): IptEntry {
    this.must(['-t', table, '-F']);
    this.must(['-t', table, '-A', chain, ...args]);
    const at = this.ruleOffset(chain, table);
    const found = this.entries(table).find((e) => e.offset === at);
    if (found === undefined) throw new Error(`no entry at ${at}`);
    return found.entry;
  }

  /** Byte offset of built-in `chain`'s first entry (its hook_entry in GET_INFO). */
  ruleOffset(chain: string, table = 'filter'): number {
    const hook = HOOKS.indexOf(chain);
    if (hook === -1) throw new Error(`${chain} is not a built-in chain`);
    return this.snapshot(table).info.readUInt32LE(36 + 4 * hook);
  }

  /** iptables-legacy -S `chain` of the filter table: its -A lines. */
  list(chain: string): string[] {
    const out = execFileSync('ip', ['netns', 'exec', this.ns, 'iptables-legacy', '-S', chain], {
      encoding: 'utf8',
    });
    return out.split('\n').filter((l) => l.startsWith('-A '));
  }

  entries(table: string): { offset: number; entry: IptEntry }[] {
    return parseEntries(this.snapshot(table).blob);
  }

  /** The kernel's ipt_getinfo and entry blob for `table`. */
  snapshot(table: string): { info: Buffer; blob: Buffer } {
    const out = execFileSync('ip', ['netns', 'exec', this.ns, this.dump, table], {
      encoding: 'utf8',
    });
    const [info, blob] = out.trim().split('\n');
    return { info: Buffer.from(info ?? '', 'hex'), blob: Buffer.from(blob ?? '', 'hex') };
  }

  /**
   * SET_REPLACE of `blob` with the hooks, underflows and entry count of `info` (so only bytes
   * inside entries may differ); returns the kernel's errno, 0 when it accepted the table.
   */
  replace(info: Buffer, blob: Buffer): number {
    const r = Buffer.alloc(96);
    info.copy(r, 0, 0, 32); // name
    r.writeUInt32LE(info.readUInt32LE(32), 32); // valid_hooks
    r.writeUInt32LE(info.readUInt32LE(76), 36); // num_entries
    r.writeUInt32LE(blob.length, 40); // size
    info.copy(r, 44, 36, 76); // hook_entry[5], underflow[5]
    const out = execFileSync('ip', ['netns', 'exec', this.ns, this.setReplace, 'auto'], {
      input: Buffer.concat([r, blob]),
      encoding: 'utf8',
    });
    return Number(out.trim());
  }

  private must(args: readonly string[]): void {
    const r = this.iptables(args);
    if (r.status !== 0) throw new Error(`iptables-legacy ${args.join(' ')}: ${r.stderr}`);
  }
}

/** The C string in a fixed name field. */
export function nameOf(field: Buffer): string {
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul === -1 ? field.length : nul);
}
