// Test-run loading for the per-extension tests here: a table as the kernel built it, loaded
// into an engine instance of its own, run on crafted packets, counters read back.
import { loadTable, readCounters } from '../../src/bpf/backend.js';
import type { EngineInstance } from '../../src/bpf/engine/instance.js';
import type { Table } from '../../src/translate/ir.js';
import type { KernelTables } from '../helpers/kernel-table.js';
import { runPacket } from '../helpers/run.js';

export const DROP = 0;
export const ACCEPT = 1;
const CHAINS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

export interface Loaded {
  run(chain: string, packet: Buffer): number;
  packets(entry: number): bigint;
  /** The table as the kernel stored it. */
  readonly table: Table;
  readonly instance: EngineInstance;
  /** Verifier-processed instructions (one program for every hook). */
  readonly processed: number;
  close(): void;
}

/** `rules` in a filter table whose chains all ACCEPT. */
export function load(kt: KernelTables, rules: string): Loaded {
  const save = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    rules.trim(),
    'COMMIT',
    '',
  ].join('\n');
  const table = kt.table(save);
  const r = loadTable(table);
  return {
    table,
    instance: r.instance,
    run: (chain, packet) => {
      const hook = CHAINS.indexOf(chain);
      return runPacket(r.progs[hook] as number, packet, hook);
    },
    packets: (i) => readCounters(r.counters, 1, i)[0]?.pcnt ?? -1n,
    processed: r.instance.processed,
    close: () => r.instance.close(),
  };
}
