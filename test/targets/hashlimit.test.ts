// -m hashlimit against the kernel's: the same crafted frames (spoofed sources, ports, sizes, ICMP)
// through the kernel's iptables-legacy and through ours, rules that only count; equal per-rule
// counters. Every mode, masks, inversion, byte and rate-match modes, a table shared by two rules
// (the first one's configuration wins), the entry cap's hotdrop, tables kept across a replace
// that names them, a table dropped and created again, and expiry by the collector.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { icmp, ipv4, udp } from '../helpers/packets.js';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const SERVER = '10.87.0.2';
const SOURCES = Array.from({ length: 8 }, (_, i) => `10.87.0.${11 + i}`);
const twins = new Twins(`hl${process.pid % 100000}`, { serverAddr: SERVER, neighbours: SOURCES });
beforeAll(async () => {
  await twins.start();
});

afterAll(() => twins.close());

const send = (side: Side, packets: readonly Buffer[]): void =>
  void twins.inject(side, packets, 150);

const toServer = (src: string, payload: Buffer, proto = 17): Buffer =>
  ipv4(proto, payload, { src, dst: SERVER });

/** The same traffic for every case: sources, two port pairs, growing sizes, some pings. */
function traffic(): Buffer[] {
  const out: Buffer[] = [];
  for (let rep = 0; rep < 3; rep++) {
    for (const src of SOURCES.slice(0, 6)) {
      for (const [sport, dport] of [
        [1000, 7],
        [1001, 9],
      ] as const) {
        out.push(toServer(src, udp(sport, dport, Buffer.alloc(20 + 90 * rep))));
      }
    }
    for (const src of SOURCES.slice(6)) out.push(toServer(src, icmp(8, 0), 1));
  }
  return out;
}

const RULES = `
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name a
-A INPUT -m hashlimit --hashlimit-above 1/min --hashlimit-burst 3 --hashlimit-mode srcip,dstport --hashlimit-srcmask 30 --hashlimit-name b
-A INPUT -p udp -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcport --hashlimit-name c
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 4 --hashlimit-name d
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-mode dstip --hashlimit-dstmask 0 --hashlimit-name e
-A INPUT -m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 9 --hashlimit-mode srcip --hashlimit-name a
-A INPUT -m hashlimit ! --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode dstport --hashlimit-name g
-A INPUT -m hashlimit --hashlimit-upto 16b/s --hashlimit-burst 32b --hashlimit-mode srcip --hashlimit-name f
-A INPUT -m hashlimit --hashlimit-above 256b/s --hashlimit-mode srcip,srcport --hashlimit-name h
-A INPUT -m hashlimit --hashlimit-upto 3/min --hashlimit-rate-match --hashlimit-mode srcip --hashlimit-name i
-A INPUT -m hashlimit --hashlimit-upto 1kb/s --hashlimit-rate-match --hashlimit-rate-interval 10 --hashlimit-name j
-A INPUT -p icmp -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-mode srcport,dstport --hashlimit-name k
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 50 --hashlimit-mode srcip,dstip --hashlimit-htable-size 3 --hashlimit-htable-max 3 --hashlimit-name m
-A INPUT
`;

function run(rules: string, packets: readonly Buffer[]): Record<Side, string> {
  const out = {} as Record<Side, string>;
  for (const side of SIDES) {
    twins.restore(side, filterTable(rules));
    send(side, packets);
    out[side] = twins.counters(side);
  }
  return out;
}

/** Packet counts of the rules, in order. */
const counts = (save: string): number[] =>
  save
    .split('\n')
    .filter((l) => l.startsWith('[') && l.includes('-A INPUT'))
    .map((l) => Number(/^\[(\d+):/.exec(l)?.[1]));

describe('-m hashlimit against the kernel', () => {
  it('every mode, mask, direction, byte and rate-match mode, a shared table and the cap', () => {
    const r = run(RULES, traffic());
    expect(r.bpf).toEqual(r.kernel);
    const n = counts(r.kernel);
    // Not vacuous: every rule counted, most limits bit, the cap hotdropped. Rule a passes one
    // packet per source of its burst of 2: the sixth rule names table "a" too and spends the
    // other token.
    expect(n[0]).toBe(8);
    expect(n.every((c) => c > 0)).toBe(true);
    expect(n.filter((c) => c < 42).length).toBeGreaterThan(10);
    expect(n[n.length - 1]).toBeLessThan(42);
  });

  it('a replace that names a table keeps it; one that drops it frees it', () => {
    const packets = traffic().slice(0, 12);
    const keep = `
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name kept
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name gone
`;
    const first = run(keep, packets);
    expect(first.bpf).toEqual(first.kernel);
    // "kept" stays named (its buckets are spent), "gone" is not named for one ruleset
    const second = run(
      '-A INPUT -s 10.87.0.0/24 -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name kept',
      packets,
    );
    expect(second.bpf).toEqual(second.kernel);
    const third = run(keep, packets);
    expect(third.bpf).toEqual(third.kernel);
    const [kept, gone] = counts(third.kernel);
    expect(kept).toBe(0);
    expect(gone).toBe(12);
  });

  it('an expired entry goes at the next collection: the next packet starts a fresh bucket', async () => {
    const rules = `
-A INPUT -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-htable-expire 300 --hashlimit-htable-gcinterval 100 --hashlimit-name short
-A INPUT -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-htable-gcinterval 100 --hashlimit-name long
`;
    const p = [
      toServer(SOURCES[0] as string, udp(1, 2)),
      toServer(SOURCES[0] as string, udp(1, 2)),
    ];
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    for (const side of SIDES) send(side, p);
    await new Promise((r) => setTimeout(r, 1200));
    const out = {} as Record<Side, string>;
    for (const side of SIDES) {
      send(side, p);
      out[side] = twins.counters(side);
    }
    expect(out.bpf).toEqual(out.kernel);
    expect(counts(out.kernel)).toEqual([2, 1]);
  });

  it('keeps the tables across a helper restart', async () => {
    const rules =
      '-A INPUT -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name restart';
    const p = toServer(SOURCES[0] as string, udp(1, 2));
    twins.restore('bpf', filterTable(rules));
    send('bpf', [p, p]);
    expect(counts(twins.counters('bpf'))).toEqual([2]);
    await twins.restartDaemon();
    // The restarted helper adopts the namespace and its tables when it first serves it; its
    // first replace keeps the table the same rules name, as the kernel would.
    twins.iptables('bpf', ['iptables-legacy', '-L', '-n']);
    twins.restore('bpf', filterTable(rules));
    send('bpf', [p, p]);
    expect(counts(twins.counters('bpf'))).toEqual([1]);
  });
});
