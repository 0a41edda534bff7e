// `bpfilter status` against a real daemon: rule counts, applies and refusals as iptables saw
// them, and every program, link, map and pin id checked against what bpftool shows; then after a
// restart, the tables an earlier helper left (not read yet) with the programs still running.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPath } from '../../src/ipc/control.js';
import { ApplyHistory, type DaemonStatus, type NetnsStatus } from '../../src/ipc/status.js';
import { CLI, daemonArgs, netnsAdd, netnsDel, requireBuild } from './helpers.js';

const tag = `${process.pid}`;
const NS = `status-${tag}`;
const PINS = `/sys/fs/bpf/bpfilter-status-${tag}`;
let dir = '';
let sock = '';
let daemon: ChildProcess | undefined;
const daemonLog: string[] = [];

const RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:svc - [0:0]
-A INPUT -p tcp --dport 22 -j ACCEPT
-A INPUT -p icmp -j DROP
-A INPUT -j svc
-A svc -p udp --dport 53 -j ACCEPT
COMMIT
`;

async function startDaemon(): Promise<void> {
  daemon = spawn(process.execPath, [CLI, ...daemonArgs(sock, PINS, join(dir, 'state'))], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  daemon.stderr?.on('data', (c: Buffer) => daemonLog.push(c.toString()));
  const r = cli(['status', '--socket', sock, '--wait', '20', '--quiet']);
  if (r.status !== 0) throw new Error(`daemon did not come up: ${daemonLog.join('')}`);
}

function stopDaemon(): Promise<void> {
  const d = daemon;
  daemon = undefined;
  if (!d || d.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    d.on('exit', () => resolve());
    d.kill();
  });
}

function cli(args: string[], input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8' });
}

function inNs(args: string[], input?: string) {
  return spawnSync(
    'ip',
    ['netns', 'exec', NS, process.execPath, CLI, 'run', '--socket', sock, '--', ...args],
    { input, encoding: 'utf8' },
  );
}

function status(): DaemonStatus {
  const r = cli(['status', '--socket', sock, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as DaemonStatus;
}

function ours(s: DaemonStatus): NetnsStatus {
  const ns = s.namespaces.find((n) => n.names.includes(NS));
  if (!ns) throw new Error(`no namespace ${NS} in ${JSON.stringify(s.namespaces)}`);
  return ns;
}

const bpftool = <T>(...args: string[]): T =>
  JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' })) as T;

interface ToolProg {
  id: number;
  name?: string;
  map_ids?: number[];
}
interface ToolLink {
  id: number;
  prog_id: number;
  type: string;
  hook?: number;
}
interface ToolMap {
  id: number;
  name?: string;
}

/** Every id status reports is the kernel's, with the kernel's names, and nothing is left out. */
function checkAgainstBpftool(ns: NetnsStatus): void {
  const k = ns.kernel;
  if (!k) throw new Error('no kernel section');
  const progs = new Map(bpftool<ToolProg[]>('prog', 'show').map((p) => [p.id, p]));
  const links = new Map(bpftool<ToolLink[]>('link', 'show').map((l) => [l.id, l]));
  const maps = new Map(bpftool<ToolMap[]>('map', 'show').map((m) => [m.id, m]));
  // A dispatcher per filter hook, and in each one's slot the table's one program.
  expect(k.programs.map((p) => `${p.hook} ${p.name}`)).toEqual([
    'INPUT bpfilter_INPUT',
    'INPUT bpf_filter',
    'FORWARD bpfilter_FORWAR',
    'FORWARD bpf_filter',
    'OUTPUT bpfilter_OUTPUT',
    'OUTPUT bpf_filter',
  ]);
  expect(new Set(k.programs.filter((p) => p.name === 'bpf_filter').map((p) => p.id)).size).toBe(1);
  for (const p of k.programs) expect(progs.get(p.id)?.name).toBe(p.name);
  expect(k.links.map((l) => l.hook)).toEqual(['INPUT', 'FORWARD', 'OUTPUT']);
  for (const l of k.links) {
    const tool = links.get(l.id);
    // Debian 12's bpftool predates netfilter links: it prints their type as the number 10.
    expect(tool).toMatchObject({ type: 10, prog_id: l.progId });
    expect(k.programs.find((p) => p.id === l.progId)?.name).toBe(`bpfilter_${l.hook}`.slice(0, 15));
  }
  // The maps are exactly those bpftool says the programs use.
  const used = new Set(k.programs.flatMap((p) => progs.get(p.id)?.map_ids ?? []));
  expect(new Set(k.maps.map((m) => m.id))).toEqual(used);
  for (const m of k.maps) expect(maps.get(m.id)?.name).toBe(m.name);
  expect(k.maps.map((m) => m.name)).toContain('bpf_filter_cnt');
  // Each pinned link is the link reported for its hook.
  for (const l of k.links) {
    const pin = k.pins.find((p) => p.endsWith(`/${l.hook}_link`));
    expect(pin).toBeDefined();
    expect(bpftool<ToolLink>('link', 'show', 'pinned', pin as string).id).toBe(l.id);
  }
  for (const p of k.pins) expect(existsSync(p)).toBe(true);
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'status-'));
  sock = join(dir, 'bpfilter.sock');
  netnsAdd(NS);
  await startDaemon();
});

afterAll(async () => {
  await stopDaemon();
  netnsDel(NS);
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bpfilter status', () => {
  it('shows the daemon up, before any ruleset', () => {
    const s = status();
    expect(s).toMatchObject({
      version: '0.1.0',
      socket: sock,
      control: join(dir, 'bpfilter.ctl'),
      pinRoot: PINS,
      backend: 'bpf (netfilter hooks)',
    });
    expect(s.pid).toBe(daemon?.pid);
    expect(s.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(s.uptimeSeconds).toBeLessThan(120);
    expect(s.namespaces.find((n) => n.names.includes(NS))).toBeUndefined();
  });

  it('counts rules, applies and refusals, and reports the kernel objects bpftool shows', () => {
    expect(inNs(['iptables-legacy-restore'], RULES).status).toBe(0);
    // MARK writes the skb, which a netfilter BPF program cannot: refused by design.
    const refused = inNs(['iptables-legacy', '-A', 'INPUT', '-j', 'MARK', '--set-mark', '1']);
    expect(refused.status).not.toBe(0);
    const s = status();
    const ns = ours(s);
    const filter = ns.tables.find((t) => t.name === 'filter');
    // 4 rules, 3 policies, the user chain's head and RETURN footer, the final ERROR entry.
    expect(filter).toMatchObject({ rules: 4, chains: 4, entries: 10, loaded: true });
    const listed = inNs(['iptables-legacy', '-S']).stdout.split('\n');
    expect(listed.filter((l) => l.startsWith('-A ')).length).toBe(filter?.rules);
    expect(listed.filter((l) => /^-[PN] /.test(l)).length).toBe(filter?.chains);
    expect(filter?.applies).toBe(2);
    expect(filter?.refusedCount).toBe(1);
    expect(filter?.refused).toHaveLength(1);
    const r = filter?.refused[0];
    expect(r?.result).toBe('ENOENT');
    expect(r?.reason).toContain('MARK');
    expect(filter?.lastApply).toEqual(r);
    expect(r?.ms).toBeGreaterThan(0);
    checkAgainstBpftool(ns);

    const text = cli(['status', '--socket', sock]).stdout;
    expect(text).toContain(`bpfilter 0.1.0: up, pid ${daemon?.pid}`);
    expect(text).toContain(`netns ${ns.id} (${NS})`);
    expect(text).toContain('filter: 4 rules in 4 chains, 10 entries');
    expect(text).toContain('applies: 2, refused: 1');
    expect(text).toMatch(/refused .* ms: ENOENT: .*MARK/);
    const input = ns.kernel?.links.find((l) => l.hook === 'INPUT');
    expect(text).toContain(`INPUT: link ${input?.id}, bpfilter_INPUT (prog ${input?.progId})`);
  });

  it('after a restart, shows what an earlier helper left running, read from its pins', async () => {
    const before = ours(status()).kernel;
    await stopDaemon();
    const down = cli(['status', '--socket', sock]);
    expect(down.status).toBe(3);
    expect(down.stderr).toContain(
      `bpfilter is not running: no answer on ${join(dir, 'bpfilter.ctl')}`,
    );
    const downJson = cli(['status', '--socket', sock, '--json']);
    expect(downJson.status).toBe(3);
    expect(JSON.parse(downJson.stdout)).toMatchObject({ up: false });

    await startDaemon();
    const ns = ours(status());
    expect(ns.tables).toEqual([
      expect.objectContaining({ name: 'filter', rules: 4, loaded: false, applies: 0 }),
    ]);
    expect(ns.kernel).toEqual(before);
    checkAgainstBpftool(ns);
  });
});

describe('ApplyHistory', () => {
  it('counts every apply, keeps the last one and the latest ten refusals', () => {
    const h = new ApplyHistory();
    const rec = (i: number, result: string) => ({ at: `t${i}`, ms: i, result });
    for (let i = 0; i < 12; i++) h.record('1', 'filter', rec(i, 'EINVAL'));
    h.record('1', 'filter', rec(12, 'ok'));
    const t = h.get('1', 'filter');
    expect(t?.applies).toBe(13);
    expect(t?.refusedCount).toBe(12);
    expect(t?.last).toEqual(rec(12, 'ok'));
    expect(t?.refused.map((r) => r.at)).toEqual(
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => `t${i}`),
    );
    h.record('2', '', rec(0, 'EINVAL'));
    expect(h.keys()).toEqual([
      ['1', 'filter'],
      ['2', ''],
    ]);
    h.forget('1');
    expect(h.keys()).toEqual([['2', '']]);
  });

  it('puts the control socket beside the sockopt socket', () => {
    expect(controlPath('/run/bpfilter/bpfilter.sock')).toBe('/run/bpfilter/bpfilter.ctl');
    expect(controlPath('/tmp/x')).toBe('/tmp/x.ctl');
  });
});
