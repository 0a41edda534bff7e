// One namespace's slow apply never stalls another's iptables or the kernel side's health check.
// The daemon is told to hold one stage of every apply for HELD_MS; while namespace A's first
// restore sits in it, namespace B lists its table and a health check is answered. Two stages:
// - the program load (BPFILTER_TEST_LOAD_DELAY_MS, a wait where the verifier's own time is
//   spent, on libuv's threads);
// - the classification (BPFILTER_TEST_COMPUTE_DELAY_MS, a blocking wait on the thread that
//   classifies, as a big table's classification is CPU there).
// Had either run on the event loop (as both once did), B and the health check would answer only
// after A's restore.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReply, serializeRequest } from '../../src/ipc/mbox.js';
import { CLI, daemonArgs, netnsAdd, netnsDel, requireBuild } from './helpers.js';

const HELD_MS = 8000;
/** After A's restore starts, B asks this late: A's request is in its held load by then. */
const ASK_AFTER_MS = 1500;
const exec = promisify(execFile);

function iptables(
  dir: string,
  sock: string,
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
function healthCheck(sock: string): Promise<{ status: number; at: number }> {
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

const STAGES = [
  ['program load', 'BPFILTER_TEST_LOAD_DELAY_MS', /load \d{4,}/],
  ['classification', 'BPFILTER_TEST_COMPUTE_DELAY_MS', /compile \d{4,}/],
] as const;

describe.each(STAGES)('isolation: a slow %s in one namespace', (stage, variable, logged) => {
  const tag = `${process.pid}-${STAGES.findIndex((s) => s[0] === stage)}`;
  const A = `iso-a-${tag}`;
  const B = `iso-b-${tag}`;
  const PINS = `/sys/fs/bpf/bpfilter-iso-${tag}`;
  let dir = '';
  let sock = '';
  let daemon: ChildProcess | undefined;
  const daemonLog: string[] = [];
  const run = (ns: string, args: string[], input?: string) => iptables(dir, sock, ns, args, input);

  beforeAll(async () => {
    requireBuild();
    dir = mkdtempSync(join(tmpdir(), 'iso-'));
    sock = join(dir, 'bpfilter.sock');
    netnsAdd(A);
    netnsAdd(B);
    daemon = spawn(process.execPath, [CLI, ...daemonArgs(sock, PINS, join(dir, 'state'))], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, [variable]: String(HELD_MS) },
    });
    daemon.stderr?.on('data', (c: Buffer) => daemonLog.push(c.toString()));
    await exec(process.execPath, [CLI, 'status', '--socket', sock, '--wait', '20', '--quiet']);
    // B's table, before A starts: its own apply is held too.
    await run(B, ['iptables-legacy-restore'], RULES(22));
  }, 60_000);

  afterAll(async () => {
    daemon?.kill();
    await new Promise((r) => setTimeout(r, 200));
    netnsDel(A);
    netnsDel(B);
    rmSync(PINS, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('leaves iptables in another namespace and the health check answering', async () => {
    const started = Date.now();
    const slow = run(A, ['iptables-legacy-restore'], RULES(23));
    await new Promise((r) => setTimeout(r, ASK_AFTER_MS));
    const [list, health] = await Promise.all([
      run(B, ['iptables-legacy', '-L', 'INPUT', '-n']),
      healthCheck(sock),
    ]);
    const done = await slow;

    expect(list.out).toMatch(/DROP\s+6\s+--\s+0\.0\.0\.0\/0\s+0\.0\.0\.0\/0\s+tcp dpt:22/);
    expect(health.status).toBe(0);
    // The order, not a speed: A's apply cannot end before its held stage has, so both answered
    // while it was still being applied.
    const held = started + HELD_MS;
    expect(done.at).toBeGreaterThanOrEqual(held);
    expect(list.at).toBeLessThan(held);
    expect(health.at).toBeLessThan(held);
    // A's apply went through the held stage, and ended with its own table.
    const a = await run(A, ['iptables-legacy', '-S', 'INPUT']);
    expect(a.out).toContain('-A INPUT -p tcp -m tcp --dport 23 -j DROP');
    expect(daemonLog.join('')).toMatch(logged);
  }, 60_000);
});
