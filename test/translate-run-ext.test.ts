// The header, device and payload matches (mac ... string) run by the engine on crafted packets
// with BPF_PROG_TEST_RUN, where the kernel's semantics can be stated exactly: hotdrops,
// truncated headers, fragments, edge values. The same matches against the kernel's own
// iptables are in test/targets/ext-matches.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from './helpers/kernel-table.js';
import { ACCEPT, DROP, expectHits, filter, load } from './helpers/engine-run.js';
import { dccpPacket, ipv4, sctpPacket, tcp, udp } from './helpers/packets.js';

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
      expectHits(
        t,
        8,
        cases.map(([tos, flags, rules]) => [p(tos, flags), rules]),
      );
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

/** A header of `proto` whose 32 bits at `at` are `spi` (and 16 at 2 for IPComp's CPI). */
function spiHeader(size: number, at: number, spi: number, bits: 16 | 32 = 32): Buffer {
  const b = Buffer.alloc(size);
  if (bits === 32) b.writeUInt32BE(spi, at);
  else b.writeUInt16BE(spi, at);
  return b;
}

describe('esp, ah, ipcomp', () => {
  it('compare the SPI (CPI) in range; short headers hotdrop, later fragments never match', () => {
    const t = load(
      kt,
      filter(`
-A INPUT -p esp -m esp --espspi 256:511 -j DROP
-A INPUT -p esp -m esp ! --espspi 1000 -j DROP
-A INPUT -p ah -m ah --ahspi 7 -j DROP
-A INPUT -p ah -m ah ! --ahspi 0:6 -j DROP
-A INPUT -p ipcomp -m ipcomp --ipcompspi 0x1234 -j DROP
-A INPUT -p ipcomp -m ipcomp ! --ipcompspi 5:0xffff -j DROP
`),
    );
    try {
      const run = (proto: number, h: Buffer, fragoff = 0): number =>
        t.run('INPUT', ipv4(proto, h, { fragoff }));
      expect(run(50, spiHeader(8, 0, 300))).toBe(DROP); // rule 1
      expect(run(50, spiHeader(8, 0, 1000))).toBe(ACCEPT);
      expect(run(50, spiHeader(8, 0, 0xfffffff0))).toBe(DROP); // rule 2
      expect(run(50, spiHeader(7, 0, 300))).toBe(DROP); // cut short: hotdrop, not counted
      expect(run(50, spiHeader(8, 0, 300), 20)).toBe(ACCEPT);
      expect(run(51, spiHeader(12, 4, 7))).toBe(DROP); // rule 3
      expect(run(51, spiHeader(12, 4, 3))).toBe(ACCEPT);
      expect(run(51, spiHeader(12, 4, 9))).toBe(DROP); // rule 4
      expect(run(51, spiHeader(11, 4, 7))).toBe(DROP); // hotdrop
      expect(run(108, spiHeader(4, 2, 0x1234, 16))).toBe(DROP); // rule 5
      expect(run(108, spiHeader(4, 2, 4, 16))).toBe(DROP); // rule 6
      expect(run(108, spiHeader(4, 2, 0x1235, 16))).toBe(ACCEPT);
      expect(run(108, spiHeader(4, 2, 4, 16).subarray(0, 3))).toBe(DROP); // hotdrop
      const counts = [1, 2, 3, 4, 5, 6].map((r) => t.packets(`INPUT rule ${r}`));
      expect(counts).toEqual([1n, 1n, 1n, 1n, 1n, 1n]);
      expect(t.packets('INPUT policy')).toBe(4n);
    } finally {
      t.close();
    }
  });
});

describe('tcpmss', () => {
  it('finds the MSS option as tcpmss_mt does; a cut-short or malformed header hotdrops', () => {
    const t = load(
      kt,
      filter(
        `
-A INPUT -p tcp -m tcpmss --mss 1000:1460 -j DROP
-A INPUT -p tcp -m tcpmss ! --mss 536 -j ACCEPT
`,
        'DROP',
      ),
    );
    try {
      const mss = (v: number): Buffer => Buffer.from([2, 4, v >> 8, v & 0xff]);
      const seg = (opts: Buffer, fragoff = 0): Buffer =>
        ipv4(6, tcp(1, 2, 0x02, opts), { fragoff });
      expect(t.run('INPUT', seg(mss(1460)))).toBe(DROP);
      expect(t.run('INPUT', seg(mss(536)))).toBe(DROP); // policy DROP below
      expect(t.run('INPUT', seg(Buffer.concat([Buffer.from([1, 1, 1, 1]), mss(1400)])))).toBe(DROP);
      // Not MSS-shaped (length 3, or the option's last byte outside the options): skipped.
      expect(t.run('INPUT', seg(Buffer.from([2, 3, 5, 0])))).toBe(ACCEPT); // no MSS: ! holds
      expect(t.run('INPUT', seg(Buffer.from([1, 1, 2, 4])))).toBe(ACCEPT);
      expect(t.run('INPUT', seg(Buffer.alloc(0)))).toBe(ACCEPT); // no options at all
      // Length 0 advances by one; kind 0 (EOL) is just skipped.
      expect(t.run('INPUT', seg(Buffer.from([8, 0, 0, 0, 2, 4, 4, 0])))).toBe(DROP); // 1024
      // A non-first fragment's bytes at thoff are read as a TCP header, as the kernel does.
      expect(t.run('INPUT', seg(mss(1200), 30))).toBe(DROP);
      // Data offset 4, and options the packet does not hold: hotdrop.
      const bad = seg(mss(1200));
      bad[32] = 0x40;
      expect(t.run('INPUT', bad)).toBe(DROP);
      const cut = seg(Buffer.concat([mss(1200), Buffer.alloc(4)])).subarray(0, 44);
      cut.writeUInt16BE(44, 2);
      expect(t.run('INPUT', cut)).toBe(DROP);
      expect([t.packets('INPUT rule 1'), t.packets('INPUT rule 2')]).toEqual([4n, 3n]);
      expect(t.packets('INPUT policy')).toBe(1n);
    } finally {
      t.close();
    }
  });
});

describe('sctp', () => {
  const DATA = 0;
  const INIT = 1;
  const SACK = 3;

  it('ports and chunk types (any, all, only, with flags) as sctp_mt', () => {
    const rules = [
      '--sport 5000:5999',
      '! --dport 80',
      '--chunk-types any DATA,INIT',
      '--chunk-types all DATA,SACK',
      '--chunk-types only DATA:Be',
      '! --chunk-types any SACK',
      '--chunk-types all DATA:e',
      '--dport 80 --chunk-types only INIT,SACK',
      '--chunk-types all ALL',
      '--chunk-types any NONE',
    ];
    const t = load(kt, filter(rules.map((r) => `-A INPUT -p sctp -m sctp ${r}`).join('\n')));
    try {
      const packets: [Buffer, number[]][] = [
        [sctpPacket(5000, 80, [[INIT, 0, 20]]), [1, 3, 6, 8]],
        [
          sctpPacket(4000, 81, [
            [DATA, 3, 16],
            [SACK, 0, 16],
          ]),
          [2, 3, 4],
        ],
        [
          sctpPacket(4000, 80, [
            [DATA, 3, 9],
            [DATA, 2, 5],
          ]),
          [3, 6, 7],
        ],
        [sctpPacket(4000, 81, [[DATA, 2, 8]]), [2, 3, 5, 6, 7]],
        [
          sctpPacket(6000, 80, [
            [SACK, 0],
            [INIT, 0],
            [SACK, 0],
          ]),
          [3, 8],
        ],
        [
          sctpPacket(5999, 9, [
            [DATA, 0, 4],
            [SACK, 0, 4],
          ]),
          [1, 2, 3, 4, 7],
        ],
      ];
      expectHits(
        t,
        rules.length,
        packets.map(([p, hits]) => [ipv4(132, p), hits]),
      );
    } finally {
      t.close();
    }
  });

  it('a chunk of length 0 or cut short hotdrops; inverted, the rule still counts and its packet is dropped', () => {
    const t = load(
      kt,
      filter(`
-A INPUT -p sctp -m sctp --sport 1 --chunk-types any DATA -j ACCEPT
-A INPUT -p sctp -m sctp --sport 2 ! --chunk-types any DATA -j ACCEPT
-A INPUT -p sctp -m sctp --sport 3 ! --chunk-types any DATA -m length --length 0:10 -j ACCEPT
-A INPUT -p sctp -m sctp --sport 4:5 -j ACCEPT
`),
    );
    try {
      const zero = (sport: number): Buffer =>
        ipv4(
          132,
          sctpPacket(sport, 9, [
            [INIT, 0, 4],
            [SACK, 0, 0],
          ]),
        );
      expect(t.run('INPUT', zero(1))).toBe(DROP);
      expect(t.packets('INPUT rule 1')).toBe(0n);
      expect(t.run('INPUT', zero(2))).toBe(DROP);
      expect(t.packets('INPUT rule 2')).toBe(1n); // counted, then dropped
      expect(t.run('INPUT', zero(3))).toBe(DROP);
      expect(t.packets('INPUT rule 3')).toBe(0n); // length failed; still dropped
      // No chunk at all, or a chunk header cut short: the walk cannot read one.
      expect(t.run('INPUT', ipv4(132, sctpPacket(1, 9, [])))).toBe(DROP);
      expect(t.run('INPUT', ipv4(132, sctpPacket(1, 9, [[INIT, 0]]).subarray(0, 14)))).toBe(DROP);
      // The common header cut short: hotdrop before any test.
      expect(t.run('INPUT', ipv4(132, sctpPacket(4, 9, []).subarray(0, 11)))).toBe(DROP);
      expect(t.run('INPUT', ipv4(132, sctpPacket(4, 9, [[DATA, 0]])))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(132, sctpPacket(5, 9, [[DATA, 0]]), { fragoff: 5 }))).toBe(ACCEPT);
      expect(t.packets('INPUT rule 4')).toBe(1n);
      expect(t.packets('INPUT policy')).toBe(1n);
    } finally {
      t.close();
    }
  });
});

describe('dccp', () => {
  const [REQUEST, RESPONSE, DATA, ACK, RESET] = [0, 1, 2, 3, 7];
  const run = (t: ReturnType<typeof load>, p: Buffer, o: { fragoff?: number } = {}): number =>
    t.run('INPUT', ipv4(33, p, o));

  it('ports, types and options as dccp_mt, with the header length by type and X bit', () => {
    const rules = [
      '--sport 1000:1999',
      '! --dport 80',
      '--dccp-types REQUEST,RESPONSE',
      '! --dccp-types DATA',
      '--dccp-types INVALID',
      '--dccp-option 32',
      '! --dccp-option 44',
      '--sport 7 --dccp-types ACK --dccp-option 5',
    ];
    const t = load(kt, filter(rules.map((r) => `-A INPUT -p dccp -m dccp ${r}`).join('\n')));
    try {
      const opts = (...b: number[]): Buffer => Buffer.from(b);
      const packets: [Buffer, number[]][] = [
        [dccpPacket(1000, 80, REQUEST), [1, 3, 4, 7]],
        [dccpPacket(999, 81, DATA, { options: opts(32, 2) }), [2, 6, 7]],
        [dccpPacket(7, 80, ACK, { x: true, options: opts(1, 5, 2) }), [4, 7, 8]],
        // 5 sits where the ACK's bits would be without X: no option 5 then.
        [dccpPacket(7, 80, ACK, { options: opts(5, 2, 44, 2) }), [4, 8]],
        [dccpPacket(8, 80, 12, { options: opts(44, 3, 32, 0) }), [4, 5]],
        // 32 inside option 44's length is skipped; a 0 length advances one.
        [dccpPacket(8, 80, RESPONSE, { options: opts(44, 3, 32, 0, 32) }), [3, 4, 6]],
        [dccpPacket(8, 80, RESET, { options: opts(3, 0, 0, 32) }), [4, 6, 7]],
      ];
      expectHits(
        t,
        rules.length,
        packets.map(([p, hits]) => [ipv4(33, p), hits]),
      );
    } finally {
      t.close();
    }
  });

  it('a short header, a data offset inside the header or options cut short hotdrop', () => {
    const t = load(
      kt,
      filter(`
-A INPUT -p dccp -m dccp --sport 1 --dccp-option 9 -j ACCEPT
-A INPUT -p dccp -m dccp --sport 2 ! --dccp-option 9 -j ACCEPT
-A INPUT -p dccp -m dccp --sport 3:9 -j ACCEPT
`),
    );
    try {
      const inside = (sport: number): Buffer => dccpPacket(sport, 80, ACK, { doff: 4 });
      expect(run(t, inside(1))).toBe(DROP);
      expect(run(t, inside(2))).toBe(DROP); // inverted: counted, then dropped
      expect(t.packets('INPUT rule 2')).toBe(1n);
      const cut = dccpPacket(2, 80, DATA, { doff: 20 });
      expect(run(t, cut)).toBe(DROP);
      expect(t.packets('INPUT rule 2')).toBe(2n);
      expect(run(t, dccpPacket(3, 80, DATA).subarray(0, 11))).toBe(DROP);
      expect(run(t, dccpPacket(3, 80, DATA))).toBe(ACCEPT);
      expect(run(t, dccpPacket(1, 80, DATA, { options: Buffer.from([9]) }))).toBe(ACCEPT);
      expect(run(t, dccpPacket(4, 80, DATA), { fragoff: 9 })).toBe(ACCEPT);
      expect([1, 2, 3].map((r) => t.packets(`INPUT rule ${r}`))).toEqual([1n, 2n, 1n]);
    } finally {
      t.close();
    }
  });
});

describe('u32', () => {
  it('runs the test language: &, <<, >>, @ with its bounds checks, ranges, &&, !', () => {
    const rules = [
      // IPv4, and TCP or UDP with a source port
      '"0>>28=4&&0>>22&0x3C@0>>16=1:0xffff&&6&0xff=6,17"',
      // the TCP destination port, through the header length
      '"6&0xFF=6&&0>>22&0x3C@0&0xffff=22"',
      // 4 bytes of TCP payload (through @ twice: the header length, then the data offset)
      '"6&0xFF=6&&0>>22&0x3C@12>>26&0x3C@0=0:0xffffffff"',
      // SYN in the TCP flags
      '"0>>22&0x3C@12>>16&0x02=0x02"',
      // bytes past the end, and an @ past it, never match
      '"2000=0:0xffffffff"',
      '"0>>22&0x3C@0xfffffff0=0:0xffffffff"',
      '"0xfffffffc=0:0xffffffff"',
      // inverted; several ranges
      '! --u32 "16=0x0a000002"',
      '"8>>24=1,2,60:70"',
      '"0&0xffff=0x28"',
    ];
    const t = load(
      kt,
      filter(
        rules.map((r) => `-A INPUT -m u32 ${r.startsWith('!') ? r : `--u32 ${r}`}`).join('\n'),
      ),
    );
    try {
      const data = Buffer.concat([tcp(40000, 23, 0x12), Buffer.from('data')]);
      const packets: [Buffer, number[]][] = [
        [ipv4(6, tcp(40000, 22, 0x02)), [1, 2, 4, 9, 10]],
        [ipv4(6, data, { ttl: 65 }), [1, 3, 4, 9]],
        [ipv4(17, udp(1, 22), { ttl: 2 }), [1, 9]],
        [ipv4(1, Buffer.alloc(8), { dst: '10.0.0.9' }), [8, 9]],
        // IP options push the TCP header: the port is read through ihl
        [ipv4(6, tcp(1, 22, 0x02), { options: Buffer.from([1, 1, 1, 1]) }), [1, 2, 4, 9]],
        [ipv4(6, tcp(1, 22, 0x02)).subarray(0, 22), [9]],
      ];
      for (const [p] of packets) if (p.length === 22) p.writeUInt16BE(22, 2);
      expectHits(t, rules.length, packets);
    } finally {
      t.close();
    }
  });
});

describe('string', () => {
  /** A UDP datagram whose payload starts 28 bytes into the packet. */
  const text = (payload: string): Buffer => ipv4(17, udp(1, 2, Buffer.from(payload, 'latin1')));

  it('finds the pattern between --from and --to, with bm and kmp, --icase and !', () => {
    const rules = [
      '--string "GET /" --algo bm',
      '--string "GET /" --algo kmp',
      '--string "get /" --algo kmp --icase',
      '--string "get /" --algo bm --icase',
      '! --string "Host:" --algo bm',
      '--string "abc" --algo kmp --from 30 --to 35',
      '--string "abc" --algo bm --from 30 --to 35',
      '--hex-string "|0d 0a|Host" --algo kmp',
      '--string "aab" --algo bm',
      // Latin-1 letters fold too: the kernel's toupper(0xe9) is 0xc9
      '--hex-string "|e9|t|e9|" --algo kmp --icase',
    ];
    const t = load(kt, filter(rules.map((r) => `-A INPUT -m string ${r}`).join('\n')));
    try {
      const packets: [Buffer, number[]][] = [
        [text('GET / HTTP/1.1\r\nHost: x\r\n'), [1, 2, 3, 4, 8]],
        [text('xx get /index'), [3, 4, 5]],
        // "abc" at 30..33 (inside [30, 35)), then at 33..36 (ends past 35)
        [text('..abc'), [5, 6, 7]],
        [text('.....abc'), [5]],
        [text('aaab'), [5, 9]],
        [text('\xc9T\xc9!'), [5, 10]],
      ];
      expectHits(t, rules.length, packets);
    } finally {
      t.close();
    }
  });
});
