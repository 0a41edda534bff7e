// Stock iptables-legacy through the LD_PRELOAD shim and the daemon, compared command by command
// with the same iptables-legacy talking to the kernel's own ip_tables in a sibling netns. The
// daemon runs store-only: this compares what iptables sees, including targets the translator
// does not compile yet; test/e2e-filter.test.ts covers packets.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, netnsAdd, netnsDel, requireBuild } from './helpers.js';

const OURS = `ipc-ours-${process.pid}`;
const KERN = `ipc-kern-${process.pid}`;
const OTHER = `ipc-other-${process.pid}`;
let dir = '';
let sock = '';
let daemon: ChildProcess | undefined;
const daemonLog: string[] = [];

interface Result {
  status: number | null;
  out: string;
}

function run(
  ns: string,
  viaShim: boolean,
  args: string[],
  input?: string,
  prefix: string[] = [],
): Result {
  const cmd = [
    ...prefix,
    ...(viaShim ? [process.execPath, CLI, 'run', '--socket', sock, '--'] : []),
    ...args,
  ];
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { input, encoding: 'utf8' });
  // iptables-save stamps the time: drop those comment lines.
  const out = `${r.stdout}${r.stderr}`.replace(/^#.*\n/gm, '');
  return { status: r.status, out };
}

/** Runs the same iptables command on both sides and expects the same output and exit status. */
function both(args: string[], input?: string): Result {
  const kern = run(KERN, false, args, input);
  const ours = run(OURS, true, args, input);
  expect({ cmd: args.join(' '), ...ours }).toEqual({ cmd: args.join(' '), ...kern });
  return ours;
}

function sameView(): void {
  both(['iptables-legacy', '-S']);
  both(['iptables-legacy', '-L', '-n', '-v', '-x', '--line-numbers']);
  both(['iptables-legacy-save', '-c']);
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'ipc-shim-'));
  sock = join(dir, 'bpfilter.sock');
  for (const ns of [OURS, KERN, OTHER]) netnsAdd(ns);
  daemon = spawn(
    process.execPath,
    [CLI, 'daemon', '--socket', sock, '--store-only', '--state-dir', join(dir, 'state')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  daemon.stderr?.on('data', (c: Buffer) => daemonLog.push(c.toString()));
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) throw new Error(`daemon did not start: ${daemonLog.join('')}`);
});

afterAll(() => {
  daemon?.kill();
  for (const ns of [OURS, KERN, OTHER]) netnsDel(ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('stock iptables-legacy through the shim behaves as with the kernel', () => {
  it('lists the fresh table', () => {
    sameView();
  });

  it('-A -I -R -D -N -X -E -P -F -Z -C', () => {
    both(['iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
    both(['iptables-legacy', '-A', 'INPUT', '-s', '10.0.0.0/8', '-i', 'eth+', '-j', 'DROP']);
    both(['iptables-legacy', '-I', 'INPUT', '1', '-p', 'udp', '--dport', '53', '-j', 'ACCEPT']);
    both(['iptables-legacy', '-R', 'INPUT', '2', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT']);
    both(['iptables-legacy', '-N', 'web']);
    both([
      'iptables-legacy',
      '-A',
      'web',
      '-p',
      'tcp',
      '-m',
      'multiport',
      '--dports',
      '80,443',
      '-j',
      'ACCEPT',
    ]);
    both(['iptables-legacy', '-A', 'web', '-j', 'RETURN']);
    both(['iptables-legacy', '-A', 'INPUT', '-j', 'web']);
    both(['iptables-legacy', '-E', 'web', 'www']);
    sameView();
    both(['iptables-legacy', '-C', 'INPUT', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT']);
    expect(
      both(['iptables-legacy', '-C', 'INPUT', '-p', 'tcp', '--dport', '23', '-j', 'ACCEPT']).status,
    ).toBe(1);
    both(['iptables-legacy', '-D', 'INPUT', '-s', '10.0.0.0/8', '-i', 'eth+', '-j', 'DROP']);
    both(['iptables-legacy', '-D', 'INPUT', '1']);
    both(['iptables-legacy', '-P', 'FORWARD', 'DROP']);
    both(['iptables-legacy', '-X', 'www']); // still referenced: refused
    both(['iptables-legacy', '-F', 'INPUT']);
    both(['iptables-legacy', '-X', 'www']);
    both(['iptables-legacy', '-Z']);
    both(['iptables-legacy', '-P', 'INPUT', 'BOGUS']);
    sameView();
  });

  it('tables other than filter do not exist (the kernel has nat built in; we serve filter only)', () => {
    const r = run(OURS, true, ['iptables-legacy', '-t', 'nat', '-L']);
    expect(r.status).toBe(3);
    expect(r.out).toContain("can't initialize iptables table `nat': Table does not exist");
  });

  it('iptables-legacy-save / -restore round-trip 100 rules with user chains and counters', () => {
    const lines = [
      '*filter',
      ':INPUT DROP [3:180]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [9:540]',
    ];
    for (let c = 0; c < 5; c++) lines.push(`:chain${c} - [0:0]`);
    for (let i = 0; i < 100; i++) {
      const chain = i % 4 === 0 ? 'INPUT' : `chain${i % 5}`;
      const m = [
        `-p tcp -m tcp --dport ${1000 + i} -j ACCEPT`,
        `-s 192.168.${i}.0/24 -p udp -m udp --sport ${i} -j DROP`,
        `-p icmp -m icmp --icmp-type 8 -m limit --limit ${1 + (i % 9)}/sec -j ACCEPT`,
        `-m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "rule ${i}" -j ACCEPT`,
        `-p tcp -m tcp --dport ${i} -j REJECT --reject-with tcp-reset`,
        `-j LOG --log-prefix "r${i} " --log-level 4`,
      ][i % 6];
      lines.push(`[${i}:${i * 60}] -A ${chain} ${m}`);
    }
    for (let c = 0; c < 5; c++) lines.push(`-A INPUT -j chain${c}`);
    lines.push('-A chain1 -g chain2', 'COMMIT', '');
    both(['iptables-legacy-restore', '-c'], lines.join('\n'));
    sameView();
    const save = both(['iptables-legacy-save', '-c']).out;
    expect(save.split('\n').filter((l) => l.includes('-A ')).length).toBe(106);
    both(['iptables-legacy-restore', '-c'], save);
    sameView();
    both(['iptables-legacy', '-Z', 'chain1']);
    both(['iptables-legacy', '-Z', 'INPUT', '3']);
    sameView();
  });

  it('another network namespace has its own table', () => {
    expect(run(OTHER, true, ['iptables-legacy', '-S']).out).toBe(
      '-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n',
    );
    run(OTHER, true, ['iptables-legacy', '-A', 'OUTPUT', '-j', 'DROP']);
    expect(run(OTHER, true, ['iptables-legacy', '-S', 'OUTPUT']).out).toContain(
      '-A OUTPUT -j DROP',
    );
    expect(run(OURS, true, ['iptables-legacy', '-S', 'OUTPUT']).out).not.toContain('-j DROP');
  });

  it('a caller without CAP_NET_ADMIN gets EPERM, as from the kernel', () => {
    const drop = ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin'];
    const kern = run(KERN, false, ['iptables-legacy', '-L', '-n'], undefined, drop);
    const ours = run(OURS, true, ['iptables-legacy', '-L', '-n'], undefined, drop);
    expect(kern.status).not.toBe(0);
    expect(ours).toEqual(kern);
  });
});
