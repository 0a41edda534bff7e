// A table the kernel built from iptables-save text, loaded into an engine instance of its own
// and run on crafted packets with BPF_PROG_TEST_RUN: verdicts, per-entry counters, and what the
// verifier processed.
import { expect } from 'vitest';
import { loadTable, readCounters } from '../../src/bpf/backend.js';
import { planTable, type Plan } from '../../src/translate/plan.js';
import type { KernelTables } from './kernel-table.js';
import { runPacket } from './run.js';

export const DROP = 0;
export const ACCEPT = 1;

export interface Loaded {
  /** Runs the packet at the hook of built-in chain `chain` (the program reads the hook). */
  run(chain: string, packet: Buffer): number;
  /** Packets counted by the entry of `source` (plan.ts names: "INPUT rule 2"). */
  packets(source: string): bigint;
  counter(index: number): { packets: bigint; bytes: bigint };
  /** Verifier processed instructions (one program for every hook). */
  readonly processed: number;
  plan: Plan;
  close(): void;
}

const CHAINS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

export function load(kt: KernelTables, save: string): Loaded {
  const table = kt.table(save);
  const r = loadTable(table);
  const plan = planTable(table);
  const counter = (i: number): { packets: bigint; bytes: bigint } => {
    const [c = { pcnt: -1n, bcnt: -1n }] = readCounters(r.counters, 1, i);
    return { packets: c.pcnt, bytes: c.bcnt };
  };
  return {
    plan,
    run: (chain, packet) => {
      const at = CHAINS.indexOf(chain);
      return runPacket(r.progs[at] as number, packet, at);
    },
    counter,
    packets: (source) => {
      const e = plan.entries.find((x) => x.source === source);
      if (e === undefined) throw new Error(`no entry "${source}"`);
      return counter(e.index).packets;
    },
    processed: r.instance.processed,
    close: () => r.instance.close(),
  };
}

/** A filter table: `rules` (iptables-save lines), INPUT's policy, user chains. */
export const filter = (rules: string, policy = 'ACCEPT', chains: readonly string[] = []): string =>
  [
    '*filter',
    `:INPUT ${policy} [0:0]`,
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    rules.trim(),
    'COMMIT',
    '',
  ].join('\n');

/**
 * Runs each packet through INPUT (every one accepted) and expects `INPUT rule k` (1..rules) to
 * have counted exactly the packets whose list names k.
 */
export function expectHits(
  t: Loaded,
  rules: number,
  packets: readonly (readonly [Buffer, readonly number[]])[],
): void {
  const want = Array.from({ length: rules }, () => 0n);
  for (const [p, hits] of packets) {
    expect(t.run('INPUT', p)).toBe(ACCEPT);
    for (const r of hits) want[r - 1] = (want[r - 1] ?? 0n) + 1n;
  }
  const got = want.map((_, i) => t.packets(`INPUT rule ${i + 1}`));
  expect(got).toEqual(want);
}
