// The header, device and payload matches against the kernel's own: two identical client/server
// pairs of namespaces, the kernel's iptables-legacy in one server and our helper in the other.
// The clients (no IP address) inject the same crafted Ethernet frames; the servers' rules only
// count, and the per-rule counters (iptables-legacy-save -c) must be equal, rule for rule.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dccpPacket,
  ipv4,
  sctpPacket,
  tcp,
  udp,
  withL4Checksum,
  type IpOptions,
} from '../helpers/packets.js';
import { CLIENT_MAC, filterTable, SERVER_MAC, SIDES, Twins, type Side } from '../helpers/twins.js';
import { mulberry32 } from '../helpers/random.js';

const SERVER = '10.87.0.2';
const CLIENT = '10.87.0.1';
const twins = new Twins(`xm${process.pid % 100000}`, { serverAddr: SERVER, neighbours: [CLIENT] });
let pktio = '';

beforeAll(async () => {
  pktio = join(twins.dir, 'pktio');
  execFileSync('gcc', [
    '-O2',
    '-o',
    pktio,
    join(import.meta.dirname, '..', 'helpers', 'cdc-pktio.c'),
  ]);
  await twins.start();
});

afterAll(() => twins.close());

const hex = (m: string): string => m.replaceAll(':', '');

/** An IPv4 packet in an Ethernet frame, from the client's MAC to the server's unless told. */
export interface Frame {
  readonly packet: Buffer;
  readonly src?: string;
  readonly dst?: string;
}

const to = (o: IpOptions = {}): IpOptions => ({ src: CLIENT, dst: SERVER, ...o });

/**
 * Sends `frames` from a side's client, in order, and lets the server drain; from `cpu` when
 * given (the receiving softirq runs on the sender's CPU: veth queues to its backlog).
 */
function send(side: Side, frames: readonly Frame[], cpu?: number): void {
  const lines = frames.map(
    (f) => `${hex(f.dst ?? SERVER_MAC)}${hex(f.src ?? CLIENT_MAC)}0800${f.packet.toString('hex')}`,
  );
  const pin = cpu === undefined ? [] : ['taskset', '-c', String(cpu)];
  const r = spawnSync('ip', ['netns', 'exec', twins.ns(side, 'c'), ...pin, pktio, 'cli0', '200'], {
    input: lines.join('\n') + '\n',
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pktio: ${r.stderr}`);
}

/** The rules' counters, as `[packets:bytes] -A CHAIN rule` lines. */
function ruleCounters(side: Side): string[] {
  return twins
    .counters(side)
    .split('\n')
    .filter((l) => l.startsWith('['));
}

interface Expectation {
  /** Rules (1-based) that must count nothing. */
  readonly never?: readonly number[];
  /** Rules that may count every packet. */
  readonly always?: readonly number[];
  /** Traffic of its own a side makes after the frames (e.g. from the server itself). */
  readonly traffic?: (side: Side) => void;
  /** Packets the rules see besides the frames (the traffic's). */
  readonly extra?: number;
  /** Random rules: most (not every one) must count something, and not all the same. */
  readonly loose?: boolean;
  /** Frames sent from this CPU, and those in `cpus` from theirs. */
  readonly cpus?: readonly (readonly [number, readonly Frame[]])[];
}

/**
 * `rules` (counting only; INPUT unless they start with -A) on both sides, the same traffic
 * through both; the counters must be equal, and not vacuously: every rule but those in `never`
 * saw a packet, and no rule saw them all unless listed in `always`.
 */
function compare(
  rules: readonly string[],
  frames: readonly Frame[],
  expectation: Expectation = {},
): void {
  const lines = rules.map((r) => (r.startsWith('-A ') ? r : `-A INPUT ${r}`));
  const save = filterTable(lines.join('\n'));
  for (const side of SIDES) twins.restore(side, save);
  for (const side of SIDES) {
    send(side, frames);
    for (const [cpu, more] of expectation.cpus ?? []) send(side, more, cpu);
    expectation.traffic?.(side);
  }
  const kernel = ruleCounters('kernel');
  expect(ruleCounters('bpf')).toEqual(kernel);
  const total =
    frames.length +
    (expectation.extra ?? 0) +
    (expectation.cpus ?? []).reduce((n, [, f]) => n + f.length, 0);
  const counts = kernel.map((l) => Number(/^\[(\d+):/.exec(l)?.[1] ?? -1));
  expect(counts).toHaveLength(rules.length);
  if (expectation.loose) {
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan((2 * counts.length) / 3);
    expect(new Set(counts).size).toBeGreaterThan(counts.length / 3);
    return;
  }
  counts.forEach((n, i) => {
    const rule = `${i + 1}: ${rules[i]} (${n} of ${total})`;
    if (expectation.never?.includes(i + 1)) expect(n, rule).toBe(0);
    else expect(n, rule).toBeGreaterThan(0);
    if (!expectation.always?.includes(i + 1)) expect(n, rule).toBeLessThan(total);
  });
}

const syn = (o: IpOptions = {}, flags = 0x02, options?: Buffer): Frame => ({
  packet: withL4Checksum(ipv4(6, tcp(40000, 9, flags, options), to(o))),
});
const datagram = (o: IpOptions = {}): Frame => ({
  packet: withL4Checksum(ipv4(17, udp(40000, 9), to(o))),
});

describe('tos, dscp, ecn', () => {
  it('count as the kernel, every option and !', () => {
    const tosValues = [0x00, 0x10, 0xd0, 0x14, 0xb8, 0x20, 0x23, 0x01, 0x02, 0xff];
    compare(
      [
        '-m tos --tos 0x10/0x3f',
        '-m tos ! --tos 0x04/0x04',
        '-m tos --tos Minimize-Delay',
        '-m tos --tos 0xff',
        '-m dscp --dscp 0x2e',
        '-m dscp ! --dscp-class CS1',
        '-m dscp --dscp 0',
        '-m ecn --ecn-ip-ect 3',
        '-m ecn ! --ecn-ip-ect 0',
        '-p tcp -m ecn --ecn-tcp-ece',
        '-p tcp -m ecn ! --ecn-tcp-cwr',
        '-p tcp -m ecn --ecn-tcp-ece ! --ecn-tcp-cwr --ecn-ip-ect 2',
      ],
      [
        ...tosValues.map((tos) => syn({ tos })),
        ...tosValues.map((tos) => datagram({ tos })),
        syn({ tos: 0x02 }, 0x42),
        syn({ tos: 0x02 }, 0x82),
        syn({ tos: 0x03 }, 0xc2),
      ],
    );
  });
});

describe('mac, pkttype', () => {
  it('mac compares the source address of the Ethernet header', () => {
    const macs = [
      '02:00:00:00:00:01',
      '02:00:00:00:00:11',
      'aa:bb:cc:dd:ee:ff',
      '02:00:00:00:01:01',
    ];
    compare(
      [
        '-m mac --mac-source 02:00:00:00:00:01',
        '-m mac ! --mac-source 02:00:00:00:00:01',
        '-m mac --mac-source AA:BB:CC:DD:EE:FF',
        '-p udp -m mac ! --mac-source 02:00:00:00:00:11',
      ],
      macs.flatMap((src) => [
        { ...syn(), src },
        { ...datagram(), src },
      ]),
    );
  });

  it('pkttype names the link-layer destination, and loopback copies by their IP destination', () => {
    const bcast = 'ff:ff:ff:ff:ff:ff';
    const mcast = '01:00:5e:00:00:fb';
    compare(
      [
        '-m pkttype --pkt-type unicast',
        '-m pkttype ! --pkt-type unicast',
        '-m pkttype --pkt-type broadcast',
        '-m pkttype --pkt-type multicast',
        '-m pkttype ! --pkt-type multicast',
        '-m pkttype --pkt-type otherhost',
        '-A OUTPUT -m pkttype --pkt-type host',
        '-A OUTPUT -m pkttype ! --pkt-type broadcast',
      ],
      [syn(), datagram(), { ...datagram(), dst: bcast }, { ...syn(), dst: mcast }],
      {
        never: [6],
        always: [7, 8],
        extra: 2,
        // The server's own multicast and broadcast datagrams come back as PACKET_LOOPBACK.
        traffic: (side) =>
          twins.exec(side, 's', [
            process.execPath,
            '-e',
            `const u=require('dgram').createSocket('udp4');u.bind(0,'${SERVER}',()=>{u.setBroadcast(true);u.setMulticastInterface('${SERVER}');u.send('m',9,'224.0.0.1',()=>u.send('b',9,'10.87.0.255',()=>u.close()))})`,
          ]),
      },
    );
  });
});

describe('cpu, devgroup, realm', () => {
  it('cpu is the CPU the hook runs on', () => {
    compare(
      ['-m cpu --cpu 0', '-m cpu ! --cpu 0', '-m cpu --cpu 1', '-p udp -m cpu ! --cpu 1'],
      [],
      {
        cpus: [
          [0, [syn(), datagram(), datagram()]],
          [1, [syn(), syn(), datagram()]],
        ],
      },
    );
  });

  it("devgroup reads the group of the hook's input and output devices", () => {
    for (const side of SIDES) {
      twins.exec(side, 's', ['ip', 'link', 'set', 'srv0', 'group', '6']);
    }
    try {
      compare(
        [
          '-m devgroup --src-group 6',
          '-m devgroup ! --src-group 6',
          '-m devgroup --src-group 0x4/0x4',
          '-m devgroup --src-group 0x1/0x1',
          '-A OUTPUT -m devgroup --dst-group 6',
          '-A OUTPUT -m devgroup ! --dst-group 0x2/0x6',
          '-A OUTPUT -m devgroup --dst-group 0',
        ],
        // The SYNs to a closed port and the datagrams get RSTs and ICMP errors back (OUTPUT).
        [syn(), datagram(), syn({ ttl: 9 })],
        { never: [2, 4, 7], always: [1, 3, 5, 6] },
      );
    } finally {
      for (const side of SIDES) twins.exec(side, 's', ['ip', 'link', 'set', 'srv0', 'group', '0']);
    }
  });

  it("realm reads the route's classid, in both directions", () => {
    const route = [
      '10.87.0.0/24',
      'dev',
      'srv0',
      'proto',
      'kernel',
      'scope',
      'link',
      'src',
      SERVER,
    ];
    for (const side of SIDES) {
      twins.exec(side, 's', ['ip', 'route', 'change', ...route, 'realm', '5']);
    }
    try {
      compare(
        [
          '-m realm --realm 5',
          '-m realm --realm 0x50000/0xffff0000',
          '-m realm ! --realm 5/0xffff',
          '-m realm --realm 0',
          '-A OUTPUT -m realm --realm 5',
          '-A OUTPUT -m realm ! --realm 0x5/0xff',
          '-A OUTPUT -m realm --realm 0/0xffff0000',
        ],
        [syn(), datagram()],
        // The input route's classid has the source's realm in its upper half (the reverse
        // route's), the output route's the destination's in the lower.
        { never: [1, 4, 6], always: [2, 3, 5, 7] },
      );
    } finally {
      for (const side of SIDES) twins.exec(side, 's', ['ip', 'route', 'change', ...route]);
    }
  });
});

describe('esp, ah, ipcomp, tcpmss', () => {
  const header = (proto: number, bytes: Buffer): Frame => ({ packet: ipv4(proto, bytes, to()) });
  const be32 = (at: number, size: number, v: number): Buffer => {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(v, at);
    return b;
  };

  it('esp, ah and ipcomp compare the SPI (CPI); cut-short headers are dropped', () => {
    const cpi = (v: number, size = 4): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(v, 2);
      return b.subarray(0, size);
    };
    compare(
      [
        '-p esp -m esp --espspi 256:511',
        '-p esp -m esp ! --espspi 1000',
        '-p ah -m ah --ahspi 7',
        '-p ah -m ah ! --ahspi 0:6',
        '-p ipcomp -m ipcomp --ipcompspi 0x1234',
        '-p ipcomp -m ipcomp ! --ipcompspi 5:0xffff',
        '-p esp',
        '-p ah',
        '-p ipcomp',
      ],
      [
        ...[300, 1000, 0xfffffff0, 511, 512].map((v) => header(50, be32(0, 8, v))),
        header(50, be32(0, 8, 300).subarray(0, 7)),
        ...[7, 3, 9, 0xffffffff].map((v) => header(51, be32(4, 12, v))),
        header(51, be32(4, 12, 7).subarray(0, 11)),
        ...[0x1234, 4, 0x1235, 5].map((v) => header(108, cpi(v))),
        header(108, cpi(4, 3)),
      ],
    );
  });

  it('tcpmss finds the MSS option; malformed options are dropped', () => {
    const mss = (v: number): Buffer => Buffer.from([2, 4, v >> 8, v & 0xff]);
    const options = [
      mss(1460),
      mss(536),
      mss(999),
      Buffer.concat([Buffer.from([1, 1, 1, 1]), mss(1400)]),
      Buffer.from([2, 3, 5, 0]),
      Buffer.from([1, 1, 2, 4]),
      Buffer.alloc(0),
      Buffer.from([8, 0, 0, 0, 2, 4, 4, 0]),
      Buffer.from([3, 3, 7, 1, 2, 4, 0xff, 0xff]),
    ];
    const badOffset = syn({}, 0x02, mss(1200));
    badOffset.packet[32] = 0x40;
    compare(
      [
        '-p tcp -m tcpmss --mss 1000:1460',
        '-p tcp -m tcpmss ! --mss 536',
        '-p tcp -m tcpmss --mss 0:999',
        '-p tcp -m tcpmss --mss 65535',
        '-p tcp',
      ],
      [...options.map((o) => syn({}, 0x02, o)), { packet: withL4Checksum(badOffset.packet) }],
    );
  });
});

describe('sctp', () => {
  const [DATA, INIT, SACK, ABORT] = [0, 1, 3, 6];
  const sctpFrame = (
    sport: number,
    dport: number,
    chunks: Parameters<typeof sctpPacket>[2],
  ): Frame => ({
    packet: ipv4(132, sctpPacket(sport, dport, chunks), to()),
  });

  it('ports and chunk types, every match type, flags and !', () => {
    compare(
      [
        '-p sctp -m sctp --sport 5000:5999',
        '-p sctp -m sctp ! --dport 80',
        '-p sctp -m sctp --chunk-types any DATA,INIT',
        '-p sctp -m sctp --chunk-types all DATA,SACK',
        '-p sctp -m sctp --chunk-types only DATA:Be',
        '-p sctp -m sctp ! --chunk-types any SACK',
        '-p sctp -m sctp --chunk-types all DATA:e',
        '-p sctp -m sctp --dport 80 --chunk-types only INIT,SACK',
        '-p sctp -m sctp --chunk-types all ALL',
        '-p sctp -m sctp --chunk-types any NONE',
        '-p sctp -m sctp ! --chunk-types only ABORT:T',
        '-p sctp -m sctp --chunk-types any I_DATA,ASCONF',
        '-p sctp',
      ],
      [
        sctpFrame(5000, 80, [[INIT, 0, 20]]),
        sctpFrame(4000, 81, [
          [DATA, 3, 16],
          [SACK, 0, 16],
        ]),
        sctpFrame(4000, 80, [
          [DATA, 3, 9],
          [DATA, 2, 5],
        ]),
        sctpFrame(4000, 81, [[DATA, 2, 8]]),
        sctpFrame(6000, 80, [
          [SACK, 0],
          [INIT, 0],
          [SACK, 0],
        ]),
        sctpFrame(5999, 9, [
          [DATA, 0, 4],
          [SACK, 0, 4],
        ]),
        sctpFrame(7, 7, [
          [ABORT, 1],
          [ABORT, 0],
        ]),
        sctpFrame(7, 7, [[ABORT, 1]]),
        sctpFrame(7, 8, [
          [ABORT, 1],
          [64, 0, 7],
          [193, 0, 8],
        ]),
      ],
      { never: [9, 10], always: [13] },
    );
  });

  it('cut-short and zero-length chunks hotdrop; inverted, the rule still counts', () => {
    compare(
      [
        '-p sctp -m sctp --sport 1 --chunk-types any DATA',
        '-p sctp -m sctp --sport 2 ! --chunk-types any DATA',
        '-p sctp -m sctp --sport 3 ! --chunk-types all DATA -m length --length 0:10',
        '-p sctp -m sctp --sport 1:9',
        '-p sctp',
      ],
      [
        ...[1, 2, 3].map((p) =>
          sctpFrame(p, 9, [
            [INIT, 0, 4],
            [SACK, 0, 0],
          ]),
        ),
        sctpFrame(2, 9, []),
        { packet: ipv4(132, sctpPacket(2, 9, [[INIT, 0]]).subarray(0, 14), to()) },
        { packet: ipv4(132, sctpPacket(4, 9, []).subarray(0, 11), to()) },
        sctpFrame(4, 9, [[DATA, 0]]),
      ],
      { never: [1, 3] },
    );
  });
});

describe('dccp', () => {
  const [REQUEST, RESPONSE, DATA, ACK, RESET] = [0, 1, 2, 3, 7];
  const dccpFrame = (...a: Parameters<typeof dccpPacket>): Frame => ({
    packet: ipv4(33, dccpPacket(...a), to()),
  });
  const opts = (...b: number[]): Buffer => Buffer.from(b);

  it('ports, types, options, every header length, and the hotdrops', () => {
    compare(
      [
        // First: the packets it holds for with hotdrop set are counted here, then dropped.
        '-p dccp -m dccp --sport 2 ! --dccp-option 9',
        '-p dccp -m dccp --sport 1000:1999',
        '-p dccp -m dccp ! --dport 80',
        '-p dccp -m dccp --dccp-types REQUEST,RESPONSE',
        '-p dccp -m dccp ! --dccp-types DATA',
        '-p dccp -m dccp --dccp-types INVALID',
        '-p dccp -m dccp --dccp-option 32',
        '-p dccp -m dccp ! --dccp-option 44',
        '-p dccp -m dccp --sport 7 --dccp-types ACK --dccp-option 5',
        '-p dccp',
      ],
      [
        dccpFrame(1000, 80, REQUEST),
        dccpFrame(999, 81, DATA, { options: opts(32, 2) }),
        dccpFrame(7, 80, ACK, { x: true, options: opts(1, 5, 2) }),
        dccpFrame(7, 80, ACK, { options: opts(5, 2, 44, 2) }),
        dccpFrame(8, 80, 12, { options: opts(44, 3, 32, 0) }),
        dccpFrame(8, 80, RESPONSE, { options: opts(44, 3, 32, 0, 32) }),
        dccpFrame(8, 80, RESET, { options: opts(3, 0, 0, 32) }),
        dccpFrame(2, 80, ACK, { doff: 4 }),
        dccpFrame(2, 80, DATA, { doff: 20 }),
        { packet: ipv4(33, dccpPacket(3, 80, DATA).subarray(0, 11), to()) },
        dccpFrame(2, 80, DATA, { options: opts(9, 1, 1, 1) }),
      ],
    );
  });
});

describe('u32', () => {
  it('runs the test language over the packet as the kernel', () => {
    const data = (payload: string): Frame => ({
      packet: withL4Checksum(
        ipv4(6, Buffer.concat([tcp(40000, 23, 0x12), Buffer.from(payload)]), to()),
      ),
    });
    compare(
      [
        '-m u32 --u32 "0>>28=4&&0>>22&0x3C@0>>16=1:0xffff&&6&0xff=6,17"',
        '-m u32 --u32 "6&0xFF=6&&0>>22&0x3C@0&0xffff=9"',
        '-m u32 --u32 "6&0xFF=6&&0>>22&0x3C@12>>26&0x3C@0=0x64617461"',
        '-m u32 --u32 "0>>22&0x3C@12>>16&0x02=0x02"',
        '-m u32 --u32 "2000=0:0xffffffff"',
        '-m u32 --u32 "0>>22&0x3C@0xfffffff0=0:0xffffffff"',
        '-m u32 --u32 "0>>22&0x3C@0xffffffff@0=0:0xffffffff"',
        '-m u32 ! --u32 "12=0x0a570001"',
        '-m u32 --u32 "8>>24=1,2,60:70"',
        '-m u32 --u32 "0&0xffff=0x28:0x2c"',
        '-m u32 --u32 "0>>22&0x3C@12<<8>>24=0x10:0x20"',
      ],
      [
        syn({ ttl: 100 }),
        syn({ ttl: 65, options: Buffer.from([1, 1, 1, 1]) }),
        datagram({ ttl: 2 }),
        data('data'),
        data('dat'),
        data('datum and more'),
        { packet: ipv4(1, Buffer.alloc(8), to({ src: '10.87.0.9' })) },
      ],
      { never: [5, 6, 7] },
    );
  });
});

describe('string', () => {
  // Letters in both cases, Latin-1 ones whose kernel case mapping is lopsided (0xdf, 0xff,
  // 0xbf), and a few more: matches are frequent, and --icase matters.
  const ALPHABET = [0x61, 0x62, 0x41, 0x42, 0xdf, 0xff, 0xbf, 0xe9, 0xc9, 0x2e];

  it('bm and kmp, --from/--to, --icase and ! find what the kernel finds, over random payloads', () => {
    const rnd = mulberry32(0x5eed);
    const pick = (n: number): Buffer =>
      Buffer.from(
        Array.from({ length: n }, () => ALPHABET[Math.floor(rnd() * ALPHABET.length)] ?? 0),
      );
    const rules: string[] = [];
    for (let k = 0; k < 48; k++) {
      const pattern = pick(1 + Math.floor(rnd() * 6)).toString('hex');
      const algo = k % 2 === 0 ? 'bm' : 'kmp';
      const icase = k % 3 === 0 ? ' --icase' : '';
      const from = k % 4 === 1 ? ` --from ${28 + Math.floor(rnd() * 20)}` : '';
      const to = k % 5 === 2 ? ` --to ${40 + Math.floor(rnd() * 40)}` : '';
      const not = k % 7 === 3 ? '! ' : '';
      rules.push(`-m string ${not}--hex-string "|${pattern}|" --algo ${algo}${from}${to}${icase}`);
    }
    const frames = Array.from({ length: 80 }, () => ({
      packet: ipv4(17, udp(40000, 9, pick(8 + Math.floor(rnd() * 60))), to()),
    }));
    compare(rules, frames, { always: rules.map((_, i) => i + 1), loose: true });
  });

  it("BM misses a match across the skb's blocks where KMP finds it, as the kernel", () => {
    const links = (mtu: string): void => {
      for (const side of SIDES) {
        twins.exec(side, 'c', ['ip', 'link', 'set', 'cli0', 'mtu', mtu]);
        twins.exec(side, 's', ['ip', 'link', 'set', 'srv0', 'mtu', mtu]);
      }
    };
    links('65000');
    try {
      // A 6000-byte frame sent through AF_PACKET reaches INPUT with only the IP and UDP
      // headers in the skb's head (ip_rcv and UDP's early demux pull them) and the payload in
      // a page fragment: BM searches those blocks apart, and misses the UDP checksum (0) and
      // the payload's first bytes together, which KMP finds. The small frame is linear.
      const across = '--hex-string "|00 00 41 41|"';
      const big = Buffer.alloc(5000, 0x41);
      big.write('needle', 4000, 'latin1');
      // Past 32 KiB the payload takes a second fragment (the sender's pages are 32 KiB): the
      // marker sits across the two, at IP offset 32766.
      const huge = Buffer.alloc(40000, 0x42);
      huge.write('XYZW', 32766 - 28, 'latin1');
      huge.write('needle', 39000, 'latin1');
      compare(
        [
          `-m string ${across} --algo bm`,
          `-m string ${across} --algo kmp`,
          '-m string --string "needle" --algo bm',
          '-m string --string "needle" --algo kmp --to 4100',
          '-m string --string "needle" --algo bm --from 4029 --to 4034',
          '-m string --string "needle" --algo bm --from 4028 --to 4034',
          `-m string --string "${'A'.repeat(128)}" --algo bm`,
          '-m string --string "needle" --algo kmp --to 4033',
          '-m string --string "XYZW" --algo bm',
          '-m string --string "XYZW" --algo kmp',
          '-m string --string "needle" --algo bm --from 30000',
          '-m string --string "YZ" --algo bm --from 32767 --to 32769',
        ],
        [
          { packet: ipv4(17, udp(40000, 9, Buffer.from('AAAA XYZW')), to()) },
          { packet: ipv4(17, udp(40000, 9, big), to()) },
          { packet: ipv4(17, udp(40000, 9, huge), to()) },
        ],
        { never: [5, 8, 12] },
      );
    } finally {
      links('1500');
    }
  });
});
