// The header, device and payload matches (mac ... string) run by the engine on crafted packets
// with BPF_PROG_TEST_RUN, where the kernel's semantics can be stated exactly: hotdrops,
// truncated headers, fragments, edge values. The same matches against the kernel's own
// iptables are in test/targets/ext-matches.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from './helpers/kernel-table.js';
import { ACCEPT, DROP, filter, load } from './helpers/engine-run.js';
import { ipv4, tcp, udp } from './helpers/packets.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('xrx');
});
afterAll(() => kt.close());

describe('tos, dscp, ecn', () => {
  it('compare the TOS byte as the kernel does, with and without !', () => {
    const t = load(
      kt,
      filter(`
-A INPUT -m tos --tos 0x10/0x3f
-A INPUT -m tos ! --tos 0x04/0x04
-A INPUT -m dscp --dscp 0x2e
-A INPUT -m dscp ! --dscp-class CS1
-A INPUT -m ecn --ecn-ip-ect 3
-A INPUT -m ecn ! --ecn-ip-ect 0
-A INPUT -p tcp -m ecn --ecn-tcp-ece ! --ecn-tcp-cwr
-A INPUT -p tcp -m ecn --ecn-tcp-cwr --ecn-ip-ect 1
`),
    );
    try {
      const p = (tos: number, flags = 0x02): Buffer => ipv4(6, tcp(1, 2, flags), { tos });
      const cases: [number, number, number[]][] = [
        // tos, tcp flags, rules that count it
        [0x00, 0x02, [2, 4]],
        [0x10, 0x02, [1, 2, 4]],
        [0xd0, 0x02, [1, 2, 4]], // 0xd0 & 0x3f = 0x10
        [0x14, 0x02, [4]],
        [0xb8, 0x02, [2, 3, 4]], // EF
        [0x20, 0x02, [2]], // CS1
        [0x23, 0x42, [2, 5, 6, 7]], // ECN CE, ECE
        [0x01, 0xc2, [2, 4, 6, 8]], // ECT(1), ECE|CWR
      ];
      const want = new Map<number, number>();
      for (const [tos, flags, rules] of cases) {
        expect(t.run('INPUT', p(tos, flags))).toBe(ACCEPT);
        for (const r of rules) want.set(r, (want.get(r) ?? 0) + 1);
      }
      for (let r = 1; r <= 8; r++) {
        expect([r, t.packets(`INPUT rule ${r}`)]).toEqual([r, BigInt(want.get(r) ?? 0)]);
      }
    } finally {
      t.close();
    }
  });

  it('ecn reads TCP flags at thoff even in a non-first fragment; a short header fails', () => {
    const t = load(
      kt,
      filter(`
-A INPUT -p tcp -m ecn --ecn-tcp-ece -j DROP
-A INPUT -p tcp -m ecn ! --ecn-tcp-ece -j DROP
`),
    );
    try {
      const frag = ipv4(6, tcp(1, 2, 0x40), { fragoff: 100 });
      expect(t.run('INPUT', frag)).toBe(DROP);
      expect(t.packets('INPUT rule 1')).toBe(1n);
      const short = ipv4(6, tcp(1, 2, 0x40).subarray(0, 19));
      expect(t.run('INPUT', short)).toBe(ACCEPT);
      expect(t.packets('INPUT rule 2')).toBe(0n);
      expect(t.run('INPUT', ipv4(17, udp(1, 2)))).toBe(ACCEPT);
    } finally {
      t.close();
    }
  });
});

describe('mac, pkttype, cpu, devgroup, realm in a test-run', () => {
  it('fail where the kernel would find no device or route (a test-run has neither)', () => {
    const t = load(
      kt,
      filter(`
-A INPUT -m mac --mac-source 00:00:00:00:00:00
-A INPUT -m mac ! --mac-source 00:00:00:00:00:00
-A INPUT -m devgroup --src-group 0
-A INPUT -m devgroup ! --src-group 0
-A INPUT -m realm --realm 0
-A INPUT -m realm ! --realm 0
-A INPUT -m pkttype --pkt-type host
-A INPUT -m cpu ! --cpu 4000
`),
    );
    try {
      expect(t.run('INPUT', ipv4(17, udp(1, 2)))).toBe(ACCEPT);
      const counts = [1, 2, 3, 4, 5, 6, 7, 8].map((r) => t.packets(`INPUT rule ${r}`));
      expect(counts).toEqual([0n, 0n, 0n, 0n, 0n, 0n, 1n, 1n]);
    } finally {
      t.close();
    }
  });
});
