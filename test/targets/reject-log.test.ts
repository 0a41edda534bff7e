// REJECT and LOG against the kernel's own: two identical client/server pairs of namespaces, the
// kernel's iptables-legacy in one server and our helper (daemon + stock iptables-legacy-restore
// through the shim) in the other. The clients have no IP address and send crafted frames with
// AF_PACKET, so the only frames that come back are the servers' answers; those must be equal
// byte for byte (but the ICMP errors' IP ID, which the kernel picks at random), and LOG lines
// must equal the kernel's dmesg lines.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksum as ipChecksum,
  icmp,
  ipv4,
  tcp,
  udp,
  withL4Checksum,
} from '../helpers/packets.js';
import { REJECT_WITH } from '../../src/translate/ext/REJECT.js';
import { CLIENT_MAC, filterTable, SERVER_MAC, SIDES, Twins, type Side } from '../helpers/twins.js';

const SERVER = '10.88.0.2';
const LOG_ALL = '/proc/sys/net/netfilter/nf_log_all_netns';
// Sources the tests send from: the servers answer them at the client's MAC.
const SOURCES = ['10.88.0.1', ...Array.from({ length: 39 }, (_, h) => `10.88.0.${101 + h}`)];
const twins = new Twins(`rl${process.pid % 100000}`, { serverAddr: SERVER, neighbours: SOURCES });
let pktio = '';
let logFile = '';
let logAllBefore = '0';

const mac = (m: string): string => m.replaceAll(':', '');

function frame(packet: Buffer): string {
  return `${mac(SERVER_MAC)}${mac(CLIENT_MAC)}0800${packet.toString('hex')}`;
}

/** Sends `packets` from a side's client and returns the frames that came back, as IP hex. */
function exchange(side: Side, packets: readonly Buffer[], waitMs = 300): string[] {
  const r = spawnSync('ip', ['netns', 'exec', twins.ns(side, 'c'), pktio, 'cli0', String(waitMs)], {
    input: packets.map(frame).join('\n') + '\n',
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pktio: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith(mac(CLIENT_MAC)) && l.slice(24, 28) === '0800')
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

/** Same rules both sides; same packets; the answers each client got. */
function both(rules: string, packets: readonly Buffer[]): Record<Side, string[]> {
  const save = filterTable(rules);
  for (const side of SIDES) twins.restore(side, save);
  const out = {} as Record<Side, string[]>;
  for (const side of SIDES) out[side] = exchange(side, packets).map(normalise);
  return out;
}

beforeAll(async () => {
  pktio = join(twins.dir, 'pktio');
  execFileSync('gcc', [
    '-O2',
    '-o',
    pktio,
    join(import.meta.dirname, '..', 'helpers', 'cdc-pktio.c'),
  ]);
  logFile = join(twins.dir, 'log');
  logAllBefore = readFileSync(LOG_ALL, 'utf8').trim();
  writeFileSync(LOG_ALL, '1');
  await twins.start(['--log-file', logFile]);
});

afterAll(() => {
  writeFileSync(LOG_ALL, logAllBefore);
  twins.close();
});

const to = { dst: SERVER, src: '10.88.0.1' };

/** A side's OUTPUT rules as `iptables-legacy-save -c` lists them, counters first. */
const output = (side: Side): string[] =>
  twins
    .iptables(side, ['iptables-legacy-save', '-c'])
    .split('\n')
    .filter((l) => l.includes('-A OUTPUT'));

describe('REJECT: what the sender gets back equals the kernel', () => {
  it.each(REJECT_WITH.filter((w) => w !== 'tcp-reset'))(
    '--reject-with %s quotes the offending datagram',
    (w) => {
      const got = both(`-A INPUT -p udp -j REJECT --reject-with ${w}`, [
        ipv4(17, udp(1000, 53), { ...to, ttl: 7 }),
        ipv4(17, udp(1001, 53, Buffer.alloc(700, 0x41)), to),
      ]);
      expect(got.kernel).toHaveLength(2);
      expect(got.bpf).toEqual(got.kernel);
    },
  );

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
    for (const side of SIDES) twins.sysctl(side, 'net.ipv4.icmp_ratelimit=1000');
    try {
      const src = { dst: SERVER, src: '10.88.0.120' };
      const burst = Array.from({ length: 12 }, (_, i) => ipv4(17, udp(2000 + i, 53), src));
      const got = both('-A INPUT -p udp -j REJECT', burst);
      expect(got.kernel).toHaveLength(6);
      expect(got.bpf).toEqual(got.kernel);
    } finally {
      for (const side of SIDES) twins.sysctl(side, 'net.ipv4.icmp_ratelimit=0');
    }
  });
});

describe('REJECT replies in OUTPUT', () => {
  it("cross OUTPUT as RELATED to the rejected packet, as the kernel's do (nf_ct_attach)", () => {
    const prefix = `r${process.pid % 100000}: `;
    const before = kernelLines(prefix).length;
    const counting = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED']
      .map((st) => `-A OUTPUT -m state --state ${st}`)
      .join('\n');
    const got = both(
      `-A INPUT -p udp -m state --state NEW -j REJECT
-A INPUT -p tcp -m conntrack --ctstate NEW -j REJECT --reject-with tcp-reset
${counting}
-A OUTPUT -m conntrack --ctstate RELATED --ctdir REPLY
-A OUTPUT -m conntrack --ctstate RELATED --ctdir ORIGINAL
-A OUTPUT -m conntrack --ctproto udp --ctorigsrc 10.88.0.1 --ctorigdstport 53
-A OUTPUT -m conntrack --ctproto tcp --ctreplsrc 10.88.0.2 --ctrepldstport 40000
-A OUTPUT -m conntrack ! --ctstatus CONFIRMED
-A OUTPUT -j LOG --log-prefix "${prefix}" --log-uid`,
      [ipv4(17, udp(1000, 53), to), withL4Checksum(ipv4(6, tcp(40000, 80, 0x02), to))],
    );
    expect(got.kernel).toHaveLength(2);
    expect(got.bpf).toEqual(got.kernel);
    const kernel = output('kernel');
    expect(kernel.filter((l) => l.includes('RELATED'))[0]).toMatch(/^\[2:/);
    // The replies carry the rejected packets' entries: their tuples match.
    expect(kernel.find((l) => l.includes('--ctproto 17'))).toMatch(/^\[1:/);
    expect(kernel.find((l) => l.includes('--ctproto 6'))).toMatch(/^\[1:/);
    expect(output('bpf')).toEqual(kernel);
    // Logged with --log-uid, the replies show no owner: the kernel's have none.
    const noId = (l: string): string => l.replace(/ ID=\d+ /, ' ID=_ ');
    const klog = kernelLines(prefix).slice(before).map(noId);
    const ours = readFileSync(logFile, 'latin1')
      .split('\n')
      .filter((l) => l.includes(prefix))
      .map(noId);
    expect(klog).toHaveLength(2);
    expect(klog.some((l) => l.includes('UID='))).toBe(false);
    expect(ours).toEqual(klog);
  });
});

describe("REJECT in OUTPUT meets the kernel's own ICMP replies", () => {
  it('drops them and answers nothing: icmp_send finds icmp_xmit_lock taken', () => {
    const rules = `-A OUTPUT -p icmp -m icmp --icmp-type 0 -j REJECT
-A OUTPUT -p icmp -m icmp --icmp-type 14 -j REJECT
-A OUTPUT -p icmp`;
    // An echo request and a timestamp request (originate, receive, transmit timestamps).
    const got = both(rules, [ipv4(1, icmp(8, 0), to), ipv4(1, icmp(13, 0, Buffer.alloc(12)), to)]);
    expect(got.kernel).toEqual([]);
    expect(got.bpf).toEqual(got.kernel);
    // Each reply hit its REJECT once; no port unreachable crossed OUTPUT after it.
    expect(output('kernel').map((l) => l.slice(0, 4))).toEqual(['[1:2', '[1:4', '[0:0']);
    expect(output('bpf')).toEqual(output('kernel'));
  });
});

describe('LOG: the same lines as the kernel', () => {
  it('prefix, level, devices, MAC, IP/TCP/UDP/ICMP fields and options', () => {
    const prefix = `t${process.pid % 100000}: `;
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

describe('LOG --log-uid', () => {
  it("names the sending socket's owner on locally generated packets, as the kernel", () => {
    const prefix = `u${process.pid % 100000}: `;
    const rules = `-A OUTPUT -p udp -j LOG --log-prefix "${prefix}" --log-uid`;
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const before = kernelLines(prefix).length;
    const send = `const u=require('dgram').createSocket('udp4');u.bind(4444,()=>u.send('x',9,'10.88.0.1',()=>u.close()))`;
    for (const side of SIDES) {
      // As nobody, so UID/GID are not just root's zeros.
      twins.exec(side, 's', [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        send,
      ]);
    }
    const kernel = kernelLines(prefix).slice(before);
    const ours = readFileSync(logFile, 'latin1')
      .split('\n')
      .filter((l) => l.includes(prefix));
    expect(kernel).toHaveLength(1);
    expect(kernel[0]).toContain('UID=65534 GID=65534');
    // The IP ID of a locally sent datagram is the kernel's pick, different on each side.
    const noId = (l: string): string => l.replace(/ ID=\d+ /, ' ID=_ ');
    expect(ours.map(noId)).toEqual(kernel.map(noId));
  });
});

/** The kernel's LOG lines with `prefix`, as `<level>text` (dmesg --raw without timestamps). */
function kernelLines(prefix: string): string[] {
  return execFileSync('dmesg', ['--raw'], { encoding: 'latin1' })
    .split('\n')
    .filter((l) => l.includes(prefix))
    .map((l) => l.replace(/^(<\d+>)\[[^\]]*\] ?/, '$1'));
}
