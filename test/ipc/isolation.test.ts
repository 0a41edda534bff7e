// One namespace's slow apply never stalls another's iptables or the kernel side's health check.
// The daemon is told to hold every program load for LOAD_DELAY_MS (BPFILTER_TEST_LOAD_DELAY_MS,
// spent off the event loop as the verifier's own time is); while namespace A's first restore
// sits in that load, namespace B lists its table and a health check is answered. Had the load
// run on the event loop (as program loads once did), both would answer only after A's restore.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReply, serializeRequest } from '../../src/ipc/mbox.js';
import { CLI, daemonArgs, netnsAdd, netnsDel, requireBuild } from './helpers.js';

const A = `iso-a-${process.pid}`;
const B = `iso-b-${process.pid}`;
const PINS = `/sys/fs/bpf/bpfilter-iso-${process.pid}`;
const LOAD_DELAY_MS = 8000;
/** After A's restore starts, B asks this late: A's request is in its held load by then. */
const ASK_AFTER_MS = 1500;
const exec = promisify(execFile);

let dir = '';
let sock = '';
let daemon: ChildProcess | undefined;
const daemonLog: string[] = [];

function iptables(
  ns: string,
  args: string[],
  input?: string,
): Promise<{ out: string; at: number }> {
  const cmd = ['netns', 'exec', ns, process.execPath, CLI, 'run', '--socket', sock, '--', ...args];
  // iptables' own lock (/run/xtables.lock) would serialise the two commands before either reached
  // a helper or a kernel: per namespace, as each container's /run has its own.
  const env = { ...process.env, XTABLES_LOCKFILE: join(dir, `xtables-${ns}.lock`) };
  const p = exec('ip', cmd, { encoding: 'utf8', env });
  if (input !== undefined) {
    p.child.stdin?.end(input);
  }
  return p.then((r) => ({ out: r.stdout, at: Date.now() }));
}

/** The kernel module's health check: an all-zero request, answered 0 by a live helper. */
function healthCheck(): Promise<{ status: number; at: number }> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    c.on('error', reject);
    c.on('connect', () =>
      c.write(serializeRequest({ addr: 0n, len: 0, isSet: false, cmd: 0, pid: 0 })),
    );
    c.once('data', (b: Buffer) => {
      c.end();
      resolve({ status: parseReply(b.subarray(0, 4)), at: Date.now() });
    });
  });
}

const RULES = (port: number): string => `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport ${port} -j DROP
COMMIT
`;

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'iso-'));
  sock = join(dir, 'bpfilter.sock');
  netnsAdd(A);
  netnsAdd(B);
  daemon = spawn(process.execPath, [CLI, ...daemonArgs(sock, PINS, join(dir, 'state'))], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, BPFILTER_TEST_LOAD_DELAY_MS: String(LOAD_DELAY_MS) },
  });
  daemon.stderr?.on('data', (c: Buffer) => daemonLog.push(c.toString()));
  await exec(process.execPath, [CLI, 'status', '--socket', sock, '--wait', '20', '--quiet']);
  // B's table, before A starts: its own load is held too.
  await iptables(B, ['iptables-legacy-restore'], RULES(22));
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await new Promise((r) => setTimeout(r, 200));
  netnsDel(A);
  netnsDel(B);
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('isolation: a slow apply in one namespace', () => {
  it('leaves iptables in another namespace and the health check answering', async () => {
    const started = Date.now();
    const slow = iptables(A, ['iptables-legacy-restore'], RULES(23));
    await new Promise((r) => setTimeout(r, ASK_AFTER_MS));
    const [list, health] = await Promise.all([
      iptables(B, ['iptables-legacy', '-L', 'INPUT', '-n']),
      healthCheck(),
    ]);
    const done = await slow;

    expect(list.out).toMatch(/DROP\s+6\s+--\s+0\.0\.0\.0\/0\s+0\.0\.0\.0\/0\s+tcp dpt:22/);
    expect(health.status).toBe(0);
    // The order, not a speed: A's apply cannot end before its held load has, so both answered
    // while it was still being applied.
    const held = started + LOAD_DELAY_MS;
    expect(done.at).toBeGreaterThanOrEqual(held);
    expect(list.at).toBeLessThan(held);
    expect(health.at).toBeLessThan(held);
    // A's apply went through the held load, and ended with its own table.
    const a = await iptables(A, ['iptables-legacy', '-S', 'INPUT']);
    expect(a.out).toContain('-A INPUT -p tcp -m tcp --dport 23 -j DROP');
    expect(daemonLog.join('')).toMatch(/load \d{4,}/);
  }, 60_000);
});
