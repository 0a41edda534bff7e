// The differential harness in CI: the kernel's iptables-legacy is the oracle for our BPF. A fixed
// hand-written case first (readable when it fails), then random rulesets and packets.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare, render } from './compare.js';
import { describeFrame, icmpMsg, ip4, ipv4, tcpSeg, udpSeg } from './packets.js';
import { runHarness, seedFromEnv, summaryLine } from './runner.js';
import { ROOT, Topology, type Packet } from './topology.js';

let topo: Topology;

beforeAll(async () => {
  topo = new Topology();
  await topo.open();
});

afterAll(() => topo?.close());

const base = { ttl: 64, id: 1, fragoff: 0, mf: false, df: false, tos: 0 };
const SENDER = ip4('192.168.1.10');
const FAR = ip4('10.9.0.5');
const ROUTER = ip4('10.1.0.1');

function tcp(
  src: number,
  dst: number,
  sport: number,
  dport: number,
  flags: number,
  seq = 1000,
  ack = 0,
): Buffer {
  const seg = tcpSeg(src, dst, {
    sport,
    dport,
    seq,
    ack,
    flags,
    options: Buffer.alloc(0),
    data: Buffer.alloc(0),
  });
  return ipv4({ ...base, src, dst, proto: 6 }, seg);
}

describe('differential: kernel iptables-legacy vs our BPF', () => {
  it('a fixed ruleset: same delivery, replies and counters', async () => {
    const save = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':web - [0:0]',
      '-A INPUT -p icmp --icmp-type echo-request -j ACCEPT',
      '-A INPUT -p udp --dport 53 -j DROP',
      '-A FORWARD -i in0 -o out0 -p tcp -j web',
      '-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT',
      '-A web -p tcp --dport 80 --syn -j ACCEPT',
      '-A web -p tcp --dport 22 -j DROP',
      'COMMIT',
      '',
    ].join('\n');
    const packets: Packet[] = [
      { port: 'in0', ip: tcp(SENDER, FAR, 40000, 80, 0x02) },
      { port: 'out0', ip: tcp(FAR, SENDER, 80, 40000, 0x12, 5000, 1001) },
      { port: 'in0', ip: tcp(SENDER, FAR, 40000, 80, 0x10, 1001, 5001) },
      { port: 'in0', ip: tcp(SENDER, FAR, 40001, 22, 0x02) },
      { port: 'in1', ip: tcp(SENDER, FAR, 40002, 80, 0x02) },
      { port: 'in0', ip: tcp(SENDER, ROUTER, 40003, 22, 0x02) },
      {
        port: 'in0',
        ip: ipv4(
          { ...base, src: SENDER, dst: ROUTER, proto: 1 },
          icmpMsg(8, 0, 0x12340001, Buffer.from('ping')),
        ),
      },
      {
        port: 'in0',
        ip: ipv4(
          { ...base, src: SENDER, dst: ROUTER, proto: 17 },
          udpSeg(SENDER, ROUTER, 5000, 53, Buffer.from('q')),
        ),
      },
      {
        port: 'in0',
        ip: ipv4(
          { ...base, src: SENDER, dst: ROUTER, proto: 17 },
          udpSeg(SENDER, ROUTER, 5000, 54, Buffer.from('q')),
        ),
      },
      { port: 'local', ip: tcp(ROUTER, FAR, 1234, 80, 0x02) },
    ];
    const [k, b] = await topo.runCase(save, packets);
    // The kernel side itself behaves as the ruleset says: SYN, SYN-ACK and ACK to port 80 go
    // through, 22 and in1 do not; the router answers the ping, the RST and port 54's ICMP.
    expect(k.restore.status).toBe(0);
    const far = k.frames.filter((f) => f.at.startsWith('f')).map((f) => describeFrame(f.bytes));
    expect(far).toHaveLength(3);
    const back = k.frames.filter((f) => f.at.startsWith('s')).map((f) => describeFrame(f.bytes));
    expect(back.length).toBe(4);
    const diff = compare(k, b);
    expect(diff, `${diff.join('\n')}\n${render('kernel', k)}\n${render('ours', b)}`).toEqual([]);
  });
});

describe('differential: random rulesets and packets', () => {
  it(
    '≥ 200 rulesets and ≥ 10,000 packets: no mismatch',
    async () => {
      // DIFF_SEED=S replays a run; with DIFF_CASE=I, only that case of it.
      const seed = seedFromEnv();
      const only = process.env.DIFF_CASE ? Number(process.env.DIFF_CASE) : undefined;
      const s = await runHarness(topo, { seed, rulesets: 200, packets: 60, only });
      console.log(summaryLine(s));
      expect(s.mismatches.map((m) => m.report)).toEqual([]);
      expect(s.rulesets).toBe(only === undefined ? 200 : 1);
      if (only === undefined) expect(s.packets).toBeGreaterThanOrEqual(10_000);
    },
    15 * 60_000,
  );
});

describe('differential: big ClassBench rulesets', () => {
  it(
    '10 rulesets of ≥ 2,000 ClassBench rules, 1,000 packets each from the rules: no mismatch',
    async () => {
      const s = await runHarness(topo, {
        kind: 'big',
        seed: seedFromEnv(),
        rulesets: 10,
        packets: 1000,
      });
      console.log(summaryLine(s));
      expect(s.mismatches.map((m) => m.report)).toEqual([]);
      expect(s.refused).toBe(0);
      expect(s.rules).toBeGreaterThanOrEqual(10 * 2000);
      // Packets built from the rules' own fields hit rules, not only the policies.
      expect(s.rulesHit).toBeGreaterThanOrEqual(2000);
    },
    5 * 60_000,
  );
});

describe('differential: dense jumps across up to 1,000 chains', () => {
  it(
    '6 rulesets (3 of 1,000 chains), 300 packets each aimed deep: no mismatch',
    async () => {
      const s = await runHarness(topo, { kind: 'jumps', seed: seedFromEnv(), rulesets: 6 });
      console.log(summaryLine(s));
      expect(s.mismatches.map((m) => m.report)).toEqual([]);
      expect(s.refused).toBe(0);
      expect(s.maxChains).toBe(1000);
      // The kernel's own counters: packets got to the last chains, hundreds of jumps in.
      expect(s.deepestHit).toBeGreaterThanOrEqual(500);
      expect(s.nesting).toBeGreaterThanOrEqual(100);
    },
    5 * 60_000,
  );
});

describe('differential: a wrong translation is caught', () => {
  it(
    'flipped -s inversions (test-only daemon) give a mismatch shrunk to one rule',
    async () => {
      const faulty = new Topology();
      try {
        await faulty.open(join(ROOT, 'dist', 'test', 'differential', 'faulty-daemon.js'));
        const s = await runHarness(faulty, {
          seed: 7,
          rulesets: 40,
          packets: 60,
          stopAtFirst: true,
          log: () => undefined,
        });
        const [m] = s.mismatches;
        expect(m, summaryLine(s)).toBeDefined();
        console.log(m?.report);
        expect(m?.ruleset.rules).toHaveLength(1);
        expect(m?.ruleset.rules[0]?.args).toMatch(/-s /);
        expect(m?.packets.length).toBeLessThanOrEqual(2);
      } finally {
        faulty.close();
      }
    },
    5 * 60_000,
  );
});
