// `make bench`: what the filter table costs as rulesets grow, ours beside the kernel's
// iptables-legacy and nftables, measured in one run on this machine (issue 11, Deliver 4):
//
//  - testrun.ts  per-packet ns of our INPUT program under BPF_PROG_TEST_RUN on ClassBench traces
//                (acl1 at 1..100k rules, fw1 and ipc1 at 1 and 10k), every verdict checked against
//                a linear reference; the verifier's processed instructions per ruleset
//  - veth.ts     delivered UDP packets/s over veth with N non-matching rules, per engine and
//                with no filter (the floor); ns per packet = 1e9/pps
//  - apply.ts    restore and one -A end to end through a daemon and the LD_PRELOAD shim, against
//                the kernel's iptables-legacy; the daemon's SET_REPLACE phases
//  - rss.ts      the daemon's VmRSS idle and holding each ruleset (sampled in apply.ts's rounds)
//  - plot.ts     build/bench.svg: ns per packet against rules, log-log
//
// Every measurement is repeated and reported as min and median. Nothing is asserted but the
// verdicts (a wrong one fails the run); summary.ts prints issue 11's targets beside the figures.
// Namespaces, pins and daemons are removed on exit, on error and on SIGINT/SIGTERM.
//
// Knobs (environment; defaults full / with BENCH_QUICK=1):
//   BENCH_QUICK=1      every default below shrinks to a run of about a minute
//   BENCH_ONLY         measurements to run: testrun,veth,apply (all)
//   BENCH_ROUNDS       rounds of every measurement (3 / 2)
//   BENCH_SIZES        acl1 rule counts for test-run (1,100,1000,10000,100000 / 1,100,1000,10000)
//   BENCH_SETS         other ClassBench sets for test-run at 1 and 10k rules (fw1,ipc1; "none")
//   BENCH_PACKETS      trace headers per ruleset (2000 / 300)
//   BENCH_REPEAT       runs of each header inside one test-run (500 / 100)
//   BENCH_VETH_SIZES   rule counts through veth (1,100,1000,10000)
//   BENCH_MS           ms of traffic per veth round (1000 / 200)
//   BENCH_APPLY        rules files to apply (acl1_10k,fw1_10k,ipc1_10k,acl1_100k / acl1_10k)
//   BENCH_APPENDS      -A commands per apply round, back to back (5 / 2)
//   BENCH_SPACED       -A commands per apply round, 2 s after the previous command (2 / 1)
//   BENCH_SVG          where the plot goes (build/bench.svg)
import { join, resolve } from 'node:path';
import { applyBench, type ApplyResult } from './apply.js';
import { cleanUpAll, knob, ONLY, QUICK, ROOT, scratchDir } from './common.js';
import { writePlot, type Series } from './plot.js';
import { printRss } from './rss.js';
import { printSummary } from './summary.js';
import { testRunBench, type TestRunResult } from './testrun.js';
import { vethBench, type Engine, type VethResult } from './veth.js';

const MEASUREMENTS = ['testrun', 'veth', 'apply'];
const SVG = resolve(ROOT, knob('BENCH_SVG', join('build', 'bench.svg')));

const VETH_SERIES: readonly [Engine, string, string][] = [
  ['iptables-legacy', 'iptables-legacy (veth)', '#d62728'],
  ['nftables', 'nftables (veth)', '#ff7f0e'],
  ['bpfilter-ts', 'ours (veth)', '#1f77b4'],
  ['floor', 'no filter (veth floor)', '#7f7f7f'],
];

function plot(testRun: readonly TestRunResult[], veth: readonly VethResult[]): void {
  const series: Series[] = VETH_SERIES.map(([engine, name, color]) => ({
    name,
    color,
    dashed: engine === 'floor',
    points: veth.filter((r) => r.engine === engine).map((r) => [r.rules, r.ns.median] as const),
  }));
  series.push({
    name: 'ours (test-run, acl1)',
    color: '#2ca02c',
    points: testRun.filter((r) => r.set === 'acl1').map((r) => [r.rules, r.ns.median] as const),
  });
  writePlot(SVG, 'Cost per packet against rules (median)', series);
  if (series.some((s) => s.points.length > 0)) console.log(`\nplot: ${SVG}`);
}

async function main(): Promise<void> {
  const unknown = ONLY.filter((m) => !MEASUREMENTS.includes(m));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown ${unknown.join(', ')}`);
  console.log(`bench${QUICK ? ' (quick)' : ''}: ${ONLY.join(', ')}`);
  const dir = scratchDir();
  const testRun = ONLY.includes('testrun') ? testRunBench() : [];
  const veth = ONLY.includes('veth') ? await vethBench(dir) : [];
  const apply: ApplyResult[] = ONLY.includes('apply') ? await applyBench(dir) : [];
  if (apply.length > 0) printRss(apply);
  printSummary(testRun, veth, apply);
  plot(testRun, veth);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}, cleaning up`);
    cleanUpAll();
    process.exit(130);
  });
}

try {
  await main();
} catch (e) {
  console.error(`\nbench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
} finally {
  cleanUpAll();
}
