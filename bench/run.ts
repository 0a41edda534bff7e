// `make bench`: what the filter table costs per packet as rulesets grow, for our BPF and for the
// kernel's iptables-legacy and nftables, measured in the same run on the same machine.
//
// Each ruleset has N rules that the traffic does not match (distinct sources and ports) and a
// last rule that accepts it, so every packet walks all of them: the linear worst case that the
// classification issue is about. Two measurements per size:
//  - delivered packets/s: a client blasts UDP over veth for BENCH_MS into a server namespace
//    filtered by each engine; what reaches UDP (InDatagrams + NoPorts) per second. Over veth
//    the receive path runs in the sender's context, so the rate falls as the hook costs more.
//  - our program alone: BPF_PROG_TEST_RUN repeated in the kernel, ns per packet.
// Printed as a table with the ratios; nothing is asserted (timing belongs here, not in tests).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfBackend, loadTable } from '../src/bpf/backend.js';
import { testRunTimed } from '../src/bpf/syscall.js';
import { cookieOf } from '../src/sys/netns.js';
import { parseSave } from '../src/translate/save.js';

const SIZES = (process.env.BENCH_SIZES ?? '1,10,100,1000,5000').split(',').map(Number);
const DURATION_MS = Number(process.env.BENCH_MS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ENGINES = ['iptables-legacy', 'nftables', 'bpfilter-ts'] as const;
type Engine = (typeof ENGINES)[number];

const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-bench-${tag}`;
const blast = join(dir, 'blast');
const ns = (e: Engine, role: 'c' | 's'): string => `bench-${role}${ENGINES.indexOf(e)}-${tag}`;
const sh = (cmd: string, args: readonly string[], input?: string): string =>
  execFileSync(cmd, args, { encoding: 'utf8', input });

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

function setUp(): void {
  execFileSync('gcc', [
    '-O2',
    '-o',
    blast,
    join(import.meta.dirname, '..', '..', 'bench', 'blast.c'),
  ]);
  for (const e of ENGINES) {
    const [c, s] = [ns(e, 'c'), ns(e, 's')];
    sh('ip', ['netns', 'add', c]);
    sh('ip', ['netns', 'add', s]);
    sh('ip', ['link', 'add', 'bc0', 'netns', c, 'type', 'veth', 'peer', 'name', 'bs0', 'netns', s]);
    sh('ip', ['-n', c, 'addr', 'add', '10.91.0.1/24', 'dev', 'bc0']);
    sh('ip', ['-n', s, 'addr', 'add', '10.91.0.2/24', 'dev', 'bs0']);
    for (const [n, d] of [
      [c, 'bc0'],
      [s, 'bs0'],
    ] as const) {
      sh('ip', ['-n', n, 'link', 'set', d, 'up']);
      sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', [
      '-n',
      c,
      'neigh',
      'replace',
      '10.91.0.2',
      'lladdr',
      macOf(s, 'bs0'),
      'dev',
      'bc0',
      'nud',
      'permanent',
    ]);
  }
}

function macOf(netns: string, dev: string): string {
  return sh('ip', ['-n', netns, '-j', 'link', 'show', dev]).match(/"address":"([^"]+)"/)?.[1] ?? '';
}

function tearDown(backend: BpfBackend): void {
  backend.close();
  for (const e of ENGINES) {
    for (const role of ['c', 's'] as const) spawnSync('ip', ['netns', 'del', ns(e, role)]);
  }
  rmSync(PINS, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

async function load(e: Engine, n: number, backend: BpfBackend): Promise<void> {
  const s = ns(e, 's');
  if (e === 'iptables-legacy') {
    sh('ip', ['netns', 'exec', s, 'iptables-legacy-restore'], saveText(n));
  } else if (e === 'nftables') {
    spawnSync('ip', ['netns', 'exec', s, 'nft', 'delete', 'table', 'ip', 'bench']);
    const file = join(dir, 'rules.nft');
    writeFileSync(file, nftText(n));
    sh('ip', ['netns', 'exec', s, 'nft', '-f', file]);
  } else {
    const table = parseSave(saveText(n)).tables[0]?.table;
    if (!table) throw new Error('no table');
    const path = `/run/netns/${s}`;
    await backend.apply({ id: String(cookieOf(path)), path }, table);
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

function pps(e: Engine): number {
  const s = ns(e, 's');
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = delivered(s);
    sh('ip', ['netns', 'exec', ns(e, 'c'), blast, '10.91.0.2', '9', String(DURATION_MS)]);
    samples.push(((delivered(s) - before) * 1000) / DURATION_MS);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)] as number;
}

/** Our INPUT program alone, on the benchmark's packet (Ethernet framed, as test-run wants). */
function testRunNs(n: number): number {
  const table = parseSave(saveText(n)).tables[0]?.table;
  if (!table) throw new Error('no table');
  const r = loadTable(table);
  try {
    const ip = Buffer.from('4500003800004000401100000a5b00010a5b0002', 'hex');
    const udp = Buffer.alloc(44);
    udp.writeUInt16BE(40000, 0);
    udp.writeUInt16BE(9, 2);
    udp.writeUInt16BE(44, 4);
    const frame = Buffer.concat([
      Buffer.from('000000000000000000000000', 'hex'),
      Buffer.from([8, 0]),
      ip,
      udp,
    ]);
    const ctx = Buffer.alloc(48);
    ctx.writeUInt8(1, 0);
    ctx.writeUInt8(2, 1);
    return testRunTimed(r.progs[1] as number, frame, 100_000, ctx).ns;
  } finally {
    r.instance.close();
  }
}

const fmt = (v: number): string =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(0)}k`;

async function main(): Promise<void> {
  const backend = new BpfBackend({ pinRoot: PINS });
  setUp();
  try {
    console.log(
      `bench: UDP over veth for ${DURATION_MS} ms x ${ROUNDS} (median), N non-matching rules before the accepting one`,
    );
    console.log(
      `${'N'.padStart(6)} ${'legacy pps'.padStart(11)} ${'nft pps'.padStart(9)} ${'ours pps'.padStart(9)} ${'ours/legacy'.padStart(11)} ${'ours/nft'.padStart(9)} ${'our prog ns'.padStart(11)}`,
    );
    for (const n of SIZES) {
      const rate: Partial<Record<Engine, number>> = {};
      for (const e of ENGINES) {
        await load(e, n, backend);
        rate[e] = pps(e);
      }
      const [legacy, nft, ours] = ENGINES.map((e) => rate[e] ?? 0) as [number, number, number];
      console.log(
        `${String(n).padStart(6)} ${fmt(legacy).padStart(11)} ${fmt(nft).padStart(9)} ${fmt(ours).padStart(9)} ${(ours / legacy).toFixed(2).padStart(11)} ${(ours / nft).toFixed(2).padStart(9)} ${String(testRunNs(n)).padStart(11)}`,
      );
    }
  } finally {
    tearDown(backend);
  }
}

await main();
