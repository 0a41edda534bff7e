// Golden bytes from the running kernel: rules are added with the stock iptables-legacy in a
// throwaway netns and read back with IPT_SO_GET_INFO/GET_ENTRIES by the small C dumper that
// test/helpers/cdc-dump-table.c holds (compiled into a temp dir at test time).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEntries } from '../../src/translate/parser.js';
import type { IptEntry } from '../../src/translate/wire.js';

export class KernelTable {
  private readonly dir = mkdtempSync(join(tmpdir(), 'ext-golden-'));
  private readonly dump = join(this.dir, 'dump');
  readonly ns = `ext-gold-${process.pid}`;

  constructor() {
    execFileSync('gcc', [
      '-Wall',
      '-O1',
      '-o',
      this.dump,
      join(import.meta.dirname, '..', 'helpers', 'cdc-dump-table.c'),
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
    const first = this.entries(table)[0];
    if (first === undefined) throw new Error('empty table');
    return first.entry;
  }

  entries(table: string): { offset: number; entry: IptEntry }[] {
    const out = execFileSync('ip', ['netns', 'exec', this.ns, this.dump, table], {
      encoding: 'utf8',
    });
    const blob = out.trim().split('\n')[1] ?? '';
    return parseEntries(Buffer.from(blob, 'hex'));
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
