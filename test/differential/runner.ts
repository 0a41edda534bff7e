// The differential runner: random cases on the kernel's router and ours, compared after each
// batch; a mismatch is confirmed by a rerun, then shrunk (rules, then packets, then rules again)
// to a minimal ruleset and packet sequence that still disagree, and printed with both views.
// As a program: `node dist/test/differential/runner.js [--kind small|big|jumps] [--seed S]
// [--rulesets N | --seconds T] [--packets P] [--case I]` (make diff / make soak).
import { compare, render } from './compare.js';
import { toSave, type Case, type RuleSpec, type RulesetSpec } from './gen.js';
import { caseOf, DEFAULT_PACKETS, KINDS, type Kind } from './gen-scale.js';
import { describe } from './packets.js';
import { CLI, Topology, type Observation, type Packet } from './topology.js';

export interface HarnessOptions {
  /** Which generator (gen-scale.ts): small rulesets, big ClassBench ones, or dense jumps. */
  readonly kind?: Kind;
  readonly seed: number;
  /** Stop after this many cases... */
  readonly rulesets: number;
  /** ...or when this much time has passed, whichever comes first. */
  readonly deadlineMs?: number;
  /** About this many packets per case. */
  readonly packets?: number;
  /** Run only this case index (a replay). */
  readonly only?: number;
  /** Stop at the first mismatch (after shrinking it). */
  readonly stopAtFirst?: boolean;
  readonly log?: (line: string) => void;
}

export interface Mismatch {
  readonly index: number;
  readonly ruleset: RulesetSpec;
  readonly packets: readonly Packet[];
  readonly diff: readonly string[];
  readonly report: string;
}

export interface Summary {
  readonly kind: Kind;
  readonly seed: number;
  readonly rulesets: number;
  /** Cases both sides refused to restore (the generator's invalid rulesets). */
  readonly refused: number;
  readonly packets: number;
  readonly mismatches: readonly Mismatch[];
  /** Mismatches a rerun of the same case did not show (timing noise, reported, not counted). */
  readonly unconfirmed: number;
  /** Rules that counted at least one packet on the kernel's side, of all rules restored. */
  readonly rulesHit: number;
  readonly rules: number;
  /** The most user chains a restored ruleset had, and the highest chain index (cN) of a rule
   *  that counted a packet on the kernel's side: how deep packets went. */
  readonly maxChains: number;
  readonly deepestHit: number;
  /** The deepest nesting packets were aimed at (gen-scale.ts's model of the walk). */
  readonly nesting: number;
  /** LOG lines compared (the kernel's count) — evidence LOG is exercised, not just generated. */
  readonly logLines: number;
  readonly ms: number;
}

export function summaryLine(s: Summary): string {
  const aimed = s.nesting ? `, aimed ${s.nesting} deep` : '';
  const chains = s.maxChains
    ? `, up to ${s.maxChains} chains, deepest hit c${s.deepestHit}${aimed}`
    : '';
  return `differential ${s.kind}: ${s.rulesets} rulesets, ${s.packets} packets, ${s.mismatches.length} mismatches, seed ${s.seed} (${s.refused} refused by both, ${s.unconfirmed} unconfirmed, ${s.rulesHit}/${s.rules} rules hit${chains}, ${s.logLines} LOG lines, ${(s.ms / 1000).toFixed(1)} s)`;
}

async function differs(topo: Topology, c: Case): Promise<string[]> {
  const [k, b] = await topo.runCase(toSave(c.ruleset), c.packets);
  return compare(k, b);
}

/** Removes items one chunk at a time (halves, quarters, ..., singles) while `fails` holds. */
async function minimise<T>(
  items: readonly T[],
  fails: (xs: readonly T[]) => Promise<boolean>,
): Promise<readonly T[]> {
  let cur = items;
  for (let chunk = Math.max(1, Math.floor(cur.length / 2)); chunk >= 1;) {
    let removed = false;
    for (let start = cur.length - chunk; start >= 0; start -= chunk) {
      const next = [...cur.slice(0, start), ...cur.slice(start + chunk)];
      if (next.length < cur.length && (await fails(next))) {
        cur = next;
        removed = true;
      }
    }
    if (!removed || chunk > cur.length) chunk = Math.floor(chunk / 2);
  }
  return cur;
}

const CLAUSE_START = new Set(['-s', '-d', '-i', '-o', '-p', '-f', '-m', '-j', '-g']);

/** A rule's arguments cut into clauses: `! -s a/b`, `-p tcp --dport 80`, `-m ttl --ttl-lt 3`. */
export function clauses(args: string): string[] {
  const toks = args.split(' ');
  const out: string[][] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i] as string;
    const starts = CLAUSE_START.has(t) || (t === '!' && CLAUSE_START.has(toks[i + 1] ?? ''));
    if (starts && !(out.length && out[out.length - 1]?.join(' ') === '!')) out.push([t]);
    else if (out.length) out[out.length - 1]?.push(t);
    else out.push([t]);
  }
  return out.map((c) => c.join(' '));
}

/** The smallest case found that still shows a difference. */
export async function shrink(topo: Topology, c: Case): Promise<Case> {
  let cur = c;
  const failsWith = async (next: Case): Promise<boolean> => (await differs(topo, next)).length > 0;
  for (let round = 0; round < 2; round++) {
    const rules = await minimise(cur.ruleset.rules, (rs) =>
      failsWith({ ...cur, ruleset: { ...cur.ruleset, rules: rs } }),
    );
    cur = { ...cur, ruleset: { ...cur.ruleset, rules } };
    const packets = await minimise(cur.packets, (ps) => failsWith({ ...cur, packets: ps }));
    cur = { ...cur, packets };
    // Then each rule's clauses (matches, addresses, the target).
    for (let r = 0; r < cur.ruleset.rules.length; r++) {
      const rule = cur.ruleset.rules[r] as RuleSpec;
      const kept = await minimise(clauses(rule.args), (cs) => {
        const rules = cur.ruleset.rules.map((x, i) => (i === r ? { ...x, args: cs.join(' ') } : x));
        return failsWith({ ...cur, ruleset: { ...cur.ruleset, rules } });
      });
      const rules = cur.ruleset.rules.map((x, i) => (i === r ? { ...x, args: kept.join(' ') } : x));
      cur = { ...cur, ruleset: { ...cur.ruleset, rules } };
    }
  }
  // Policies back to ACCEPT and unused user chains out, where that keeps the difference.
  for (const chain of ['INPUT', 'FORWARD', 'OUTPUT'] as const) {
    if (cur.ruleset.policies[chain] === 'ACCEPT') continue;
    const next = {
      ...cur,
      ruleset: { ...cur.ruleset, policies: { ...cur.ruleset.policies, [chain]: 'ACCEPT' } },
    };
    if (await failsWith(next)) cur = next;
  }
  const used = new Set(cur.ruleset.rules.flatMap((r) => [r.chain, ...r.args.split(' ')]));
  const chains = cur.ruleset.chains.filter((ch) => used.has(ch));
  const pruned = { ...cur, ruleset: { ...cur.ruleset, chains } };
  if (chains.length < cur.ruleset.chains.length && (await failsWith(pruned))) cur = pruned;
  return cur;
}

function report(
  kind: Kind,
  index: number,
  seed: number,
  c: Case,
  k: Observation,
  b: Observation,
  diff: readonly string[],
): string {
  return [
    `MISMATCH in case ${index} of seed ${seed} (replay: make diff KIND=${kind} SEED=${seed} CASE=${index}), shrunk to ${c.ruleset.rules.length} rule(s), ${c.packets.length} packet(s):`,
    toSave(c.ruleset).trim(),
    'packets:',
    ...c.packets.map((p, i) => `  ${i}: via ${p.port}: ${describe(p.ip)}  ${p.ip.toString('hex')}`),
    'differences:',
    ...diff.map((d) => `  ${d}`),
    render('kernel (iptables-legacy)', k),
    render('ours (BPF through the shim)', b),
  ].join('\n');
}

/** Why our side's restore failed: its output and the daemon's last refusal. */
function refusal(topo: Topology, b: Observation): string {
  const last = topo.daemonLog
    .join('')
    .split('\n')
    .filter((l) => l.includes('"result":"E'))
    .pop();
  return `our restore said: ${b.restore.out.trim()}\nour daemon's last refusal: ${last ?? '(none logged)'}`;
}

export async function runHarness(topo: Topology, o: HarnessOptions): Promise<Summary> {
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const t0 = Date.now();
  const kind = o.kind ?? 'small';
  const per = o.packets ?? DEFAULT_PACKETS[kind];
  const mismatches: Mismatch[] = [];
  let rulesets = 0;
  let refused = 0;
  let packets = 0;
  let unconfirmed = 0;
  let rulesHit = 0;
  let rules = 0;
  let logLines = 0;
  let maxChains = 0;
  let deepestHit = -1;
  let nesting = 0;
  const [first, end] = o.only !== undefined ? [o.only, o.only + 1] : [0, o.rulesets];
  for (let index = first; index < end; index++) {
    if (o.deadlineMs !== undefined && Date.now() - t0 > o.deadlineMs) break;
    const c = caseOf(kind, o.seed, index, per);
    const [k, b] = await topo.runCase(toSave(c.ruleset), c.packets);
    rulesets++;
    packets += c.packets.length;
    logLines += k.logs.length;
    if (o.deadlineMs !== undefined && rulesets % 100 === 0)
      log(
        `differential: ${rulesets} rulesets, ${packets} packets, ${mismatches.length} mismatches so far`,
      );
    if (k.restore.status !== 0 && b.restore.status !== 0) refused++;
    else {
      const counted = k.save.split('\n').filter((l) => l.startsWith('['));
      rules += counted.length;
      rulesHit += counted.filter((l) => !l.startsWith('[0:')).length;
      maxChains = Math.max(maxChains, c.ruleset.chains.length);
      nesting = Math.max(nesting, c.nesting ?? 0);
      for (const l of counted) {
        const m = /^\[[1-9]\d*:\d+\] -A c(\d+) /.exec(l);
        if (m) deepestHit = Math.max(deepestHit, Number(m[1]));
      }
    }
    const diff = compare(k, b);
    if (diff.length === 0) continue;
    const why = k.restore.status !== b.restore.status ? `\n${refusal(topo, b)}` : '';
    if ((await differs(topo, c)).length === 0) {
      unconfirmed++;
      log(
        `differential: case ${index} differed once and not on a rerun:\n  ${diff.join('\n  ')}${why}`,
      );
      continue;
    }
    const small = await shrink(topo, c);
    const [sk, sb] = await topo.runCase(toSave(small.ruleset), small.packets);
    const sdiff = compare(sk, sb);
    let text = report(kind, index, o.seed, small, sk, sb, sdiff.length ? sdiff : diff);
    if (sk.restore.status !== sb.restore.status) text += `\n${refusal(topo, sb)}`;
    log(text);
    mismatches.push({
      index,
      ruleset: small.ruleset,
      packets: small.packets,
      diff: sdiff,
      report: text,
    });
    if (o.stopAtFirst) break;
  }
  return {
    kind,
    seed: o.seed,
    rulesets,
    refused,
    packets,
    mismatches,
    unconfirmed,
    rulesHit,
    rules,
    maxChains,
    deepestHit,
    nesting,
    logLines,
    ms: Date.now() - t0,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The seed from DIFF_SEED, else a fresh one. */
export function seedFromEnv(): number {
  const s = process.env.DIFF_SEED;
  return s !== undefined && s !== '' ? Number(s) | 0 : (Date.now() ^ (process.pid << 16)) | 0;
}

async function main(): Promise<number> {
  const seedArg = arg('--seed');
  const seed = seedArg !== undefined && seedArg !== '' ? Number(seedArg) | 0 : seedFromEnv();
  const seconds = arg('--seconds');
  const only = arg('--case') ?? process.env.DIFF_CASE;
  const kind = (arg('--kind') ?? process.env.DIFF_KIND ?? 'small') as Kind;
  if (!KINDS.includes(kind)) throw new Error(`--kind: one of ${KINDS.join(', ')}`);
  const topo = new Topology();
  const stop = (): void => {
    topo.close();
    process.exit(130);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await topo.open(arg('--daemon') ?? CLI);
    const s = await runHarness(topo, {
      kind,
      seed,
      rulesets: Number(arg('--rulesets') ?? (seconds ? Number.MAX_SAFE_INTEGER : 200)),
      deadlineMs: seconds ? Number(seconds) * 1000 : undefined,
      packets: Number(arg('--packets') ?? DEFAULT_PACKETS[kind]),
      only: only !== undefined && only !== '' ? Number(only) : undefined,
    });
    process.stdout.write(`${summaryLine(s)}\n`);
    return s.mismatches.length ? 1 : 0;
  } finally {
    topo.close();
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`differential: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
