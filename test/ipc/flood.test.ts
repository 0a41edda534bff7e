// A packet flood at REJECT (a million packets) and at LOG, from the network, with no local
// caller: the helper's memory stays within twice its idle size, another namespace's sockopts and the health check
// keep being answered while the flood runs, and the sender gets as many ICMP errors back from
// us as from the kernel's own REJECT for a flood as long (both within the kernel's ICMP limits:
// a burst of 6 and one a second per destination). Without the BPF ceiling and the bounded ring
// drain, a health check waited out the whole flood.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReply, serializeRequest } from '../../src/ipc/mbox.js';
import { CLI, ROOT, daemonArgs, netnsDel, requireBuild } from './helpers.js';

const TAG = process.pid % 100000;
const NS = {
  ourClient: `fl-oc-${TAG}`,
  ours: `fl-os-${TAG}`,
  kernelClient: `fl-kc-${TAG}`,
  kernel: `fl-ks-${TAG}`,
  other: `fl-x-${TAG}`,
};
const PINS = `/sys/fs/bpf/bpfilter-flood-${TAG}`;
/** Packets each flood sends at least, in rounds of ROUND_MS. */
const PACKETS: Record<string, number> = { REJECT: 1_000_000, LOG: 300_000 };
const ROUND_MS = 1000;

let dir = '';
let sock = '';
let blast = '';
let daemon: ChildProcess | undefined;
/** The daemon's memory holding its first ruleset, before any flood. */
let idle = { rss: 0, hwm: 0 };

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

function pair(client: string, server: string, n: number): void {
  const [a, b] = [`fv${n}a-${TAG}`, `fv${n}b-${TAG}`];
  ip('link', 'add', a, 'netns', client, 'type', 'veth', 'peer', 'name', b, 'netns', server);
  ip('-n', client, 'addr', 'add', '10.93.0.1/24', 'dev', a);
  ip('-n', server, 'addr', 'add', '10.93.0.2/24', 'dev', b);
  for (const [ns, dev] of [
    [client, a],
    [server, b],
  ] as const) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
}

function restore(ns: string, rules: string, viaShim: boolean): void {
  const cmd = viaShim
    ? [process.execPath, CLI, 'run', '--socket', sock, '--', 'iptables-legacy-restore']
    : ['iptables-legacy-restore'];
  execFileSync('ip', ['netns', 'exec', ns, ...cmd], { input: rules });
}

const ruleset = (target: string): string => `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -j ${target}
COMMIT
`;

/** The daemon's resident and peak resident memory, MB. */
function memory(): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${daemon?.pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1]);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** ICMP destination-unreachable errors `ns` has received. */
function unreachables(ns: string): number {
  const snmp = ip('netns', 'exec', ns, 'cat', '/proc/net/snmp').split('\n');
  const [names, values] = snmp.filter((l) => l.startsWith('Icmp:'));
  const i = (names ?? '').split(/\s+/).indexOf('InDestUnreachs');
  return Number((values ?? '').split(/\s+/)[i]);
}

/** Floods 10.93.0.2 from `client` in rounds of ROUND_MS, until so many packets or rounds. */
async function flood(
  client: string,
  until: { packets: number } | { rounds: number },
): Promise<{ packets: number; rounds: number }> {
  let packets = 0;
  let n = 0;
  while ('rounds' in until ? n < until.rounds : packets < until.packets) {
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', client, blast, '10.93.0.2', '9', String(ROUND_MS)]);
      let s = '';
      p.stdout.on('data', (b: Buffer) => (s += b.toString()));
      p.on('error', reject);
      p.on('exit', () => resolve(s));
    });
    packets += Number(out.trim());
    n++;
  }
  return { packets, rounds: n };
}

/** Health checks and sockopts from another namespace, every 20 ms, until `stop` resolves. */
async function probe(stop: Promise<unknown>): Promise<{ health: number[]; listed: number }> {
  const c = connect(sock);
  await new Promise((r) => c.once('connect', r));
  const health: number[] = [];
  let listed = 0;
  let done = false;
  void stop.then(() => (done = true));
  const list = async (): Promise<void> => {
    while (!done) {
      const out = await new Promise<string>((resolve, reject) => {
        const p = spawn(
          'ip',
          [
            'netns',
            'exec',
            NS.other,
            process.execPath,
            CLI,
            'run',
            '--socket',
            sock,
            '--',
            'iptables-legacy',
            '-L',
            'INPUT',
            '-n',
          ],
          {
            env: {
              ...process.env,
              XTABLES_LOCKFILE: join(dir, 'other.lock'),
            },
          },
        );
        let s = '';
        p.stdout.on('data', (b: Buffer) => (s += b.toString()));
        p.on('error', reject);
        p.on('exit', () => resolve(s));
      });
      if (!done && out.includes('Chain INPUT (policy ACCEPT)')) listed++;
    }
  };
  const lister = list();
  while (!done) {
    const t = process.hrtime.bigint();
    const status = await new Promise<number>((resolve) => {
      c.once('data', (b: Buffer) => resolve(parseReply(b.subarray(0, 4))));
      c.write(serializeRequest({ addr: 0n, len: 0, isSet: false, cmd: 0, pid: 0 }));
    });
    if (status !== 0) throw new Error(`health check answered ${status}`);
    if (!done) health.push(Number(process.hrtime.bigint() - t) / 1e6);
    await new Promise((r) => setTimeout(r, 20));
  }
  await lister;
  c.end();
  return { health, listed };
}

const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? NaN;

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'flood-'));
  sock = join(dir, 'bpfilter.sock');
  blast = join(dir, 'blast');
  execFileSync('gcc', ['-O2', '-o', blast, join(ROOT, 'bench', 'blast.c')]);
  for (const ns of Object.values(NS)) ip('netns', 'add', ns);
  pair(NS.ourClient, NS.ours, 0);
  pair(NS.kernelClient, NS.kernel, 1);
  daemon = spawn(
    process.execPath,
    [CLI, ...daemonArgs(sock, PINS, join(dir, 'state'), ['--log-file', join(dir, 'log')])],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  execFileSync(process.execPath, [CLI, 'status', '--socket', sock, '--wait', '20', '--quiet']);
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await new Promise((r) => setTimeout(r, 200));
  for (const ns of Object.values(NS)) netnsDel(ns);
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a flood at REJECT and LOG', () => {
  for (const target of ['REJECT', 'LOG']) {
    it(`${target}: bounded memory, other namespaces answered, replies as the kernel's`, async () => {
      restore(NS.ours, ruleset(target), true);
      restore(NS.kernel, ruleset(target), false);
      if (idle.rss === 0) idle = memory();
      const quiet = await probe(new Promise((r) => setTimeout(r, 1500)));
      const before = unreachables(NS.ourClient);
      const flooding = flood(NS.ourClient, { packets: PACKETS[target] ?? 0 });
      const during = await probe(flooding);
      const flooded = await flooding;
      const ours = unreachables(NS.ourClient) - before;
      const kBefore = unreachables(NS.kernelClient);
      await flood(NS.kernelClient, { rounds: flooded.rounds });
      const theirs = unreachables(NS.kernelClient) - kBefore;
      const m = memory();
      console.log(
        `${target} flood: ${flooded.packets} packets in ${flooded.rounds} s; RSS idle ` +
          `${idle.rss.toFixed(0)} MB, peak ${m.hwm.toFixed(0)} MB; health check median ` +
          `${median(quiet.health).toFixed(2)} ms quiet, ${median(during.health).toFixed(2)} ms ` +
          `flooded (max ${Math.max(...during.health).toFixed(1)}); iptables -L from another ` +
          `namespace answered ${quiet.listed} times in 1.5 s quiet, ${during.listed} flooded; ` +
          `ICMP errors to the sender: ours ${ours}, kernel ${theirs}`,
      );
      expect(flooded.packets).toBeGreaterThanOrEqual(PACKETS[target] ?? 0);
      expect(m.hwm).toBeLessThanOrEqual(2 * idle.rss);
      // Answered while the flood ran (not how fast: that is printed above).
      expect(during.health.length).toBeGreaterThan(10);
      expect(during.listed).toBeGreaterThan(0);
      if (target === 'REJECT') {
        expect(ours).toBeGreaterThanOrEqual(6);
        expect(Math.abs(ours - theirs)).toBeLessThanOrEqual(1);
      }
    }, 120_000);
  }
});
