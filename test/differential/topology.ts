// The differential topology: one sender namespace with no address wired to two routers, K (the
// kernel's iptables-legacy filter table) and B (our helper's BPF, driven through the shim), each
// with a far host behind it. Both routers have the same interface names, MACs, addresses, routes
// and permanent neighbours, so the same frames meet both rulesets and leave them as the same bytes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { daemonArgs } from '../ipc/helpers.js';

/** The repository root, from the sources (test/differential) or the build (dist/test/differential). */
export const ROOT = ((): string => {
  let d = import.meta.dirname;
  while (!existsSync(join(d, 'package.json'))) d = dirname(d);
  return d;
})();
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const SHIM = join(ROOT, 'native', 'build', 'shim.so');
const PKTIO_SRC = join(ROOT, 'test', 'differential', 'pktio.c');

/** Where a packet enters: a router's ingress from the sender, its egress from the far host, or
 *  the router's own stack (a raw socket inside it, for OUTPUT). */
export type Port = 'in0' | 'in1' | 'out0' | 'out1' | 'local';

export const MAC = {
  sender: ['02:00:00:00:00:10', '02:00:00:00:00:11'],
  routerIn: ['02:00:00:00:01:00', '02:00:00:00:01:01'],
  routerOut: ['02:00:00:00:01:02', '02:00:00:00:01:03'],
  far: ['02:00:00:00:02:00', '02:00:00:00:02:01'],
} as const;

/** The routers' own addresses are all /32: every other address is reached through a gateway whose
 *  neighbour entry is permanent, so no spoofed source ever needs ARP. */
const ROUTER_SETUP = [
  'addr add 10.1.0.1/32 dev in0',
  'addr add 10.2.0.1/32 dev in1',
  'addr add 10.9.0.1/32 dev out0',
  'addr add 10.10.0.1/32 dev out1',
  'route add default via 10.1.0.254 dev in0 onlink',
  'route add 10.2.0.0/16 via 10.2.0.254 dev in1 onlink',
  'route add 172.16.0.0/12 via 10.2.0.254 dev in1 onlink',
  'route add 10.9.0.0/16 via 10.9.0.254 dev out0 onlink',
  'route add 10.10.0.0/16 via 10.10.0.254 dev out1 onlink',
  `neigh add 10.1.0.254 lladdr ${MAC.sender[0]} dev in0 nud permanent`,
  `neigh add 10.2.0.254 lladdr ${MAC.sender[1]} dev in1 nud permanent`,
  `neigh add 10.9.0.254 lladdr ${MAC.far[0]} dev out0 nud permanent`,
  `neigh add 10.10.0.254 lladdr ${MAC.far[1]} dev out1 nud permanent`,
];

/** Sysctls that make both routers' own traffic a function of the packets alone. */
const ROUTER_SYSCTLS = [
  'net.ipv4.ip_forward=1',
  'net.ipv4.icmp_ratelimit=0',
  'net.ipv4.icmp_msgs_per_sec=1000000',
  'net.ipv4.icmp_msgs_burst=1000000',
  'net.ipv4.conf.all.rp_filter=0',
  'net.ipv4.conf.default.rp_filter=0',
  'net.ipv4.conf.all.send_redirects=0',
  'net.ipv4.conf.default.send_redirects=0',
  // Stale fragment queues die before the next run's ids could meet them.
  'net.ipv4.ipfrag_time=1',
];

/** Marks and NOTRACK set before the filter hook, by the kernel's mangle and raw tables on both
 *  routers alike. */
export const BEFORE_FILTER = [
  '*mangle',
  '-A PREROUTING -p tcp -j MARK --set-xmark 0x1/0x1',
  '-A PREROUTING -m ttl --ttl-lt 32 -j MARK --set-xmark 0x2/0x2',
  '-A PREROUTING -m length --length 0:100 -j MARK --set-xmark 0x10/0x10',
  '-A OUTPUT -p udp -j MARK --set-xmark 0x4/0x4',
  '-A OUTPUT -m length --length 0:100 -j MARK --set-xmark 0x10/0x10',
  'COMMIT',
  // SCTP is not tracked, so the state matches see UNTRACKED too.
  '*raw',
  '-A PREROUTING -p sctp -j NOTRACK',
  '-A OUTPUT -p sctp -j NOTRACK',
  'COMMIT',
  '',
].join('\n');

const EMPTY = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

export interface Frame {
  /** The socket that saw it: `s0`/`s1` at the sender, `f0`/`f1` at the far host, per side. */
  readonly at: string;
  readonly bytes: Buffer;
}

export interface Observation {
  /** Exit status and output of the ruleset's restore. */
  readonly restore: { readonly status: number | null; readonly out: string };
  /** `iptables-legacy-save -c` of the filter table, comment lines dropped. */
  readonly save: string;
  /** IPv4 frames seen at the sender and the far host, in arrival order per socket. */
  readonly frames: readonly Frame[];
  /** The errno of each locally generated packet's send (0 = sent), comma-separated. */
  readonly localSends: string;
  /** The LOG lines the case produced (`<level>text`): the kernel's from dmesg, ours from the
   *  helper's --log-file. */
  readonly logs: readonly string[];
}

/** What LOG rules carry as --log-prefix in generated rulesets; each case gets its own token. */
export const LOG_PREFIX = '__LOGP__';
const LOG_ALL = '/proc/sys/net/netfilter/nf_log_all_netns';

export interface Packet {
  readonly port: Port;
  /** From the IP header on. */
  readonly ip: Buffer;
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs `cmd` and resolves with its status and output, never rejecting. */
function run(
  cmd: string,
  args: string[],
  input: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', (e) => resolve({ status: null, out: String(e) }));
    child.on('close', (status) => resolve({ status, out }));
    // A command that exits without reading its input is not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const macBytes = (m: string): Buffer => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));

/** The Ethernet frame that carries `ip` into the router on `port`. */
export function frameFor(port: Exclude<Port, 'local'>, ip: Buffer): Buffer {
  const n = Number(port.slice(-1));
  const [dst, src] = port.startsWith('in')
    ? [MAC.routerIn[n], MAC.sender[n]]
    : [MAC.routerOut[n], MAC.far[n]];
  return Buffer.concat([macBytes(dst as string), macBytes(src as string), Buffer.from([8, 0]), ip]);
}

/**
 * Zeroes what the kernel chooses per namespace or per moment: the IP id and header checksum, in
 * a timestamp reply (ICMP 14) the receive and transmit times and the ICMP checksum, and a RST's
 * TCP checksum.
 */
export function normalise(frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  if (b.length < 34) return b;
  b.writeUInt16BE(0, 18);
  b.writeUInt16BE(0, 24);
  const icmp = 14 + ((b[14] as number) & 15) * 4;
  const firstFragment = (b.readUInt16BE(20) & 0x1fff) === 0;
  if (b[23] === 1 && firstFragment && b[icmp] === 14 && b.length >= icmp + 20) {
    b.writeUInt16BE(0, icmp + 2);
    b.fill(0, icmp + 12, icmp + 20);
  }
  // REJECT's RST: the kernel leaves the TCP checksum to the device (CHECKSUM_PARTIAL), which
  // veth never completes, so the sender sees a pseudo-header sum; our helper's raw socket
  // sends a complete one (test/targets/reject-log.test.ts checks it is right).
  const tcp = icmp;
  if (
    b[23] === 6 &&
    firstFragment &&
    b.length >= tcp + 20 &&
    ((b[tcp + 13] as number) & 0x04) !== 0
  ) {
    b.writeUInt16BE(0, tcp + 16);
  }
  return b;
}

let instances = 0;

export class Topology {
  readonly tag = `${process.pid % 100000}${String.fromCharCode(97 + (instances++ % 26))}`;
  readonly ns = {
    S: `dS-${this.tag}`,
    K: `dK-${this.tag}`,
    B: `dB-${this.tag}`,
    K2: `dK2-${this.tag}`,
    B2: `dB2-${this.tag}`,
  };
  readonly pins = `/sys/fs/bpf/bpfilter-diff-${this.tag}`;
  private readonly dir = mkdtempSync(join(tmpdir(), 'diff-'));
  readonly sock = join(this.dir, 'bpfilter.sock');
  private daemon: ChildProcess | undefined;
  readonly daemonLog: string[] = [];
  private pktio: ChildProcess | undefined;
  private lines: Interface | undefined;
  private readonly pending: ((line: string) => void)[] = [];
  private readonly queued: string[] = [];
  private epoch = 0;
  private cases = 0;
  private logAllBefore: string | undefined;
  private readonly logFile = join(this.dir, 'log');
  private readonly made: string[] = [];

  /** Builds the namespaces, starts pktio and the daemon (`entry` is the daemon's script). */
  async open(entry: string = CLI): Promise<void> {
    try {
      await this.build(entry);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private async build(entry: string): Promise<void> {
    // The kernel logs other namespaces than the host's only with this on, and so do we.
    this.logAllBefore = readFileSync(LOG_ALL, 'utf8').trim();
    writeFileSync(LOG_ALL, '1');
    for (const ns of Object.values(this.ns)) {
      sh('ip', ['netns', 'add', ns]);
      this.made.push(ns);
      sh('ip', [
        'netns',
        'exec',
        ns,
        'sysctl',
        '-qw',
        'net.ipv6.conf.all.disable_ipv6=1',
        'net.ipv6.conf.default.disable_ipv6=1',
      ]);
    }
    const { S, K, B, K2, B2 } = this.ns;
    const links: string[] = [];
    for (const [r, p, far] of [
      [K, 'k', K2],
      [B, 'b', B2],
    ] as const) {
      for (const n of [0, 1]) {
        links.push(
          `link add s${p}${n} netns ${S} address ${MAC.sender[n]} type veth peer name in${n} netns ${r} address ${MAC.routerIn[n]}`,
          `link add out${n} netns ${r} address ${MAC.routerOut[n]} type veth peer name far${n} netns ${far} address ${MAC.far[n]}`,
        );
      }
    }
    sh('ip', ['-batch', '-'], links.join('\n') + '\n');
    const up = (ns: string, devs: string[]): void => {
      sh('ip', ['-n', ns, '-batch', '-'], devs.map((d) => `link set ${d} up\n`).join(''));
    };
    up(S, ['lo', 'sk0', 'sk1', 'sb0', 'sb1']);
    for (const r of [K, B]) {
      up(r, ['lo', 'in0', 'in1', 'out0', 'out1']);
      sh('ip', ['-n', r, '-batch', '-'], ROUTER_SETUP.join('\n') + '\n');
      sh('ip', ['netns', 'exec', r, 'sysctl', '-qw', ...ROUTER_SYSCTLS]);
      sh('ip', ['netns', 'exec', r, 'iptables-legacy-restore'], BEFORE_FILTER);
    }
    for (const f of [K2, B2]) up(f, ['lo', 'far0', 'far1']);
    this.startPktio();
    const socks: [string, string, string?][] = [
      ['ks0', S, 'sk0'],
      ['ks1', S, 'sk1'],
      ['bs0', S, 'sb0'],
      ['bs1', S, 'sb1'],
      ['kf0', K2, 'far0'],
      ['kf1', K2, 'far1'],
      ['bf0', B2, 'far0'],
      ['bf1', B2, 'far1'],
    ];
    for (const [id, ns, dev] of socks) await this.expectOk(`link ${id} ${ns} ${dev}`);
    await this.expectOk(`raw kraw ${K}`);
    await this.expectOk(`raw braw ${B}`);
    await this.expectOk(`ct kct ${K}`);
    await this.expectOk(`ct bct ${B}`);
    await this.startDaemon(entry);
  }

  private startPktio(): void {
    const bin = join(this.dir, 'pktio');
    sh('gcc', ['-O2', '-Wall', '-Werror', '-o', bin, PKTIO_SRC]);
    this.pktio = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.pktio.stdout as NodeJS.ReadableStream });
    this.lines.on('line', (line) => {
      const w = this.pending.shift();
      if (w) w(line);
      else this.queued.push(line);
    });
  }

  private line(): Promise<string> {
    const q = this.queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve) => this.pending.push(resolve));
  }

  private write(cmd: string): void {
    this.pktio?.stdin?.write(`${cmd}\n`);
  }

  private async expectOk(cmd: string): Promise<void> {
    this.write(cmd);
    const r = await this.line();
    if (r !== 'ok') throw new Error(`pktio ${cmd.split(' ')[0]}: ${r}`);
  }

  private async startDaemon(entry: string): Promise<void> {
    rmSync(this.sock, { force: true });
    this.daemon = spawn(
      process.execPath,
      [
        entry,
        ...daemonArgs(this.sock, this.pins, join(this.dir, 'state'), ['--log-file', this.logFile]),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.daemon.stderr?.on('data', (c: Buffer) => {
      this.daemonLog.push(c.toString());
      if (this.daemonLog.length > 200) this.daemonLog.shift();
    });
    for (let i = 0; i < 200 && !existsSync(this.sock); i++)
      await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(this.sock)) throw new Error(`daemon did not start: ${this.daemonLog.join('')}`);
  }

  /** Loads `save` (an iptables-save text of the filter table) on both routers. */
  private restore(save: string): Promise<[Observation['restore'], Observation['restore']]> {
    return Promise.all([
      run('ip', ['netns', 'exec', this.ns.K, 'iptables-legacy-restore'], save),
      run(
        'ip',
        [
          'netns',
          'exec',
          this.ns.B,
          process.execPath,
          CLI,
          'run',
          '--socket',
          this.sock,
          '--',
          'iptables-legacy-restore',
        ],
        save,
      ),
    ]);
  }

  private async saves(): Promise<[string, string]> {
    const [k, b] = await Promise.all([
      run('ip', ['netns', 'exec', this.ns.K, 'iptables-legacy-save', '-c', '-t', 'filter'], ''),
      run('ip', ['netns', 'exec', this.ns.B, 'iptables-legacy-save', '-c', '-t', 'filter'], '', {
        ...process.env,
        LD_PRELOAD: SHIM,
        BPFILTER_SOCKET: this.sock,
      }),
    ]);
    const clean = (s: string): string =>
      s
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
    return [clean(k.out), clean(b.out)];
  }

  /** Both sides' counters, once two reads a little apart agree on each side. */
  private async stableSaves(): Promise<[string, string]> {
    let prev = await this.saves();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 5));
      const cur = await this.saves();
      if (cur[0] === prev[0] && cur[1] === prev[1]) return cur;
      prev = cur;
    }
    return prev;
  }

  /** The frames so far, once our side has as many as the kernel's (or after 200 ms). */
  private async caughtUp(): Promise<Frame[]> {
    const frames = await this.drain(1);
    const count = (p: string): number => frames.filter((f) => f.at.startsWith(p)).length;
    for (let i = 0; i < 40 && count('b') < count('k'); i++) frames.push(...(await this.drain(5)));
    return frames;
  }

  private async drain(quietMs: number): Promise<Frame[]> {
    this.write(`drain ${quietMs}`);
    const frames: Frame[] = [];
    for (;;) {
      const l = await this.line();
      if (l === 'end') return frames;
      const [, at = '', hex = ''] = l.split(' ');
      frames.push({ at, bytes: Buffer.from(hex, 'hex') });
    }
  }

  /**
   * Runs one case on both routers: a fresh conntrack table, the ruleset restored, the packets sent
   * in order (each to K, then the same bytes to B), then everything that came out, and counters.
   */
  async runCase(rules: string, packets: readonly Packet[]): Promise<[Observation, Observation]> {
    await this.expectOk('flush kct');
    await this.expectOk('flush bct');
    const token = `d${this.tag}-${this.cases++}: `;
    const save = rules.replaceAll(LOG_PREFIX, `"${token}"`);
    const [rk, rb] = await this.restore(save);
    if (rk.status !== 0 || rb.status !== 0) {
      // Nothing to send packets through on at least one side; start the next case from the
      // same empty table on both.
      const [sk, sb] = await this.saves();
      await this.restore(EMPTY);
      const failed = (restore: Observation['restore'], s: string): Observation => ({
        restore,
        save: s,
        frames: [],
        localSends: '',
        logs: [],
      });
      return [failed(rk, sk), failed(rb, sb)];
    }
    await this.drain(0);
    // A fresh IP id range per run: a fragment queue left by an earlier run never completes here.
    const epoch = this.epoch;
    this.epoch = (this.epoch + 4096) & 0xffff;
    // REJECT's replies come from our helper through a ring buffer, a little later than the
    // kernel's, which go out before its hook returns. A packet sent right behind a rejected one
    // would overtake our reply and could change what the reply meets (a connection it creates
    // makes the reply RELATED to it, docs/differential.md "REJECT and LOG"): with REJECT in the ruleset each
    // packet waits until our side has sent as many frames as the kernel's.
    const paced = save.includes('-j REJECT');
    const early: Frame[] = [];
    for (const p of packets) {
      if (paced) early.push(...(await this.caughtUp()));
      const ip = Buffer.from(p.ip);
      ip.writeUInt16BE((ip.readUInt16BE(4) + epoch) & 0xffff, 4);
      ip.writeUInt16BE(0, 10);
      ip.writeUInt16BE(ipChecksum(ip.subarray(0, ((ip[0] ?? 0) & 0xf) * 4)), 10);
      if (p.port === 'local') {
        const hex = ip.toString('hex');
        this.write(`send kraw ${hex}`);
        this.write(`send braw ${hex}`);
      } else {
        const hex = frameFor(p.port, ip).toString('hex');
        const n = p.port.slice(-1);
        const where = p.port.startsWith('in') ? 's' : 'f';
        this.write(`send k${where}${n} ${hex}`);
        this.write(`send b${where}${n} ${hex}`);
      }
    }
    this.write('sync');
    const sent = new Map<string, string>();
    for (let l = await this.line(); l !== 'ok'; l = await this.line()) {
      const [, id = '', list = ''] = l.split(' ');
      sent.set(id, list);
    }
    // REJECT's replies come from our helper through a ring buffer, later than the kernel's.
    // Generous: under a loaded CI machine the helper's replies can lag well behind.
    const frames = [...early, ...(await this.drain(paced ? 500 : 15))];
    const [sk, sb] = await this.stableSaves();
    const [lk, lb] = save.includes(token) ? await this.logs(token) : [[], []];
    const side = (
      p: 'k' | 'b',
      restore: Observation['restore'],
      save: string,
      logs: readonly string[],
    ): Observation => ({
      restore,
      save,
      logs,
      frames: frames
        .filter((f) => f.at.startsWith(p) && f.bytes.readUInt16BE(12) === 0x0800)
        .map((f) => ({ at: f.at.slice(1), bytes: normalise(f.bytes) })),
      // A raw send the kernel refuses (EPERM from an OUTPUT DROP) is part of the verdict.
      localSends: sent.get(`${p}raw`) ?? '',
    });
    return [side('k', rk, sk, lk), side('b', rb, sb, lb)];
  }

  /**
   * The case's LOG lines: the kernel's printk'd ones (dmesg, timestamps dropped) and the ones our
   * helper wrote, once they have stopped arriving (ours come through the ring buffer, a little
   * later).
   */
  private async logs(token: string): Promise<[string[], string[]]> {
    // The routers' own packets (ICMP errors) carry an IP id each kernel picks: as in frames.
    const sameId = (l: string): string => l.replace(/ ID=\d+ /, ' ID=_ ');
    const kernel = (): string[] =>
      sh('dmesg', ['--raw'])
        .split('\n')
        .filter((l) => l.includes(token))
        .map((l) => sameId(l.replace(/^(<\d+>)\[[^\]]*\] ?/, '$1')));
    const ours = (): string[] =>
      (existsSync(this.logFile) ? readFileSync(this.logFile, 'latin1') : '')
        .split('\n')
        .filter((l) => l.includes(token))
        .map(sameId);
    // Ours lag the kernel's: wait (up to 2 s) until we have as many, then until nothing moves.
    for (let i = 0; i < 80 && ours().length < kernel().length; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    let last = -1;
    for (let i = 0; i < 40; i++) {
      const n = kernel().length + ours().length;
      if (n === last) break;
      last = n;
      await new Promise((r) => setTimeout(r, 50));
    }
    return [kernel(), ours()];
  }

  close(): void {
    if (this.logAllBefore !== undefined) writeFileSync(LOG_ALL, this.logAllBefore);
    this.daemon?.kill();
    this.pktio?.kill();
    for (const ns of this.made) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    rmSync(this.pins, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function ipChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += (b[b.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
