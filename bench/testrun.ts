// Per-packet cost of our INPUT program alone, under BPF_PROG_TEST_RUN, on ClassBench traces.
//
// Each ruleset (classbench.ts) is loaded with loadTable; a sample of its trace's headers becomes
// IPv4 packets (TCP, UDP, ICMP echo, or a bare header for other protocols) with the header's
// 5-tuple, each run `repeat` times in the kernel, whose mean is that packet's cost; a ruleset's
// cost is the mean over the sample. Every verdict is checked against a linear reference: the
// first entry of INPUT whose region (classify/region.ts) contains the packet's key. ClassBench
// rules are intervals, so their regions are exact; a packet whose deciding region is not exact
// there cannot be decided by the reference and is skipped (and counted). A wrong verdict throws.
import { loadTable } from '../src/bpf/engine/index.js';
import { testRunTimed } from '../src/bpf/syscall.js';
import { entryRegion } from '../src/translate/classify/region.js';
import { contains, isExact, L4_WHOLE, type Region } from '../src/translate/classify/key.js';
import type { Plan } from '../src/translate/plan.js';
import { parseSave } from '../src/translate/save.js';
import { icmp, ipv4, tcp, udp } from '../test/helpers/packets.js';
import { fileOf, ruleset, sample, SETS, trace, type Header, type SetName } from './classbench.js';
import {
  listKnob,
  num,
  numberKnob,
  printTable,
  ratio,
  ROUNDS,
  spread,
  type Spread,
} from './common.js';

const ACL1_SIZES = listKnob('BENCH_SIZES', '1,100,1000,10000,100000', '1,100,1000,10000').map(
  Number,
);
const OTHER_SETS = listKnob('BENCH_SETS', 'fw1,ipc1').map((s) => {
  if (!(SETS as readonly string[]).includes(s)) throw new Error(`BENCH_SETS: no set ${s}`);
  return s as SetName;
});
/** Trace headers run per ruleset and round. */
const PACKETS = numberKnob('BENCH_PACKETS', 2000, 300);
/** Runs of each packet inside one BPF_PROG_TEST_RUN. */
const REPEAT = Math.max(1, numberKnob('BENCH_REPEAT', 500, 100));

const NF_LOCAL_IN = 1;
const NF_DROP = 0;
const NF_ACCEPT = 1;

export interface TestRunResult {
  readonly set: SetName;
  /** The size asked for; `rules` is what the file had. */
  readonly asked: number;
  readonly rules: number;
  readonly checked: number;
  readonly inexact: number;
  /** Checked packets whose deciding rule is the filter ClassBench made them from. */
  readonly agree: number;
  readonly ns: Spread;
  /** Verifier's processed instructions (one program for every hook). */
  readonly processed: number;
  readonly parseMs: number;
  readonly loadMs: number;
}

interface Probe {
  readonly header: Header;
  /** Ethernet frame, as test-run wants for hooks other than LOCAL_OUT. */
  readonly frame: Buffer;
  readonly verdict: number;
  /** Blob entry index of the deciding entry. */
  readonly entry: number;
  /** Its position in INPUT (ClassBench's filter index for a rule). */
  readonly rule: number;
}

const dotted = (v: number): string => [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');

/** The header as a packet and as the classifier's key of that packet (key.ts's word order). */
function packet(h: Header): { frame: Buffer; key: number[] } {
  const o = { src: dotted(h.src), dst: dotted(h.dst) };
  let ip: Buffer;
  let ports = [0, 0];
  if (h.proto === 6) {
    ip = ipv4(6, tcp(h.sport, h.dport), o);
    ports = [h.sport, h.dport];
  } else if (h.proto === 17) {
    ip = ipv4(17, udp(h.sport, h.dport), o);
    ports = [h.sport, h.dport];
  } else if (h.proto === 1) {
    // The key holds ICMP type and code where ports would be.
    ip = ipv4(1, icmp(8, 0), o);
    ports = [8, 0];
  } else {
    ip = ipv4(h.proto, Buffer.alloc(8), o);
  }
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  return {
    frame: Buffer.concat([eth, ip]),
    key: [h.src >>> 0, h.dst >>> 0, h.proto, ...ports, L4_WHOLE],
  };
}

/**
 * ipt_do_table on a chain of verdict rules: the first entry from INPUT's start whose region
 * holds the key, when that is certain (an exact box holds it); undefined when it is not.
 */
function decide(
  plan: Plan,
  regions: readonly Region[],
  start: number,
  key: readonly number[],
): { verdict: number; entry: number } | undefined {
  for (let i = start; i < plan.entries.length; i++) {
    const r = regions[i] as Region;
    if (!contains(r, key)) continue;
    if (!r.some((b) => isExact(b) && contains([b], key))) return undefined;
    const e = plan.entries[i];
    const a = e?.action;
    if (a?.kind !== 'verdict' || a.verdict === 'QUEUE') {
      throw new Error(`reference: ${e?.source ?? i} is not an ACCEPT or DROP rule`);
    }
    return { verdict: a.verdict === 'ACCEPT' ? NF_ACCEPT : NF_DROP, entry: i };
  }
  throw new Error('reference: INPUT ends without a policy');
}

function probes(plan: Plan, headers: readonly Header[]): { probes: Probe[]; inexact: number } {
  const input = plan.hooks.find((h) => h.hook === NF_LOCAL_IN);
  if (!input) throw new Error('reference: no INPUT chain');
  const regions = plan.entries.map(entryRegion);
  const out: Probe[] = [];
  let inexact = 0;
  for (const header of headers) {
    const { frame, key } = packet(header);
    const d = decide(plan, regions, input.entry, key);
    if (d === undefined) inexact++;
    else out.push({ header, frame, ...d, rule: d.entry - input.entry });
  }
  return { probes: out, inexact };
}

/** One pass over the probes: mean ns per packet; every verdict checked. */
function pass(prog: number, ps: readonly Probe[], label: string): number {
  const ctx = Buffer.alloc(48);
  ctx.writeUInt8(NF_LOCAL_IN, 0);
  ctx.writeUInt8(2, 1); // NFPROTO_IPV4
  let total = 0;
  const wrong: string[] = [];
  for (const p of ps) {
    const { retval, ns } = testRunTimed(prog, p.frame, REPEAT, ctx);
    total += ns;
    if (retval === p.verdict) continue;
    const h = p.header;
    wrong.push(
      `${dotted(h.src)}:${h.sport} > ${dotted(h.dst)}:${h.dport} proto ${h.proto}: got ${retval}, entry ${p.entry} says ${p.verdict}`,
    );
  }
  if (wrong.length > 0) {
    throw new Error(
      `test-run ${label}: ${wrong.length} of ${ps.length} verdicts wrong, e.g.\n  ${wrong.slice(0, 5).join('\n  ')}`,
    );
  }
  return total / Math.max(1, ps.length);
}

/** A ruleset loaded with its probes, ready for passes. */
interface Loaded {
  readonly set: SetName;
  readonly asked: number;
  readonly rules: number;
  readonly label: string;
  readonly loaded: ReturnType<typeof loadTable>;
  readonly prog: number;
  readonly probes: readonly Probe[];
  readonly inexact: number;
  readonly parseMs: number;
  readonly loadMs: number;
}

function load(set: SetName, asked: number): Loaded {
  const rs = ruleset(set, asked);
  const label = `${set} ${rs.rules} rules`;
  let t = performance.now();
  const table = parseSave(rs.text).tables[0]?.table;
  if (!table) throw new Error(`${label}: no filter table`);
  const parseMs = performance.now() - t;
  t = performance.now();
  const loaded = loadTable(table);
  const loadMs = performance.now() - t;
  const plan = loaded.compiled.classified.plan;
  const { probes: ps, inexact } = probes(plan, sample(trace(fileOf(set, asked)), PACKETS));
  const prog = loaded.progs[NF_LOCAL_IN];
  if (prog === undefined) {
    loaded.instance.close();
    throw new Error(`${label}: no INPUT program`);
  }
  return { set, asked, rules: rs.rules, label, loaded, prog, probes: ps, inexact, parseMs, loadMs };
}

/**
 * One set's rulesets, loaded together and measured in interleaved rounds: each round is one
 * pass of every ruleset in turn, so a noisy moment of this VM lands on all of them, not on the
 * 1-rule baseline alone, and the ratios to it stay meaningful.
 */
function measureSet(set: SetName, sizes: readonly number[]): TestRunResult[] {
  const all: Loaded[] = [];
  try {
    for (const n of sizes) all.push(load(set, n));
    const samples = all.map((): number[] => []);
    for (let r = 0; r < ROUNDS; r++) {
      all.forEach((l, i) => samples[i]?.push(pass(l.prog, l.probes, l.label)));
    }
    return all.map((l, i) => ({
      set,
      asked: l.asked,
      rules: l.rules,
      checked: l.probes.length,
      inexact: l.inexact,
      agree: l.probes.filter((p) => p.rule === p.header.filter).length,
      ns: spread(samples[i] ?? []),
      processed: l.loaded.instance.processed,
      parseMs: l.parseMs,
      loadMs: l.loadMs,
    }));
  } finally {
    for (const l of all) l.loaded.instance.close();
  }
}

/** Measures every ruleset and prints the table; returns the results for the plot. */
export function testRunBench(): TestRunResult[] {
  const plan: [SetName, readonly number[]][] = [
    ['acl1', ACL1_SIZES],
    ...OTHER_SETS.map((s): [SetName, readonly number[]] => [s, [1, 10_000]]),
  ];
  console.log(
    `\ntest-run: ${PACKETS} trace headers per ruleset, each run ${REPEAT} times in the kernel, ${ROUNDS} interleaved rounds per set`,
  );
  const results: TestRunResult[] = [];
  for (const [set, sizes] of plan) {
    for (const r of measureSet(set, sizes)) {
      results.push(r);
      console.log(
        `  ${set} ${r.rules} rules: ${num(r.ns.median)} ns/packet, ${r.checked} verdicts checked`,
      );
    }
  }
  const one = (set: SetName): TestRunResult | undefined =>
    results.find((r) => r.set === set && r.asked === 1);
  printTable(
    'Per packet under BPF_PROG_TEST_RUN (INPUT), verdicts checked against the linear reference',
    [
      'set',
      'rules',
      'checked',
      'inexact',
      'agree',
      'ns min',
      'ns median',
      'vs 1 rule',
      'verifier insns',
      'vs 1 rule',
      'parse ms',
      'load ms',
    ],
    results.map((r) => {
      const base = one(r.set);
      return [
        r.set,
        String(r.rules),
        String(r.checked),
        String(r.inexact),
        r.checked > 0 ? `${((100 * r.agree) / r.checked).toFixed(1)}%` : '-',
        num(r.ns.min),
        num(r.ns.median),
        ratio(r.ns.median, base?.ns.median ?? NaN),
        String(r.processed),
        ratio(r.processed, base?.processed ?? NaN),
        num(r.parseMs),
        num(r.loadMs),
      ];
    }),
  );
  console.log(
    '  agree: deciding rule = the filter ClassBench generated the header from (about 99% for a whole file;\n' +
      '  low for prefixes, whose missing filters send packets to the policy); inexact: skipped, see testrun.ts',
  );
  return results;
}
