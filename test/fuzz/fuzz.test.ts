// The fuzz runner's smoke (make fuzz runs a million): 2,000 cases of mutated ipt_replace,
// GET_ENTRIES, GET_INFO, xt_counters_info and mbox requests, the kernel against the daemon.
// Sends more of the blobs our validator accepts than make fuzz does, so BPF applies, the
// read-back after them and the resets are part of it. FUZZ_SEED=<n> replays a seed.
import { afterAll, expect, it } from 'vitest';
import { requireBuild } from '../ipc/helpers.js';
import { runFuzz, summaryLine } from './runner.js';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const lines: string[] = [];

afterAll(() => {
  if (lines.length) console.log(lines.slice(0, 40).join('\n'));
});

it('2000 cases: no disagreement with the kernel, no helper restart', async () => {
  requireBuild();
  const s = await runFuzz({ seed: SEED, cases: 2000, keep: 0.05, log: (l) => lines.push(l) });
  console.log(summaryLine(s));
  expect(s.disagreements.map((d) => d.report)).toEqual([]);
  expect(s.restarts).toBe(0);
  expect(s.cases).toBe(2000);
  // Both sides' accept paths ran, and refusals of several kinds.
  for (const family of ['replace', 'entries', 'counters', 'info'])
    expect(s.accepted[family] ?? 0).toBeGreaterThan(0);
  expect(s.kernel.size).toBeGreaterThanOrEqual(5);
}, 120_000);
