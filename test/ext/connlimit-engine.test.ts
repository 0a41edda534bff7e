// -m connlimit's BPF evaluation on crafted packets (BPF_PROG_TEST_RUN): test-run packets have no
// conntrack entry, so these are the kernel's paths for untracked packets — the tuple from the
// packet (nf_ct_get_tuplepr), a hotdrop where there is none, and the count a new list starts
// with. Counting tracked connections is the twin test's (test/targets/connlimit.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable, readCounters } from '../../src/bpf/backend.js';
import { KernelTables } from '../helpers/kernel-table.js';
import { icmp, ipv4, udp } from '../helpers/packets.js';
import { runPacket } from '../helpers/run.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('cle');
});
afterAll(() => kt.close());

const DROP = 0;
const ACCEPT = 1;

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

describe('connlimit in BPF, packets without a conntrack entry', () => {
  it('a new list counts the packet: above 0 holds, upto 0 does not; no tuple is a hotdrop', () => {
    const r = loadTable(
      kt.table(
        filter(`
-A INPUT -s 10.1.0.0/16 -m connlimit --connlimit-above 0 -j ACCEPT
-A INPUT -s 10.2.0.0/16 -m connlimit --connlimit-upto 0 --connlimit-mask 24 -j ACCEPT
-A INPUT -s 10.3.0.0/16 -m connlimit --connlimit-upto 5 --connlimit-daddr -j ACCEPT
-A INPUT -j ACCEPT
`),
      ),
    );
    const run = (p: Buffer): number => runPacket(r.progs[1] as number, p, 1);
    const packets = (i: number): bigint => readCounters(r.counters, 1, i)[0]?.pcnt ?? -1n;
    try {
      expect(run(ipv4(17, udp(1, 2), { src: '10.1.0.1' }))).toBe(ACCEPT);
      expect(run(ipv4(1, icmp(8, 0), { src: '10.1.0.1' }))).toBe(ACCEPT);
      expect(packets(0)).toBe(2n);
      expect(run(ipv4(17, udp(1, 2), { src: '10.2.0.1' }))).toBe(ACCEPT); // rule 4
      expect([packets(1), packets(3)]).toEqual([0n, 1n]);
      expect(run(ipv4(17, udp(1, 2), { src: '10.3.0.1' }))).toBe(ACCEPT);
      expect(packets(2)).toBe(1n);
      // a non-first fragment has no tuple, nor has a UDP header cut to 2 bytes
      expect(run(ipv4(17, Buffer.alloc(16), { src: '10.1.0.1', fragoff: 10 }))).toBe(DROP);
      expect(run(ipv4(17, Buffer.alloc(2), { src: '10.1.0.1' }))).toBe(DROP);
      expect(run(ipv4(1, Buffer.alloc(6), { src: '10.1.0.1' }))).toBe(DROP);
      expect([packets(0), packets(3)]).toEqual([2n, 1n]);
      // processed instructions stay modest
      expect(r.instance.processed).toBeLessThan(200000);
    } finally {
      r.instance.close();
    }
  });
});
