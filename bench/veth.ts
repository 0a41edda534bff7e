// Packets/s through veth for iptables-legacy, nftables and ours, beside a namespace with no
// filter at all (the stack's floor), in the same run.
//
// Each ruleset has N rules the traffic does not match (distinct sources and ports) and a last
// rule that accepts it, so a linear walk visits all of them. A client blasts 64-byte UDP
// datagrams (blast.c) for BENCH_MS into a server namespace filtered by one engine; what reaches
// UDP (InDatagrams + NoPorts + InErrors) per second is the rate. Over veth the receive path runs
// in the sender's context, so the whole path's cost per packet is 1e9/pps ns, of which the
// floor is the part without a filter. Rounds go over the engines in turn, so that noise on a
// shared machine spreads over all of them.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfBackend } from '../src/bpf/backend.js';
import { LocalCompute } from '../src/bpf/engine/compute.js';
import { cookieOf } from '../src/sys/netns.js';
import { parseSave } from '../src/translate/save.js';
import {
  listKnob,
  netns,
  num,
  numberKnob,
  onCleanup,
  pinRoot,
  printTable,
  ratio,
  ROOT,
  ROUNDS,
  sh,
  spread,
  TAG,
  type Spread,
} from './common.js';

const SIZES = listKnob('BENCH_VETH_SIZES', '1,100,1000,10000').map(Number);
const DURATION_MS = numberKnob('BENCH_MS', 1000, 200);

export const ENGINES = ['floor', 'iptables-legacy', 'nftables', 'bpfilter-ts'] as const;
export type Engine = (typeof ENGINES)[number];

export interface VethResult {
  readonly rules: number;
  readonly engine: Engine;
  readonly pps: Spread;
  /** 1e9/pps of each round. */
  readonly ns: Spread;
}

function rules(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `-A INPUT -s 10.201.${(i >> 8) & 255}.${i & 255}/32 -p udp -m udp --dport ${1000 + (i % 50000)} -j DROP`,
  );
}

function saveText(n: number): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...rules(n),
    '-A INPUT -p udp -m udp --dport 9 -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
}

function nftText(n: number): string {
  const body = Array.from(
    { length: n },
    (_, i) =>
      `    ip saddr 10.201.${(i >> 8) & 255}.${i & 255} udp dport ${1000 + (i % 50000)} drop`,
  );
  return [
    'table ip bench {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    ...body,
    '    udp dport 9 accept',
    '  }',
    '}',
    '',
  ].join('\n');
}

interface Pair {
  readonly client: string;
  readonly server: string;
}

const macOf = (ns: string, dev: string): string =>
  sh('ip', ['-n', ns, '-j', 'link', 'show', dev]).match(/"address":"([^"]+)"/)?.[1] ?? '';

/** A client and a server namespace joined by veth, the server's MAC fixed in the client. */
function pair(e: Engine): Pair {
  const i = ENGINES.indexOf(e);
  const c = netns(`bench-c${i}-${TAG}`).name;
  const s = netns(`bench-s${i}-${TAG}`).name;
  sh('ip', ['link', 'add', 'bc0', 'netns', c, 'type', 'veth', 'peer', 'name', 'bs0', 'netns', s]);
  sh('ip', ['-n', c, 'addr', 'add', '10.91.0.1/24', 'dev', 'bc0']);
  sh('ip', ['-n', s, 'addr', 'add', '10.91.0.2/24', 'dev', 'bs0']);
  sh('ip', ['-n', c, 'link', 'set', 'bc0', 'up']);
  sh('ip', ['-n', s, 'link', 'set', 'bs0', 'up']);
  const mac = macOf(s, 'bs0');
  sh('ip', [
    '-n',
    c,
    'neigh',
    'replace',
    '10.91.0.2',
    'lladdr',
    mac,
    'dev',
    'bc0',
    'nud',
    'permanent',
  ]);
  return { client: c, server: s };
}

/** bpfilter-ts's tables, compiled on this thread (the bench times packets, not applies). */
const compute = new LocalCompute();

async function load(
  e: Engine,
  n: number,
  p: Pair,
  backend: BpfBackend,
  dir: string,
): Promise<void> {
  if (e === 'iptables-legacy') {
    sh('ip', ['netns', 'exec', p.server, 'iptables-legacy-restore'], saveText(n));
  } else if (e === 'nftables') {
    spawnSync('ip', ['netns', 'exec', p.server, 'nft', 'delete', 'table', 'ip', 'bench'], {
      stdio: 'ignore',
    });
    const file = join(dir, 'rules.nft');
    writeFileSync(file, nftText(n));
    sh('ip', ['netns', 'exec', p.server, 'nft', '-f', file]);
  } else if (e === 'bpfilter-ts') {
    const table = parseSave(saveText(n)).tables[0]?.table;
    if (!table) throw new Error('no table');
    const path = `/run/netns/${p.server}`;
    const id = String(cookieOf(path));
    await backend.apply({ id, path }, compute.adopt(`${id}/filter`, table));
  }
}

/** Datagrams that got past INPUT to UDP in namespace `s`. */
function delivered(s: string): number {
  const snmp = sh('ip', ['netns', 'exec', s, 'cat', '/proc/net/snmp']).split('\n');
  const names = snmp.find((l) => l.startsWith('Udp: InDatagrams'))?.split(/\s+/) ?? [];
  const values = snmp.filter((l) => l.startsWith('Udp: '))[1]?.split(/\s+/) ?? [];
  const at = (k: string): number => Number(values[names.indexOf(k)] ?? 0);
  return at('InDatagrams') + at('NoPorts') + at('InErrors');
}

function pps(p: Pair, blast: string): number {
  const before = delivered(p.server);
  sh('ip', ['netns', 'exec', p.client, blast, '10.91.0.2', '9', String(DURATION_MS)]);
  return ((delivered(p.server) - before) * 1000) / DURATION_MS;
}

/** Measures every size and prints the table; returns the results for the plot. */
export async function vethBench(dir: string): Promise<VethResult[]> {
  const blast = join(dir, 'blast');
  execFileSync('gcc', ['-O2', '-o', blast, join(ROOT, 'bench', 'blast.c')]);
  const pairs = new Map(ENGINES.map((e) => [e, pair(e)]));
  const backend = new BpfBackend({ pinRoot: pinRoot('veth'), compute });
  onCleanup(() => backend.close());
  console.log(
    `\nveth: UDP for ${DURATION_MS} ms per round, ${ROUNDS} rounds, N non-matching rules before the accepting one`,
  );
  const results: VethResult[] = [];
  for (const n of SIZES) {
    for (const e of ENGINES) await load(e, n, pairs.get(e) as Pair, backend, dir);
    const samples = new Map<Engine, number[]>(ENGINES.map((e) => [e, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const e of ENGINES) samples.get(e)?.push(pps(pairs.get(e) as Pair, blast));
    }
    for (const e of ENGINES) {
      const s = samples.get(e) ?? [];
      results.push({ rules: n, engine: e, pps: spread(s), ns: spread(s.map((v) => 1e9 / v)) });
    }
    console.log(
      `  ${n} rules: ${ENGINES.map((e) => `${e} ${num(spread(samples.get(e) ?? []).median)} pps`).join(', ')}`,
    );
  }
  const at = (n: number, e: Engine): VethResult | undefined =>
    results.find((r) => r.rules === n && r.engine === e);
  printTable(
    'Through veth: delivered UDP packets/s and ns per packet (1e9/pps), medians unless "min"',
    ['rules', 'engine', 'pps', 'ns min', 'ns', 'vs floor', 'vs legacy', 'vs nft'],
    results.map((r) => [
      String(r.rules),
      r.engine,
      num(r.pps.median),
      num(r.ns.min),
      num(r.ns.median),
      ratio(r.ns.median, at(r.rules, 'floor')?.ns.median ?? NaN),
      ratio(r.ns.median, at(r.rules, 'iptables-legacy')?.ns.median ?? NaN),
      ratio(r.ns.median, at(r.rules, 'nftables')?.ns.median ?? NaN),
    ]),
  );
  console.log(
    '  floor: the same namespaces with no filter; ratios of ns per packet (lower is faster)',
  );
  return results;
}
