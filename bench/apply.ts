// Apply time end to end: `iptables-legacy-restore` of a whole ClassBench file and then `-A` of
// one rule, by stock iptables-legacy through the LD_PRELOAD shim to a daemon of ours, against the
// same commands on the kernel's own tables in another namespace. Wall time from exec to exit,
// `ip netns exec` included on both sides. Each round is a fresh daemon and fresh namespaces, so
// that the restore is a first load and the daemon's memory (rss.ts) is that of the one ruleset.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ruleCount, rulesText } from './classbench.js';
import {
  listKnob,
  netns,
  num,
  numberKnob,
  pinRoot,
  printTable,
  ratio,
  ROUNDS,
  spread,
  TAG,
  timed,
} from './common.js';
import { Daemon, type Replace } from './daemon.js';

const FILES = listKnob('BENCH_APPLY', 'acl1_10k,fw1_10k,ipc1_10k,acl1_100k', 'acl1_10k');
/** `-A` commands per round. */
const APPENDS = Math.max(1, numberKnob('BENCH_APPENDS', 5, 2));
/** The xtables lock is the host's: wait for other users' iptables rather than fail. */
const WAIT = '--wait=30';
/** A worker collects after 1 s without requests (compute-worker.ts); 100k rules take ~0.3 s. */
const SETTLE_MS = 3000;
/**
 * `-A` commands per round at a person's pace, each SPACED_MS after the last command: the
 * back-to-back ones above find V8 and the caches as the last command left them.
 */
const SPACED = Math.max(1, numberKnob('BENCH_SPACED', 2, 1));
const SPACED_MS = 2000;

export interface ApplyResult {
  readonly file: string;
  readonly rules: number;
  /** ms per command. */
  readonly restore: { readonly ours: number[]; readonly kernel: number[] };
  readonly append: { readonly ours: number[]; readonly kernel: number[] };
  /** -A commands SPACED_MS after the previous command. */
  readonly spaced: { readonly ours: number[]; readonly kernel: number[] };
  /** The daemon's SET_REPLACE lines of the last round: the restore's, then each -A's. */
  replaces: readonly Replace[];
  /** MB per round: just started, and holding the ruleset after the last -A. */
  readonly memory: {
    readonly idle: number[];
    /** Right after the last -A. */
    readonly held: number[];
    /** SETTLE_MS later: the workers' idle collection has run. */
    readonly settled: number[];
    readonly peak: number[];
  };
}

async function round(
  file: string,
  path: string,
  dir: string,
  pins: string,
  r: number,
  out: ApplyResult,
): Promise<void> {
  const d = await Daemon.start(dir, pins);
  const ours = netns(`bench-ao-${TAG}`);
  const kernel = netns(`bench-ak-${TAG}`);
  try {
    out.memory.idle.push(d.memory().rss);
    out.restore.ours.push(timed('ip', d.shim(ours.name, ['iptables-legacy-restore', WAIT, path])));
    out.restore.kernel.push(
      timed('ip', ['netns', 'exec', kernel.name, 'iptables-legacy-restore', WAIT, path]),
    );
    for (let a = 0; a < APPENDS; a++) {
      const rule = ['-A', 'INPUT', '-s', `10.254.${r}.${a + 1}/32`, '-j', 'DROP'];
      out.append.ours.push(timed('ip', d.shim(ours.name, ['iptables-legacy', WAIT, ...rule])));
      out.append.kernel.push(
        timed('ip', ['netns', 'exec', kernel.name, 'iptables-legacy', WAIT, ...rule]),
      );
    }
    const m = d.memory();
    out.memory.held.push(m.rss);
    await sleep(SETTLE_MS);
    out.memory.settled.push(d.memory().rss);
    out.memory.peak.push(m.hwm);
    for (let a = 0; a < SPACED; a++) {
      const rule = ['-A', 'INPUT', '-s', `10.253.${r}.${a + 1}/32`, '-j', 'DROP'];
      await sleep(SPACED_MS);
      out.spaced.ours.push(timed('ip', d.shim(ours.name, ['iptables-legacy', WAIT, ...rule])));
      await sleep(SPACED_MS);
      out.spaced.kernel.push(
        timed('ip', ['netns', 'exec', kernel.name, 'iptables-legacy', WAIT, ...rule]),
      );
    }
    const replaces = d.replaces();
    const failed = replaces.find((x) => x.result !== 0);
    if (failed || replaces.length !== 1 + APPENDS + SPACED) {
      throw new Error(`${file}: the daemon's SET_REPLACEs: ${JSON.stringify(replaces)}`);
    }
    out.replaces = replaces;
  } finally {
    await d.stop();
    ours.remove();
    kernel.remove();
  }
}

/** Measures every file and prints the table; the results also carry rss.ts's samples. */
export async function applyBench(dir: string): Promise<ApplyResult[]> {
  const pins = pinRoot('apply');
  console.log(
    `\napply: restore then ${APPENDS} x -A per round, ${ROUNDS} rounds, each a fresh daemon and fresh namespaces`,
  );
  const results: ApplyResult[] = [];
  for (const file of FILES) {
    const path = join(dir, `${file}.rules`);
    writeFileSync(path, rulesText(file));
    const out: ApplyResult = {
      file,
      rules: ruleCount(file),
      restore: { ours: [], kernel: [] },
      append: { ours: [], kernel: [] },
      spaced: { ours: [], kernel: [] },
      replaces: [],
      memory: { idle: [], held: [], settled: [], peak: [] },
    };
    for (let r = 0; r < ROUNDS; r++) await round(file, path, dir, pins, r, out);
    results.push(out);
    console.log(
      `  ${file}: restore ours ${num(spread(out.restore.ours).median)} ms, kernel ${num(spread(out.restore.kernel).median)} ms`,
    );
  }
  const cells = (ours: number[], kernel: number[]): string[] => {
    const [o, k] = [spread(ours), spread(kernel)];
    return [num(o.min), num(o.median), num(k.min), num(k.median), ratio(o.median, k.median)];
  };
  printTable(
    'Apply time end to end (ms): ours = iptables-legacy through the shim to the daemon, kernel = iptables-legacy',
    [
      'ruleset',
      'rules',
      'restore ours min',
      'median',
      'kernel min',
      'median',
      'ours/kernel',
      '-A ours min',
      'median',
      'kernel min',
      'median',
      'ours/kernel',
    ],
    results.map((r) => [
      r.file,
      String(r.rules),
      ...cells(r.restore.ours, r.restore.kernel),
      ...cells(r.append.ours, r.append.kernel),
    ]),
  );
  printTable(
    `-A at a person's pace (ms): each ${SPACED_MS / 1000} s after the previous command, ${SPACED} per round`,
    ['ruleset', 'rules', '-A ours min', 'median', 'kernel min', 'median', 'ours/kernel'],
    results.map((r) => [r.file, String(r.rules), ...cells(r.spaced.ours, r.spaced.kernel)]),
  );
  console.log(
    "  the daemon's SET_REPLACE (last round): restore, the last -A back to back, the last spaced -A",
  );
  for (const r of results) {
    const [first, last, spaced] = [
      r.replaces[0],
      r.replaces[APPENDS],
      r.replaces[r.replaces.length - 1],
    ];
    console.log(`  ${r.file} restore (${num(first?.ms ?? NaN)} ms): ${first?.detail ?? '-'}`);
    console.log(`  ${r.file} -A      (${num(last?.ms ?? NaN)} ms): ${last?.detail ?? '-'}`);
    console.log(`  ${r.file} spaced  (${num(spaced?.ms ?? NaN)} ms): ${spaced?.detail ?? '-'}`);
  }
  return results;
}
