// REJECT and LOG against the kernel's own: two identical client/server pairs of namespaces, the
// kernel's iptables-legacy in one server and our helper (daemon + stock iptables-legacy-restore
// through the shim) in the other. The clients have no IP address and send crafted frames with
// AF_PACKET, so the only frames that come back are the servers' answers; those must be equal
// byte for byte (but the ICMP errors' IP ID, which the kernel picks at random), and LOG lines
// must equal the kernel's dmesg lines.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, netnsAdd, netnsDel, requireBuild } from '../ipc/helpers.js';
import {
  checksum as ipChecksum,
  icmp,
  ipv4,
  tcp,
  udp,
  withL4Checksum,
} from '../helpers/packets.js';

const tag = process.pid % 100000;
const SIDES = ['kernel', 'bpf'] as const;
type Side = (typeof SIDES)[number];
const ns = (side: Side, role: 'c' | 's'): string => `rl${role}-${side}-${tag}`;
const PINS = `/sys/fs/bpf/bpfilter-rl-${tag}`;
const CLIENT_MAC = '020000000001';
const SERVER_MAC = '020000000002';
const SERVER = '10.88.0.2';
const LOG_ALL = '/proc/sys/net/netfilter/nf_log_all_netns';

let dir = '';
let sock = '';
let pktio = '';
let logFile = '';
let daemon: ChildProcess | undefined;
let logAllBefore = '0';
const daemonLog: string[] = [];

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

function frame(packet: Buffer): string {
  return `${SERVER_MAC}${CLIENT_MAC}0800${packet.toString('hex')}`;
}

/** Sends `packets` from a side's client and returns the frames that came back, as IP hex. */
function exchange(side: Side, packets: readonly Buffer[], waitMs = 300): string[] {
  const r = spawnSync('ip', ['netns', 'exec', ns(side, 'c'), pktio, 'cli0', String(waitMs)], {
    input: packets.map(frame).join('\n') + '\n',
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pktio: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith(CLIENT_MAC) && l.slice(24, 28) === '0800')
    .map((l) => l.slice(28));
}

/**
 * The kernel picks ICMP errors' IP ID at random: zero it and the header checksum. Its RSTs
 * leave the TCP checksum to the device (CHECKSUM_PARTIAL), which veth never completes: a
 * correct checksum (ours) becomes the pseudo-header sum the kernel leaves there.
 */
function normalise(ipHex: string): string {
  const b = Buffer.from(ipHex, 'hex');
  if (b[9] === 1) {
    b.writeUInt16BE(0, 4);
    b.writeUInt16BE(0, 10);
  }
  if (b[9] === 6 && b.length >= 40) {
    const full = withL4Checksum(b).readUInt16BE(36);
    if (full === b.readUInt16BE(36)) {
      const pseudo = Buffer.alloc(12);
      b.copy(pseudo, 0, 12, 20);
      pseudo[9] = 6;
      pseudo.writeUInt16BE(b.length - 20, 10);
      b.writeUInt16BE(~ipChecksum(pseudo) & 0xffff, 36);
    }
  }
  return b.toString('hex');
}

function iptables(side: Side, cmd: readonly string[], input?: string): string {
  const args =
    side === 'kernel'
      ? ['netns', 'exec', ns(side, 's'), ...cmd]
      : [
          'netns',
          'exec',
          ns(side, 's'),
          process.execPath,
          CLI,
          'run',
          '--socket',
          sock,
          '--',
          ...cmd,
        ];
  const r = spawnSync('ip', args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${side} ${cmd[0]}: ${r.stderr}\n${daemonLog.join('')}`);
  return r.stdout;
}

const restore = (side: Side, save: string): string =>
  iptables(side, ['iptables-legacy-restore'], save);

const table = (input: string): string =>
  ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']
    .concat(input.trim().split('\n'), ['COMMIT', ''])
    .join('\n');

/** Same rules both sides; same packets; the answers each client got. */
function both(rules: string, packets: readonly Buffer[]): Record<Side, string[]> {
  const save = table(rules);
  for (const side of SIDES) restore(side, save);
  const out = {} as Record<Side, string[]>;
  for (const side of SIDES) out[side] = exchange(side, packets).map(normalise);
  return out;
}

const sysctl = (side: Side, kv: string): void => {
  execFileSync('ip', ['netns', 'exec', ns(side, 's'), 'sysctl', '-qw', kv]);
};

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'rl-'));
  sock = join(dir, 'bpfilter.sock');
  logFile = join(dir, 'log');
  pktio = join(dir, 'pktio');
  execFileSync('gcc', [
    '-O2',
    '-o',
    pktio,
    join(import.meta.dirname, '..', 'helpers', 'cdc-pktio.c'),
  ]);
  logAllBefore = readFileSync(LOG_ALL, 'utf8').trim();
  writeFileSync(LOG_ALL, '1');
  for (const side of SIDES) {
    const [c, s] = [ns(side, 'c'), ns(side, 's')];
    netnsAdd(c);
    netnsAdd(s);
    ip('link', 'add', 'cli0', 'netns', c, 'type', 'veth', 'peer', 'name', 'srv0', 'netns', s);
    ip('-n', c, 'link', 'set', 'cli0', 'address', '02:00:00:00:00:01', 'up');
    ip('-n', s, 'link', 'set', 'srv0', 'address', '02:00:00:00:00:02', 'up');
    ip('-n', s, 'link', 'set', 'lo', 'up');
    ip('-n', s, 'addr', 'add', `${SERVER}/24`, 'dev', 'srv0');
    for (let h = 1; h < 40; h++) {
      ip(
        '-n',
        s,
        'neigh',
        'replace',
        `10.88.0.${100 + h}`,
        'lladdr',
        '02:00:00:00:00:01',
        'dev',
        'srv0',
        'nud',
        'permanent',
      );
    }
    ip(
      '-n',
      s,
      'neigh',
      'replace',
      '10.88.0.1',
      'lladdr',
      '02:00:00:00:00:01',
      'dev',
      'srv0',
      'nud',
      'permanent',
    );
    // Both servers answer only what the rules make them answer; no ICMP rate limit by default.
    sysctl(side, 'net.ipv4.icmp_ratelimit=0');
    sysctl(side, 'net.ipv4.icmp_msgs_burst=10000');
  }
  daemon = spawn(
    process.execPath,
    [
      CLI,
      'daemon',
      '--socket',
      sock,
      '--pin-root',
      PINS,
      '--state-dir',
      join(dir, 'state'),
      '--log-file',
      logFile,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  daemon.stderr?.on('data', (c: Buffer) => daemonLog.push(c.toString()));
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) throw new Error(`daemon did not start: ${daemonLog.join('')}`);
});

afterAll(() => {
  daemon?.kill();
  if (logAllBefore) writeFileSync(LOG_ALL, logAllBefore);
  for (const side of SIDES) {
    netnsDel(ns(side, 'c'));
    netnsDel(ns(side, 's'));
  }
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const to = { dst: SERVER, src: '10.88.0.1' };

describe('REJECT: what the sender gets back equals the kernel', () => {
  it.each([
    'icmp-net-unreachable',
    'icmp-host-unreachable',
    'icmp-port-unreachable',
    'icmp-proto-unreachable',
    'icmp-net-prohibited',
    'icmp-host-prohibited',
    'icmp-admin-prohibited',
  ])('--reject-with %s quotes the offending datagram', (w) => {
    const got = both(`-A INPUT -p udp -j REJECT --reject-with ${w}`, [
      ipv4(17, udp(1000, 53), { ...to, ttl: 7 }),
      ipv4(17, udp(1001, 53, Buffer.alloc(700, 0x41)), to),
    ]);
    expect(got.kernel).toHaveLength(2);
    expect(got.bpf).toEqual(got.kernel);
  });

  it('tcp-reset answers a SYN with RST|ACK and an ACK with RST at its ack number', () => {
    const got = both(
      '-A INPUT -p tcp -j REJECT --reject-with tcp-reset',
      [
        ipv4(6, tcp(40000, 80, 0x02), to),
        ipv4(6, tcp(40001, 81, 0x10), to),
        ipv4(6, tcp(40002, 82, 0x18, Buffer.from('payload bytes')), to),
        ipv4(6, tcp(40003, 83, 0x01), to),
        ipv4(6, tcp(40004, 84, 0x04), to), // no RST for a RST
        ipv4(6, tcp(40005, 85, 0x02), to), // bad checksum: none either
      ].map((p, i) => (i < 5 ? withL4Checksum(p) : p)),
    );
    expect(got.kernel).toHaveLength(4);
    expect(got.bpf).toEqual(got.kernel);
  });

  it('no reply where the kernel sends none: fragments, ICMP errors, bad checksums', () => {
    const badSum = ipv4(17, udp(1000, 53), to);
    badSum.writeUInt16BE(0x1234, 26);
    const got = both('-A INPUT -j REJECT', [
      ipv4(17, udp(1000, 53), { ...to, fragoff: 10 }),
      ipv4(1, icmp(3, 1), to),
      badSum,
      ipv4(1, icmp(8, 0), to), // an echo request is answered
    ]);
    expect(got.kernel).toHaveLength(1);
    expect(got.bpf).toEqual(got.kernel);
  });

  it('the per-destination ICMP limit lets 6 through from a burst, as the kernel', () => {
    for (const side of SIDES) sysctl(side, 'net.ipv4.icmp_ratelimit=1000');
    try {
      const src = { dst: SERVER, src: '10.88.0.120' };
      const burst = Array.from({ length: 12 }, (_, i) => ipv4(17, udp(2000 + i, 53), src));
      const got = both('-A INPUT -p udp -j REJECT', burst);
      expect(got.kernel).toHaveLength(6);
      expect(got.bpf).toEqual(got.kernel);
    } finally {
      for (const side of SIDES) sysctl(side, 'net.ipv4.icmp_ratelimit=0');
    }
  });
});

describe('REJECT replies in OUTPUT', () => {
  it("cross OUTPUT as RELATED to the rejected packet, as the kernel's do (nf_ct_attach)", () => {
    const counting = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED']
      .map((st) => `-A OUTPUT -m state --state ${st}`)
      .join('\n');
    const got = both(
      `-A INPUT -p udp -m state --state NEW -j REJECT
-A INPUT -p tcp -m conntrack --ctstate NEW -j REJECT --reject-with tcp-reset
${counting}
-A OUTPUT -m conntrack --ctstate RELATED --ctdir REPLY
-A OUTPUT -m conntrack --ctstate RELATED --ctdir ORIGINAL`,
      [ipv4(17, udp(1000, 53), to), withL4Checksum(ipv4(6, tcp(40000, 80, 0x02), to))],
    );
    expect(got.kernel).toHaveLength(2);
    expect(got.bpf).toEqual(got.kernel);
    const output = (side: Side): string[] =>
      iptables(side, ['iptables-legacy-save', '-c'])
        .split('\n')
        .filter((l) => l.includes('-A OUTPUT'));
    const kernel = output('kernel');
    expect(kernel.filter((l) => l.includes('RELATED'))[0]).toMatch(/^\[2:/);
    expect(output('bpf')).toEqual(kernel);
  });
});

describe('LOG: the same lines as the kernel', () => {
  it('prefix, level, devices, MAC, IP/TCP/UDP/ICMP fields and options', () => {
    const prefix = `t${tag}: `;
    const save = `
-A INPUT -p tcp -j LOG --log-prefix "${prefix}" --log-tcp-sequence --log-tcp-options --log-ip-options
-A INPUT -p udp -j LOG --log-prefix "${prefix}" --log-level 6
-A INPUT -p icmp -j LOG --log-prefix "${prefix}" --log-macdecode
-A INPUT -p 99 -j LOG --log-prefix "${prefix}" --log-level 7
-A INPUT -j DROP
`;
    const packets = [
      ipv4(6, tcp(40000, 22, 0x02, Buffer.from([2, 4, 5, 0xb4, 1, 1, 4, 2])), {
        ...to,
        options: Buffer.from([1, 1, 1, 0]),
      }),
      ipv4(17, udp(5353, 5353), { ...to, ttl: 1 }),
      ipv4(1, icmp(8, 0), to),
      ipv4(
        1,
        Buffer.concat([icmp(3, 3), ipv4(17, udp(53, 1000), { src: SERVER, dst: '10.88.0.1' })]),
        to,
      ),
      ipv4(6, tcp(1, 2, 0xff).subarray(0, 8), to), // INCOMPLETE [8 bytes]
      ipv4(6, tcp(40001, 443, 0x19), { ...to, ttl: 3 }),
      ipv4(99, Buffer.from('other protocol'), to),
    ];
    const before = kernelLines(prefix).length;
    const got = both(save, packets);
    expect(got.kernel).toEqual([]);
    const kernel = kernelLines(prefix).slice(before);
    const ours = readFileSync(logFile, 'latin1')
      .split('\n')
      .filter((l) => l.includes(prefix));
    expect(ours).toEqual(kernel);
    expect(kernel).toHaveLength(packets.length);
  });
});

/** The kernel's LOG lines with `prefix`, as `<level>text` (dmesg --raw without timestamps). */
function kernelLines(prefix: string): string[] {
  return execFileSync('dmesg', ['--raw'], { encoding: 'latin1' })
    .split('\n')
    .filter((l) => l.includes(prefix))
    .map((l) => l.replace(/^(<\d+>)\[[^\]]*\] ?/, '$1'));
}
