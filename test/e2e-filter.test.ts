// The whole path with real packets: stock iptables-legacy through the shim, the daemon with the
// BPF backend, programs attached by netfilter links in the server's netns, TCP over veth.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, daemonArgs, netnsAdd, netnsDel, requireBuild } from './ipc/helpers.js';

const tag = process.pid % 100000;
const CLIENT = `e2e-c-${tag}`;
const SERVER = `e2e-s-${tag}`;
const PINS = `/sys/fs/bpf/bpfilter-e2e-${tag}`;
let dir = '';
let sock = '';
let daemon: ChildProcess | undefined;
let listener: ChildProcess | undefined;
const log: string[] = [];

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

function iptables(...args: string[]): { status: number | null; out: string } {
  return iptablesInput(undefined, ...args);
}

/** Runs an iptables-legacy command in the server's netns through the shim, with stdin `input`. */
function iptablesInput(
  input: string | undefined,
  ...args: string[]
): { status: number | null; out: string } {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', SERVER, process.execPath, CLI, 'run', '--socket', sock, '--', ...args],
    { encoding: 'utf8', input },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Tries a TCP connection from the client; true when it is established within 1.5 s. */
function connects(port: number): boolean {
  const script = `const s=require('net').connect(${port},'10.77.0.2');s.setTimeout(1500);s.on('connect',()=>{process.stdout.write('up');s.destroy()});s.on('timeout',()=>{process.stdout.write('timeout');s.destroy()});s.on('error',e=>process.stdout.write(e.code))`;
  const r = spawnSync('ip', ['netns', 'exec', CLIENT, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 10000,
  });
  return r.stdout === 'up';
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'e2e-'));
  sock = join(dir, 'bpfilter.sock');
  netnsAdd(CLIENT);
  netnsAdd(SERVER);
  ip(
    'link',
    'add',
    `e2ec${tag}`,
    'netns',
    CLIENT,
    'type',
    'veth',
    'peer',
    'name',
    `e2es${tag}`,
    'netns',
    SERVER,
  );
  ip('-n', CLIENT, 'addr', 'add', '10.77.0.1/24', 'dev', `e2ec${tag}`);
  ip('-n', SERVER, 'addr', 'add', '10.77.0.2/24', 'dev', `e2es${tag}`);
  for (const [ns, dev] of [
    [CLIENT, `e2ec${tag}`],
    [SERVER, `e2es${tag}`],
  ] as const) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  const serve = `for(const p of [5001,5002])require('net').createServer(c=>c.end()).listen(p,'10.77.0.2');process.stdout.write('ready')`;
  listener = spawn('ip', ['netns', 'exec', SERVER, process.execPath, '-e', serve], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => listener?.stdout?.once('data', () => resolve()));
  await startDaemon();
});

async function startDaemon(): Promise<void> {
  rmSync(sock, { force: true });
  daemon = spawn(process.execPath, [CLI, ...daemonArgs(sock, PINS, join(dir, 'state'))], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  daemon.stderr?.on('data', (c: Buffer) => log.push(c.toString()));
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) throw new Error(`daemon did not start: ${log.join('')}`);
}

afterAll(() => {
  daemon?.kill();
  listener?.kill();
  rmSync(PINS, { recursive: true, force: true });
  netnsDel(CLIENT);
  netnsDel(SERVER);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('iptables-legacy → shim → helper → BPF at the netfilter hooks', () => {
  it('-A INPUT -p tcp --dport 5001 -j DROP blocks that port only, and counts', () => {
    expect(connects(5001)).toBe(true);
    expect(
      iptables('iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '5001', '-j', 'DROP')
        .status,
    ).toBe(0);
    expect(connects(5001)).toBe(false);
    expect(connects(5002)).toBe(true);
    const listing = iptables('iptables-legacy', '-L', 'INPUT', '-v', '-n', '-x').out;
    const row = listing.split('\n').find((l) => l.includes('dpt:5001'));
    expect(Number(row?.trim().split(/\s+/)[0])).toBeGreaterThan(0);
    const progs = execFileSync('bpftool', ['prog', 'show'], { encoding: 'utf8' });
    expect(progs).toContain('bpfilter_INPUT');
    expect(progs).toContain('bpf_filter');
  });

  it('-D restores the port; the previous ruleset stays when a replace is refused', async () => {
    expect(
      iptables('iptables-legacy', '-D', 'INPUT', '-p', 'tcp', '--dport', '5001', '-j', 'DROP')
        .status,
    ).toBe(0);
    expect(connects(5001)).toBe(true);
    expect(
      iptables('iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '5002', '-j', 'DROP')
        .status,
    ).toBe(0);
    expect(connects(5002)).toBe(false);
    // QUEUE has no BPF equivalent: refused, and the DROP on 5002 keeps filtering.
    const refused = iptables('iptables-legacy', '-A', 'INPUT', '-p', 'udp', '-j', 'QUEUE');
    expect(refused.status).not.toBe(0);
    expect(connects(5002)).toBe(false);
    expect(connects(5001)).toBe(true);
    expect(refused.out).toContain('Operation not supported');
    for (let i = 0; i < 40 && !log.join('').includes('QUEUE has no BPF'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(log.join('')).toContain('QUEUE has no BPF equivalent');
  });

  it('conntrack state comes from the kernel: NEW on 5001 and ESTABLISHED replies pass, 5002 not', () => {
    const rules = [
      '*filter',
      ':INPUT DROP [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
      '-A INPUT -p tcp -m tcp --dport 5001 -m conntrack --ctstate NEW -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n');
    expect(iptablesInput(rules, 'iptables-legacy-restore').status).toBe(0);
    expect(connects(5001)).toBe(true);
    expect(connects(5002)).toBe(false);
    const listing = iptables('iptables-legacy', '-L', 'INPUT', '-v', '-n', '-x').out.split('\n');
    const packets = (needle: string): number =>
      Number(
        listing
          .find((l) => l.includes(needle))
          ?.trim()
          .split(/\s+/)[0],
      );
    expect(packets('state RELATED,ESTABLISHED')).toBeGreaterThan(0);
    expect(packets('ctstate NEW')).toBe(1);
  });

  it('replaces under a steady UDP stream lose no packet; a replace to DROP takes effect', async () => {
    const saved = iptables('iptables-legacy-save').out;
    const restore = (text: string): number | null =>
      iptablesInput(text, 'iptables-legacy-restore').status;
    expect(
      restore(
        '*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 6000 -j ACCEPT\nCOMMIT\n',
      ),
    ).toBe(0);
    /** Sends `count` datagrams one every 2 ms to the server's port 6000; resolves to how many arrived. */
    const stream = async (count: number, during: () => Promise<void>): Promise<number> => {
      const recv = `const s=require('dgram').createSocket('udp4');let n=0;s.on('message',()=>{n++});s.bind(6000,'10.77.0.2',()=>process.stdout.write('ready'));process.on('SIGTERM',()=>{process.stdout.write(' '+n);process.exit(0)})`;
      const receiver = spawn('ip', ['netns', 'exec', SERVER, process.execPath, '-e', recv], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      receiver.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      await new Promise<void>((resolve) => receiver.stdout?.once('data', () => resolve()));
      const send = `const s=require('dgram').createSocket('udp4');let i=0;const t=setInterval(()=>{s.send('x',6000,'10.77.0.2');if(++i===${count}){clearInterval(t);setTimeout(()=>s.close(),100)}},2)`;
      const sender = spawn('ip', ['netns', 'exec', CLIENT, process.execPath, '-e', send], {
        stdio: 'ignore',
      });
      const done = new Promise((r) => sender.on('exit', r));
      await during();
      await done;
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise((r) => receiver.on('exit', r));
      receiver.kill('SIGTERM');
      await exited;
      return Number(out.trim().split(' ').pop());
    };
    // Nothing acknowledges these datagrams: only a window without a filter program could lose one.
    const received = await stream(3000, async () => {
      for (let i = 0; i < 12; i++) {
        expect(
          iptables(
            'iptables-legacy',
            '-I',
            'INPUT',
            '1',
            '-p',
            'udp',
            '--dport',
            String(7000 + i),
            '-j',
            'ACCEPT',
          ).status,
        ).toBe(0);
        await new Promise((r) => setTimeout(r, 150));
      }
    });
    expect(received).toBe(3000);
    expect(
      iptables('iptables-legacy', '-I', 'INPUT', '1', '-p', 'udp', '--dport', '6000', '-j', 'DROP')
        .status,
    ).toBe(0);
    expect(await stream(100, async () => undefined)).toBe(0);
    expect(restore(saved)).toBe(0);
  }, 60_000);

  it('the filtering outlives the helper; a new helper answers as before and takes over', async () => {
    const before = iptables('iptables-legacy-save', '-c').out.replace(/^#.*\n/gm, '');
    daemon?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    expect(connects(5002)).toBe(false);
    expect(connects(5001)).toBe(true);
    await startDaemon();
    const after = iptables('iptables-legacy-save', '-c').out.replace(/^#.*\n/gm, '');
    // Same rules; counters only grew (the two connection attempts above).
    const strip = (t: string): string => t.replace(/\[\d+:\d+\]/g, '[n:n]');
    expect(strip(after)).toBe(strip(before));
    // Read from the pinned counters at the half the earlier helper left active: none went back.
    const counts = (t: string): number[] =>
      [...t.matchAll(/\[(\d+):(\d+)\]/g)].flatMap((m) => [Number(m[1]), Number(m[2])]);
    const [b, a] = [counts(before), counts(after)];
    expect(a.length).toBe(b.length);
    a.forEach((v, i) => expect(v).toBeGreaterThanOrEqual(b[i] as number));
    expect(after).not.toBe(before);
    for (let i = 0; i < 40 && !log.join('').includes('"event":"resumed"'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(log.join('')).toContain('"event":"resumed"');
    expect(
      iptables('iptables-legacy', '-I', 'INPUT', '1', '-p', 'tcp', '--dport', '5001', '-j', 'DROP')
        .status,
    ).toBe(0);
    expect(connects(5001)).toBe(false);
  });
});
