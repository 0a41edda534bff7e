// Tables as the kernel builds them: an iptables-save text goes through the stock
// iptables-legacy-restore into a throwaway netns, and the kernel's own GET_ENTRIES blob comes
// back through checkReplace as IR. Tests use it to get real tables without writing blobs by hand.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Table } from '../../src/translate/ir.js';
import { checkReplace } from '../../src/translate/validate.js';

export class KernelTables {
  private readonly dir = mkdtempSync(join(tmpdir(), 'kt-'));
  private readonly dump = join(this.dir, 'dump');
  readonly ns: string;

  constructor(tag: string) {
    this.ns = `${tag}-kt-${process.pid}`;
    execFileSync('gcc', ['-Wall', '-o', this.dump, join(import.meta.dirname, 'cdc-dump-table.c')]);
    execFileSync('ip', ['netns', 'add', this.ns]);
  }

  /** The IR of `saveText` as the kernel stores it. */
  table(saveText: string): Table {
    execFileSync('ip', ['netns', 'exec', this.ns, 'iptables-legacy-restore'], { input: saveText });
    const [infoHex = '', entriesHex = ''] = execFileSync(
      'ip',
      ['netns', 'exec', this.ns, this.dump, 'filter'],
      // Big tables dump megabytes of hex.
      { encoding: 'utf8', maxBuffer: 256 << 20 },
    )
      .trim()
      .split('\n');
    const info = Buffer.from(infoHex, 'hex');
    const hdr = Buffer.alloc(96);
    info.copy(hdr, 0, 0, 36);
    hdr.writeUInt32LE(info.readUInt32LE(76), 36);
    hdr.writeUInt32LE(info.readUInt32LE(80), 40);
    info.copy(hdr, 44, 36, 76);
    hdr.writeUInt32LE(1, 84);
    return checkReplace(Buffer.concat([hdr, Buffer.from(entriesHex, 'hex')]));
  }

  close(): void {
    try {
      execFileSync('ip', ['netns', 'del', this.ns]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
