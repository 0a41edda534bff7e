// -m hashlimit's BPF evaluation on crafted packets (BPF_PROG_TEST_RUN), for what the twin test
// cannot send through the kernel: non-first fragments in port modes, revisions 1 and 2, the
// entry cap's hotdrop and the collector. Expected verdicts follow xt_hashlimit.c.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable, readCounters } from '../../src/bpf/backend.js';
import { HASHLIMIT_ENTRIES, HASHLIMIT_TABLES, TBL } from '../../src/bpf/codegen/hashlimit.js';
import { HashlimitGc } from '../../src/bpf/hashlimit-gc.js';
import { mapKeys, mapLookup, u32 } from '../../src/bpf/syscall.js';
import {
  hashlimit,
  initialBucket,
  msecsToJiffies,
  tableSize,
  type HashlimitMatch,
} from '../../src/translate/ext/hashlimit.js';
import type { Table } from '../../src/translate/ir.js';
import { KernelTables } from '../helpers/kernel-table.js';
import { icmp, ipv4, tcp, udp } from '../helpers/packets.js';
import { runPacket } from '../helpers/run.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('hle');
});
afterAll(() => kt.close());

const DROP = 0;
const ACCEPT = 1;
const INPUT = 1;

const filter = (rules: string): string =>
  [
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    rules.trim(),
    'COMMIT',
    '',
  ].join('\n');

interface Loaded {
  run(packet: Buffer): number;
  runs(packet: Buffer, n: number): number[];
  packets(entry: number): bigint;
  fd(map: string): number;
  close(): void;
}

function load(table: Table): Loaded {
  const r = loadTable(table);
  const run = (p: Buffer): number => runPacket(r.progs[INPUT] as number, p, INPUT);
  return {
    run,
    runs: (p, n) => Array.from({ length: n }, () => run(p)),
    packets: (i) => readCounters(r.counters, 1, i)[0]?.pcnt ?? -1n,
    fd: (m) => r.instance.fd(m),
    close: () => r.instance.close(),
  };
}

const from = (src: string, sport = 1000, dport = 53): Buffer =>
  ipv4(17, udp(sport, dport), { src });

/** The table of `save` with every hashlimit match set to `revision` (rev 1 counts 1/10000 s). */
function atRevision(table: Table, revision: number): Table {
  return {
    ...table,
    chains: table.chains.map((c) => ({
      ...c,
      rules: c.rules.map((r) => ({
        ...r,
        matches: r.matches.map((m) => {
          if (m.extension !== hashlimit) return m;
          const v = m.value as HashlimitMatch;
          const avg = revision === 1 ? v.avg / 100n : v.avg;
          return { ...m, revision, value: { ...v, avg, interval: 0 } };
        }),
      })),
    })),
  };
}

describe('hashlimit in BPF', () => {
  it('a bucket per masked source: burst packets pass, then none; the mask groups sources', () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name m24 -j ACCEPT
`),
      ),
    );
    try {
      expect(t.runs(from('10.1.1.1'), 2)).toEqual([ACCEPT, ACCEPT]);
      expect(t.runs(from('10.1.1.200'), 2)).toEqual([ACCEPT, DROP]); // the same /24
      expect(t.runs(from('10.1.2.1'), 4)).toEqual([ACCEPT, ACCEPT, ACCEPT, DROP]);
      expect(t.packets(0)).toBe(6n);
    } finally {
      t.close();
    }
  });

  it('modes: ports of the packet; ICMP has none; a rule joining a table takes its configuration', () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -p udp -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcport,dstport --hashlimit-name ports -j ACCEPT
-A INPUT -p icmp -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 2 --hashlimit-mode dstport --hashlimit-name icmp -j ACCEPT
-A INPUT -p tcp -m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 9 --hashlimit-mode srcport,dstport --hashlimit-name ports -j ACCEPT
`),
      ),
    );
    try {
      expect(t.run(from('10.0.0.1', 1, 2))).toBe(ACCEPT);
      expect(t.run(from('10.0.0.9', 1, 2))).toBe(DROP); // same ports, other address
      expect(t.run(from('10.0.0.1', 1, 3))).toBe(ACCEPT);
      // ICMP: proto_ports_offset has no ports: every type shares one bucket
      expect(t.run(ipv4(1, icmp(8, 0)))).toBe(ACCEPT);
      expect(t.run(ipv4(1, icmp(13, 0)))).toBe(ACCEPT);
      expect(t.run(ipv4(1, icmp(8, 0)))).toBe(DROP);
      // TCP 1→2 is UDP 1→2's entry in table "ports" (burst 1, spent): its own burst 9 is ignored
      expect(t.run(ipv4(6, tcp(1, 2)))).toBe(DROP);
      expect(t.runs(ipv4(6, tcp(7, 8)), 2)).toEqual([ACCEPT, DROP]);
    } finally {
      t.close();
    }
  });

  it('--hashlimit-above inverts; byte mode charges 16-byte chunks and refills its burst', () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -s 10.2.0.0/16 -m hashlimit --hashlimit-above 1/min --hashlimit-burst 2 --hashlimit-name above -j DROP
-A INPUT -s 10.2.0.0/16 -j ACCEPT
-A INPUT -s 10.3.0.0/16 -m hashlimit --hashlimit-upto 16b/s --hashlimit-burst 32b --hashlimit-name bytes -j ACCEPT
`),
      ),
    );
    try {
      expect(t.runs(from('10.2.0.1'), 4)).toEqual([ACCEPT, ACCEPT, DROP, DROP]);
      // 16 b/s: a chunk costs a whole second of credit; the burst (2 chunks of 16 b) is the
      // number of times an empty bucket is refilled: 1 + 2 packets, whatever their size
      expect(t.runs(ipv4(17, udp(1, 2, Buffer.alloc(500)), { src: '10.3.0.1' }), 4)).toEqual([
        ACCEPT,
        ACCEPT,
        ACCEPT,
        DROP,
      ]);
    } finally {
      t.close();
    }
  });

  it('rate match: packets up to rate + burst in the window', () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -m hashlimit --hashlimit-upto 2/min --hashlimit-burst 3 --hashlimit-rate-match --hashlimit-name rm -j ACCEPT
`),
      ),
    );
    try {
      // 2/min: avg 500000 after the parse's division by 60, so rate = 10^6 / avg = 2 in a
      // 60-second window, and burst + rate = 5 packets pass before the window closes
      expect(t.runs(from('10.4.0.1'), 6)).toEqual([ACCEPT, ACCEPT, ACCEPT, ACCEPT, ACCEPT, DROP]);
    } finally {
      t.close();
    }
  });

  it('ports of a non-first fragment are its first payload bytes; none there is a hotdrop', () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcport --hashlimit-name frag -j ACCEPT
-A INPUT -j ACCEPT
`),
      ),
    );
    try {
      const frag = (bytes: number[]): Buffer =>
        ipv4(17, Buffer.from(bytes), { fragoff: 100, src: '10.5.0.1' });
      expect(t.run(frag([0, 7, 0, 0, 1, 1, 1, 1]))).toBe(ACCEPT); // "port" 7
      expect(t.run(frag([0, 7, 9, 9]))).toBe(ACCEPT); // port 7's bucket is empty: rule 2
      expect(t.packets(0)).toBe(1n);
      expect(t.packets(1)).toBe(1n);
      expect(t.run(frag([0, 8, 0, 0]))).toBe(ACCEPT);
      expect(t.packets(0)).toBe(2n);
      expect(t.run(frag([0, 9, 0]))).toBe(DROP); // 3 bytes: no ports, hotdrop
      expect([t.packets(0), t.packets(1)]).toEqual([2n, 1n]);
    } finally {
      t.close();
    }
  });

  it('htable-max: a new entry beyond max is a hotdrop; counted entries are in the table', () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-htable-size 2 --hashlimit-htable-max 2 --hashlimit-name max -j ACCEPT
-A INPUT -j ACCEPT
`),
      ),
    );
    try {
      expect(t.run(from('10.6.0.1'))).toBe(ACCEPT);
      expect(t.run(from('10.6.0.2'))).toBe(ACCEPT);
      expect(t.run(from('10.6.0.3'))).toBe(DROP);
      expect(t.run(from('10.6.0.1'))).toBe(ACCEPT);
      expect([t.packets(0), t.packets(1)]).toEqual([3n, 0n]);
      const [slot] = mapKeys(t.fd(HASHLIMIT_TABLES), 4);
      const value = mapLookup(t.fd(HASHLIMIT_TABLES), slot as Buffer, TBL.BYTES);
      expect([value.readUInt32LE(TBL.COUNT), value.readUInt32LE(TBL.MAX)]).toEqual([2, 2]);
      expect(mapKeys(t.fd(HASHLIMIT_ENTRIES), 16)).toHaveLength(2);
    } finally {
      t.close();
    }
  });

  it('the collector drops expired entries every gc interval: a later packet starts afresh', async () => {
    const t = load(
      kt.table(
        filter(`
-A INPUT -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-htable-expire 100 --hashlimit-htable-gcinterval 50 --hashlimit-name gc -j ACCEPT
`),
      ),
    );
    const gc = new HashlimitGc(t.fd(HASHLIMIT_TABLES), t.fd(HASHLIMIT_ENTRIES), (e) => {
      throw e;
    });
    try {
      expect(t.runs(from('10.7.0.1'), 2)).toEqual([ACCEPT, DROP]);
      gc.sweep([]); // only what has no table: the entry stays
      expect(t.run(from('10.7.0.1'))).toBe(DROP);
      gc.start();
      await new Promise((r) => setTimeout(r, 400));
      expect(gc.sweeps).toBeGreaterThan(0);
      expect(mapKeys(t.fd(HASHLIMIT_ENTRIES), 16)).toHaveLength(0);
      const value = mapLookup(t.fd(HASHLIMIT_TABLES), u32(0), TBL.BYTES);
      expect(value.readUInt32LE(TBL.COUNT)).toBe(0);
      expect(t.run(from('10.7.0.1'))).toBe(ACCEPT);
    } finally {
      gc.close();
      t.close();
    }
  });

  it('revisions 1 and 2 run with their own credit scales', () => {
    const save = filter(`
-A INPUT -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name rev -j ACCEPT
`);
    for (const revision of [1, 2]) {
      const t = load(atRevision(kt.table(save), revision));
      try {
        expect(t.runs(from('10.8.0.1'), 3)).toEqual([ACCEPT, ACCEPT, DROP]);
      } finally {
        t.close();
      }
    }
  });
});

describe('hashlimit table values', () => {
  const v = (o: Partial<HashlimitMatch>): HashlimitMatch => ({
    name: 't',
    mode: 0,
    avg: 60000000n,
    burst: 3n,
    size: 0,
    max: 0,
    gcInterval: 1000,
    expire: 60000,
    interval: 0,
    srcmask: 32,
    dstmask: 32,
    ...o,
  });

  it('htable_create: size from RAM (8192 above 1 GiB, at least 16), max 8 × size or at least size', () => {
    expect(tableSize(0, (4 * 2 ** 30) / 4096)).toBe(8192);
    expect(tableSize(0, (512 << 20) / 4096)).toBe(4096);
    expect(tableSize(0, 100)).toBe(16);
    expect(tableSize(7, 1 << 20)).toBe(7);
  });

  it('msecs_to_jiffies at HZ 250 rounds up; 2^31 ms and above are MAX_JIFFY_OFFSET', () => {
    expect([1, 4, 5, 1000].map(msecsToJiffies)).toEqual([1n, 1n, 2n, 250n]);
    expect(msecsToJiffies(0x80000000)).toBe((1n << 62n) - 2n);
  });

  it('rateinfo_init per revision: credits, rate match, bytes', () => {
    // rev 1: user2credits multiplies by HZ·CPJ/SCALE = 3; rev 2+: by 137438953
    expect(initialBucket(v({ avg: 600000n }), 1)).toEqual([5400000n, 5400000n, 1800000n, 0n]);
    expect(initialBucket(v({}), 2)).toEqual([
      60000000n * 3n * 137438953n,
      60000000n * 3n * 137438953n,
      60000000n * 137438953n,
      0n,
    ]);
    // rate match: rate = 10^6 / avg, burst = burst + rate, the interval in the first word
    expect(initialBucket(v({ mode: 1 << 6, avg: 250000n, interval: 60 }), 3)).toEqual([
      60n,
      0n,
      4n,
      7n,
    ]);
    // bytes: a full second of credit, the burst as refills, user2credits_byte as the cost
    const bytes = initialBucket(v({ mode: 1 << 5, avg: 0xffffffffn / 2n, burst: 2n }), 2);
    expect(bytes[0]).toBe(4194304000n);
    expect(bytes[1]).toBe(2n);
  });
});
