// Issue 11's "Must show" figures, read off this run's results beside their targets. Printed, not
// asserted: timings belong to the benchmark, and a shared machine makes them noisy.
import type { ApplyResult } from './apply.js';
import { num, printTable, spread } from './common.js';
import type { TestRunResult } from './testrun.js';
import type { VethResult } from './veth.js';

interface Target {
  readonly what: string;
  readonly value: number;
  readonly unit: string;
  readonly limit: number;
}

export function printSummary(
  testRun: readonly TestRunResult[],
  veth: readonly VethResult[],
  apply: readonly ApplyResult[],
): void {
  const targets: Target[] = [];
  for (const r of apply) {
    if (r.rules > 10_000) continue;
    const med = (v: number[]): number => spread(v).median;
    targets.push(
      { what: `${r.file} restore end to end`, value: med(r.restore.ours), unit: 'ms', limit: 400 },
      { what: `${r.file} one -A end to end`, value: med(r.append.ours), unit: 'ms', limit: 100 },
      { what: `${r.file} one -A, 2 s apart`, value: med(r.spaced.ours), unit: 'ms', limit: 100 },
    );
  }
  const trAt = (set: string, asked: number): TestRunResult | undefined =>
    testRun.find((r) => r.set === set && r.asked === asked);
  for (const r of testRun) {
    const one = trAt(r.set, 1);
    if (!one || r.asked < 10_000) continue;
    targets.push({
      what: `test-run ${r.set} ${r.rules} rules / 1 rule`,
      value: r.ns.median / one.ns.median,
      unit: 'x',
      limit: r.asked > 10_000 ? 3 : 2,
    });
  }
  const [k1, k100] = [trAt('acl1', 1000), trAt('acl1', 100_000)];
  if (k1 && k100) {
    const insns = (r: TestRunResult): number => r.processed;
    targets.push({
      what: `verifier insns acl1 ${k100.rules} / ${k1.rules} rules`,
      value: insns(k100) / insns(k1),
      unit: 'x',
      limit: 2,
    });
  }
  const vethAt = (e: VethResult['engine']): VethResult | undefined =>
    veth.find((r) => r.rules === 10_000 && r.engine === e);
  const [ours, floor] = [vethAt('bpfilter-ts'), vethAt('floor')];
  if (ours && floor) {
    targets.push({
      what: 'veth 10000 rules ns / no-rule floor',
      value: ours.ns.median / floor.ns.median,
      unit: 'x',
      limit: 1.1,
    });
  }
  for (const r of apply) {
    if (r.rules <= 10_000) continue;
    targets.push({
      what: `helper RSS holding ${r.file} (settled)`,
      value: Math.max(...r.memory.settled),
      unit: 'MB',
      limit: 200,
    });
    targets.push({
      what: `helper RSS right after its last -A`,
      value: Math.max(...r.memory.held),
      unit: 'MB',
      limit: 200,
    });
  }
  if (targets.length === 0) return;
  printTable(
    "Issue 11's targets, from this run (medians; RSS: the largest round)",
    ['figure', 'measured', 'target', ''],
    targets.map((t) => [
      t.what,
      `${t.unit === 'x' ? t.value.toFixed(2) : num(t.value)} ${t.unit}`,
      `≤ ${t.limit} ${t.unit}`,
      t.value <= t.limit ? 'met' : 'NOT MET',
    ]),
  );
}
