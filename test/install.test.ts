// `make install` into a throwaway prefix with a throwaway alternatives system (its own
// --altdir, --admindir and link directory, set up as Debian's iptables postinst does), then a
// stock program calling `iptables` through the alternative's link gets BPF rules that decide
// packets over a veth, and `make uninstall` puts back the alternative it found and leaves the
// kernel's own iptables working. The machine's real iptables alternative is never touched.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonStatus } from '../src/ipc/status.js';
import { netnsAdd, netnsDel, requireBuild, ROOT } from './ipc/helpers.js';

const tag = `${process.pid}`;
const NS = `inst-${tag}`;
const PEER = `instp-${tag}`;
const PINS = `/sys/fs/bpf/bpfilter-inst-${tag}`;
let T = '';
let daemon: ChildProcess | undefined;
let daemonExit: Promise<number | null> | undefined;

const dirs = () => ({
  prefix: join(T, 'prefix'),
  links: join(T, 'sbin'),
  alt: join(T, 'alternatives'),
  admin: join(T, 'admin'),
  log: join(T, 'alternatives.log'),
  sock: join(T, 'run', 'bpfilter.sock'),
  state: join(T, 'run', 'state'),
});

function ua(...args: string[]): string {
  const d = dirs();
  return execFileSync(
    'update-alternatives',
    ['--altdir', d.alt, '--admindir', d.admin, '--log', d.log, ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Status and value of the throwaway iptables group. */
function selection(): string {
  const q = ua('--query', 'iptables');
  return `${/^Status: (.*)$/m.exec(q)?.[1]} ${/^Value: (.*)$/m.exec(q)?.[1]}`;
}

/** The machine's own iptables alternative, which nothing here may change. */
function realAlternative(): string {
  const q = spawnSync('update-alternatives', ['--query', 'iptables'], { encoding: 'utf8' }).stdout;
  return `${readlinkSync('/usr/sbin/iptables')} ${readlinkSync('/etc/alternatives/iptables')} ${q}`;
}

function make(target: string): { status: number | null; out: string } {
  const d = dirs();
  const r = spawnSync(
    'make',
    [
      '-s',
      target,
      `PREFIX=${d.prefix}`,
      `ALTDIR=${d.alt}`,
      `ADMINDIR=${d.admin}`,
      `LINKDIR=${d.links}`,
      `INSTALL_ARGS=--alt-log ${d.log} --socket ${d.sock} --pin-root ${PINS} --state-dir ${d.state} --no-systemctl`,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const unitPath = () => join(dirs().prefix, 'lib', 'systemd', 'system', 'bpfilter.service');
const unitLine = (key: string): string[] => {
  const v = new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(unitPath(), 'utf8'))?.[1];
  if (v === undefined) throw new Error(`no ${key}= in the unit`);
  return v.split(' ');
};

/** Runs `cmd` in `ns` with only the throwaway link directory in front of PATH. */
function inNs(ns: string, script: string) {
  return spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dirs().links}:/usr/sbin:/usr/bin:/sbin:/bin` },
  });
}

const pingOk = (): boolean =>
  spawnSync('ip', ['netns', 'exec', PEER, 'ping', '-c', '1', '-W', '1', '10.98.0.1']).status === 0;

let realBefore = '';

beforeAll(() => {
  requireBuild();
  realBefore = realAlternative();
  T = mkdtempSync(join(tmpdir(), 'install-'));
  const d = dirs();
  for (const p of [d.links, d.alt, d.admin]) mkdirSync(p, { recursive: true });
  // The throwaway group as Debian's iptables package leaves it, then chosen by hand.
  for (const [flavor, prio] of [
    ['legacy', '10'],
    ['nft', '20'],
  ] as const) {
    ua(
      '--install',
      join(d.links, 'iptables'),
      'iptables',
      `/usr/sbin/iptables-${flavor}`,
      prio,
      '--slave',
      join(d.links, 'iptables-restore'),
      'iptables-restore',
      `/usr/sbin/iptables-${flavor}-restore`,
      '--slave',
      join(d.links, 'iptables-save'),
      'iptables-save',
      `/usr/sbin/iptables-${flavor}-save`,
    );
  }
  ua('--set', 'iptables', '/usr/sbin/iptables-legacy');
  for (const ns of [NS, PEER]) netnsAdd(ns);
  execFileSync('ip', [
    'link',
    'add',
    'instv0',
    'netns',
    NS,
    'type',
    'veth',
    'peer',
    'name',
    'instv1',
    'netns',
    PEER,
  ]);
  for (const [ns, dev, addr] of [
    [NS, 'instv0', '10.98.0.1/24'],
    [PEER, 'instv1', '10.98.0.2/24'],
  ] as const) {
    execFileSync('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
    execFileSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
});

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    daemon.kill();
    await daemonExit;
  }
  for (const ns of [NS, PEER]) netnsDel(ns);
  rmSync(PINS, { recursive: true, force: true });
  if (T) rmSync(T, { recursive: true, force: true });
  expect(realAlternative()).toBe(realBefore);
});

describe('make install / make uninstall', () => {
  it('installs the helper, the wrappers, the unit and the module sources, twice alike', () => {
    const d = dirs();
    for (let i = 0; i < 2; i++) {
      const r = make('install');
      expect(r.status, r.out).toBe(0);
      expect(selection()).toBe(`manual ${join(d.prefix, 'sbin', 'iptables-bpfilter')}`);
    }
    for (const f of [
      'sbin/bpfilter',
      'sbin/iptables-bpfilter',
      'sbin/iptables-bpfilter-save',
      'sbin/iptables-bpfilter-restore',
      'lib/bpfilter/shim.so',
      'lib/bpfilter/native/build/sys.node',
      'lib/bpfilter/dist/src/cli.js',
      'src/bpfilter-0.1.0/bpfilter.c',
      'src/bpfilter-0.1.0/dkms.conf',
    ]) {
      expect(existsSync(join(d.prefix, f)), f).toBe(true);
    }
    // The slaves follow the master, as with iptables-legacy and iptables-nft.
    for (const c of ['iptables-save', 'iptables-restore']) {
      expect(readlinkSync(join(d.alt, c))).toBe(
        join(d.prefix, 'sbin', c.replace('iptables', 'iptables-bpfilter')),
      );
    }
    // The second install kept the selection found by the first, not its own.
    const manifest = JSON.parse(
      readFileSync(join(d.prefix, 'lib', 'bpfilter', 'install.json'), 'utf8'),
    ) as { previous?: unknown };
    expect(manifest.previous).toEqual({ status: 'manual', value: '/usr/sbin/iptables-legacy' });
  });

  it('writes a unit systemd-analyze verify accepts, with nothing that hides /sys/fs/bpf or /run', () => {
    const r = spawnSync('systemd-analyze', ['verify', unitPath()], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    const text = readFileSync(unitPath(), 'utf8');
    expect(text).toMatch(/^Restart=on-failure$/m);
    expect(text).toMatch(/^WantedBy=multi-user.target$/m);
    for (const hiding of [
      'PrivateMounts',
      'PrivateNetwork',
      'PrivateTmp',
      'PrivateDevices',
      'ProtectSystem',
      'ProtectKernelTunables',
      'ProtectControlGroups',
      'ReadOnlyPaths',
      'InaccessiblePaths',
      'TemporaryFileSystem',
      'RootDirectory',
      'RuntimeDirectory',
      'NetworkNamespacePath',
    ]) {
      expect(text).not.toMatch(new RegExp(`^${hiding}=`, 'm'));
    }
  });

  it("runs the unit's ExecStart; a stock iptables via the alternative gets BPF rules", async () => {
    expect(pingOk()).toBe(true);
    const [file, ...args] = unitLine('ExecStart');
    daemon = spawn(file as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const log: string[] = [];
    daemon.stderr?.on('data', (c: Buffer) => log.push(c.toString()));
    const d = daemon;
    daemonExit = new Promise((resolve) => d.on('exit', (code) => resolve(code)));
    const [post, ...postArgs] = unitLine('ExecStartPost');
    expect(spawnSync(post as string, postArgs).status, log.join('')).toBe(0);

    // `iptables` by name, as scripts and ufw's helpers call it: the alternative's link.
    const add = inNs(NS, 'iptables -A INPUT -p icmp -j DROP');
    expect(add.status, add.stderr).toBe(0);
    expect(pingOk()).toBe(false);
    const list = inNs(NS, `${join(dirs().links, 'iptables')} -L INPUT -v -n -x`);
    expect(list.status, list.stderr).toBe(0);
    const drop = list.stdout.split('\n').find((l) => /\bDROP\b/.test(l)) ?? '';
    expect(Number(drop.trim().split(/\s+/)[0])).toBeGreaterThanOrEqual(1);
    const saved = inNs(NS, 'iptables-save');
    expect(saved.stdout).toContain('-A INPUT -p icmp -j DROP');

    // Served by the installed helper, with its programs in the kernel.
    const st = spawnSync(
      join(dirs().prefix, 'sbin', 'bpfilter'),
      ['status', '--socket', dirs().sock, '--json'],
      { encoding: 'utf8' },
    );
    expect(st.status, st.stderr).toBe(0);
    const ns = (JSON.parse(st.stdout) as DaemonStatus).namespaces.find((n) => n.names.includes(NS));
    expect(ns?.tables[0]).toMatchObject({ name: 'filter', rules: 1, applies: 1 });
    expect(ns?.kernel?.programs.map((p) => p.name)).toContain('bpf_filter');
  });

  it('uninstalls: the earlier alternative back, the daemon stopped, the kernel iptables working', async () => {
    for (let i = 0; i < 2; i++) {
      const r = make('uninstall');
      expect(r.status, r.out).toBe(0);
      expect(selection()).toBe('manual /usr/sbin/iptables-legacy');
    }
    // Stopped by uninstall (SIGTERM), not by the test.
    expect(await daemonExit).toBeNull();
    expect(existsSync(PINS)).toBe(false);
    expect(existsSync(join(dirs().prefix, 'lib', 'bpfilter'))).toBe(false);
    expect(existsSync(join(dirs().prefix, 'sbin', 'iptables-bpfilter'))).toBe(false);
    // No BPF rule is left deciding packets, and `iptables` is the kernel's own again.
    expect(pingOk()).toBe(true);
    const add = inNs(NS, 'iptables -A INPUT -p icmp -j DROP && iptables-legacy -S INPUT');
    expect(add.status, add.stderr).toBe(0);
    expect(add.stdout).toContain('-A INPUT -p icmp -j DROP');
    expect(pingOk()).toBe(false);
  });

  it('stages into DESTDIR without registering or starting anything', () => {
    const stage = join(T, 'stage');
    const before = selection();
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'dist', 'src', 'cli.js'), 'install', '--prefix', '/usr', '--destdir', stage],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(stage, 'usr', 'lib', 'systemd', 'system', 'bpfilter.service'))).toBe(
      true,
    );
    expect(readFileSync(join(stage, 'usr', 'sbin', 'iptables-bpfilter'), 'utf8')).toContain(
      "LD_PRELOAD='/usr/lib/bpfilter/shim.so'",
    );
    expect(selection()).toBe(before);
  });
});
