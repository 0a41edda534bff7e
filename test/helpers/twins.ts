// Two identical client/server pairs of namespaces: the kernel's iptables-legacy filters one
// server, our helper (the daemon, and the stock iptables-legacy binaries through the shim) the
// other. Tests run the same traffic through both and compare what the kernel and we did.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, daemonArgs as ourDaemon, netnsAdd, netnsDel, requireBuild } from '../ipc/helpers.js';

export const SIDES = ['kernel', 'bpf'] as const;
export type Side = (typeof SIDES)[number];

export interface TwinOptions {
  /** Give the clients this address (none: they inject at L2 only). */
  readonly clientAddr?: string;
  readonly serverAddr: string;
  /** Addresses the servers reach at the client's MAC without ARP (sources a test spoofs). */
  readonly neighbours?: readonly string[];
  /** The server's interface name (srv0 unless told): what its rules' -i names. */
  readonly serverDev?: string;
}

export const CLIENT_MAC = '02:00:00:00:00:01';
export const SERVER_MAC = '02:00:00:00:00:02';

export class Twins {
  readonly dir = mkdtempSync(join(tmpdir(), 'twins-'));
  readonly sock = join(this.dir, 'bpfilter.sock');
  private readonly pins: string;
  private daemon: ChildProcess | undefined;
  /** The daemon's stderr goes to a file: readable while a synchronous command blocks the loop. */
  private readonly logPath = join(this.dir, 'daemon.log');

  constructor(
    private readonly tag: string,
    private readonly opts: TwinOptions,
  ) {
    this.pins = `/sys/fs/bpf/bpfilter-${tag}`;
  }

  ns(side: Side, role: 'c' | 's'): string {
    return `${this.tag}${role}-${side}`;
  }

  /** Builds both pairs and starts our daemon with `daemonArgs` (e.g. --log-file). */
  async start(daemonArgs: readonly string[] = []): Promise<void> {
    requireBuild();
    const ip = (...a: string[]): void => void execFileSync('ip', a);
    const dev = this.opts.serverDev ?? 'srv0';
    for (const side of SIDES) {
      const [c, s] = [this.ns(side, 'c'), this.ns(side, 's')];
      netnsAdd(c);
      netnsAdd(s);
      ip('link', 'add', 'cli0', 'netns', c, 'type', 'veth', 'peer', 'name', dev, 'netns', s);
      ip('-n', c, 'link', 'set', 'cli0', 'address', CLIENT_MAC, 'up');
      ip('-n', s, 'link', 'set', dev, 'address', SERVER_MAC, 'up');
      ip('-n', c, 'link', 'set', 'lo', 'up');
      ip('-n', s, 'link', 'set', 'lo', 'up');
      ip('-n', s, 'addr', 'add', `${this.opts.serverAddr}/24`, 'dev', dev);
      // Permanent neighbours: no ARP exchange whose timing could differ between the sides.
      const neigh = (n: string, addr: string, mac: string, link: string): void =>
        ip('-n', n, 'neigh', 'replace', addr, 'lladdr', mac, 'dev', link, 'nud', 'permanent');
      if (this.opts.clientAddr !== undefined) {
        ip('-n', c, 'addr', 'add', `${this.opts.clientAddr}/24`, 'dev', 'cli0');
        neigh(c, this.opts.serverAddr, SERVER_MAC, 'cli0');
        neigh(s, this.opts.clientAddr, CLIENT_MAC, dev);
      }
      for (const a of this.opts.neighbours ?? []) neigh(s, a, CLIENT_MAC, dev);
      this.sysctl(side, 'net.ipv4.icmp_ratelimit=0');
      this.sysctl(side, 'net.ipv4.icmp_msgs_burst=10000');
    }
    this.daemonArgs = daemonArgs;
    await this.spawnDaemon();
  }

  private daemonArgs: readonly string[] = [];

  private async spawnDaemon(): Promise<void> {
    rmSync(this.sock, { force: true });
    const log = openSync(this.logPath, 'a');
    try {
      this.daemon = spawn(
        process.execPath,
        [CLI, ...ourDaemon(this.sock, this.pins, join(this.dir, 'state'), this.daemonArgs)],
        { stdio: ['ignore', 'ignore', log] },
      );
    } finally {
      closeSync(log);
    }
    for (let i = 0; i < 100 && !existsSync(this.sock); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!existsSync(this.sock)) throw new Error(`daemon did not start: ${this.daemonLog.join('')}`);
  }

  /** What the daemon logged, and whether it still runs (a command's error shows both). */
  get daemonLog(): string[] {
    const text = existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
    return [text, `(${this.daemonState()})\n`];
  }

  /**
   * Read from /proc, not from the child's 'exit' event, which a synchronous command keeps from
   * running: a dead daemon not yet reaped is a zombie whose stat carries its wait status.
   */
  private daemonState(): string {
    const pid = this.daemon?.pid;
    if (pid === undefined) return 'daemon not started';
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      const d = this.daemon;
      return `daemon ${pid} gone: code ${d?.exitCode ?? '-'}, signal ${d?.signalCode ?? '-'}`;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z') return `daemon ${pid} running (${fields[0] ?? '?'})`;
    // Field 52, exit_code: the wait status (signal in the low 7 bits, exit code above).
    const status = Number(fields[49]);
    return `daemon ${pid} dead: code ${status >> 8}, signal ${status & 0x7f}`;
  }

  private readonly servers: ChildProcess[] = [];

  /** Runs node `script` in both servers until close(); resolves once each printed something. */
  async serve(script: string): Promise<void> {
    for (const side of SIDES) {
      const p = spawn('ip', ['netns', 'exec', this.ns(side, 's'), process.execPath, '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      this.servers.push(p);
      await new Promise<void>((resolve) => p.stdout?.once('data', () => resolve()));
    }
  }

  /** Stops our daemon and starts another on the same pins and state (a helper restart). */
  async restartDaemon(): Promise<void> {
    const old = this.daemon;
    if (old && old.exitCode === null) {
      const gone = new Promise((r) => old.once('exit', r));
      old.kill();
      await gone;
    }
    await this.spawnDaemon();
  }

  private pktioPath: string | undefined;

  /**
   * Sends crafted IP packets from a side's client as Ethernet frames to the server's MAC
   * (cdc-pktio, built once); returns the IP packets (hex) of the frames that came back within
   * `waitMs`.
   */
  inject(side: Side, packets: readonly Buffer[], waitMs = 50): string[] {
    if (this.pktioPath === undefined) {
      this.pktioPath = join(this.dir, 'pktio');
      execFileSync('gcc', ['-O2', '-o', this.pktioPath, join(import.meta.dirname, 'cdc-pktio.c')]);
    }
    const mac = (m: string): string => m.replaceAll(':', '');
    const frames = packets.map(
      (p) => `${mac(SERVER_MAC)}${mac(CLIENT_MAC)}0800${p.toString('hex')}`,
    );
    const r = spawnSync(
      'ip',
      ['netns', 'exec', this.ns(side, 'c'), this.pktioPath, 'cli0', String(waitMs)],
      { input: frames.join('\n') + '\n', encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`pktio: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith(mac(CLIENT_MAC)) && l.slice(24, 28) === '0800')
      .map((l) => l.slice(28));
  }

  sysctl(side: Side, kv: string): void {
    execFileSync('ip', ['netns', 'exec', this.ns(side, 's'), 'sysctl', '-qw', kv]);
  }

  /** An iptables-legacy command in a side's server: the kernel's, or ours through the shim. */
  iptables(side: Side, args: readonly string[], input?: string): string {
    const r = this.tryIptables(side, args, input);
    if (r.status !== 0) {
      throw new Error(`${side}: ${args.join(' ')}: ${r.stderr}\n${this.daemonLog.join('')}`);
    }
    return r.stdout;
  }

  /** As iptables(), for a command that may fail: its exit status and output. */
  tryIptables(
    side: Side,
    args: readonly string[],
    input?: string,
  ): { status: number | null; stdout: string; stderr: string } {
    const cmd =
      side === 'kernel'
        ? [...args]
        : [process.execPath, CLI, 'run', '--socket', this.sock, '--', ...args];
    return spawnSync('ip', ['netns', 'exec', this.ns(side, 's'), ...cmd], {
      input,
      encoding: 'utf8',
    });
  }

  restore(side: Side, save: string): void {
    this.iptables(side, ['iptables-legacy-restore'], save);
  }

  /** `iptables-legacy-save -c` of the filter table, without its header comments. */
  counters(side: Side): string {
    return this.iptables(side, ['iptables-legacy-save', '-c', '-t', 'filter'])
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
  }

  /** Runs a command in a side's namespace; returns stdout. */
  exec(side: Side, role: 'c' | 's', cmd: readonly string[], input?: string): string {
    const r = spawnSync('ip', ['netns', 'exec', this.ns(side, role), ...cmd], {
      input,
      encoding: 'utf8',
      timeout: 20000,
    });
    if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  close(): void {
    for (const p of this.servers) p.kill();
    this.daemon?.kill();
    for (const side of SIDES) {
      netnsDel(this.ns(side, 'c'));
      netnsDel(this.ns(side, 's'));
    }
    rmSync(this.pins, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const filterTable = (rules: string, chains: readonly string[] = []): string =>
  [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    ...rules.trim().split('\n'),
    'COMMIT',
    '',
  ].join('\n');
