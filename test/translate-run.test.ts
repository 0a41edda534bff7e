// Tables the kernel built from iptables-save text, compiled to BPF, loaded, and run on crafted
// packets with BPF_PROG_TEST_RUN: verdicts and per-entry counters as ipt_do_table would give.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable, readCounters } from '../src/bpf/backend.js';
import { planTable, type Plan } from '../src/translate/plan.js';
import { KernelTables } from './helpers/kernel-table.js';
import { runPacket } from './helpers/run.js';
import { icmp, ipv4, tcp, udp } from './helpers/packets.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('xlt');
});
afterAll(() => kt.close());

const DROP = 0;
const ACCEPT = 1;

interface Loaded {
  /** Runs the packet at the hook of built-in chain `chain` (the program reads the hook). */
  run(chain: string, packet: Buffer): number;
  counter(index: number): { packets: bigint; bytes: bigint };
  plan: Plan;
  close(): void;
}

const CHAINS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

function load(save: string): Loaded {
  const table = kt.table(save);
  const r = loadTable(table);
  return {
    plan: planTable(table),
    run: (chain, packet) => {
      const at = CHAINS.indexOf(chain);
      return runPacket(r.progs[at] as number, packet, at);
    },
    counter: (i) => {
      const [c = { pcnt: -1n, bcnt: -1n }] = readCounters(r.counters, 1, i);
      return { packets: c.pcnt, bytes: c.bcnt };
    },
    close: () => r.instance.close(),
  };
}

const filter = (rules: string, policies = 'INPUT DROP', chains: string[] = []): string =>
  [
    '*filter',
    `:${policies.startsWith('INPUT') ? policies : 'INPUT ACCEPT'} [0:0]`,
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    rules.trim(),
    'COMMIT',
    '',
  ].join('\n');

describe('one program at every hook', () => {
  it('runs the chain and falls to the policy of the hook it runs at', () => {
    const save = [
      '*filter',
      ':INPUT DROP [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT DROP [0:0]',
      '-A INPUT -p udp -m udp --dport 53 -j ACCEPT',
      '-A FORWARD -p udp -m udp --dport 53 -j DROP',
      '-A OUTPUT -p udp -m udp --dport 54 -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n');
    const t = load(save);
    try {
      const dns = (): Buffer => ipv4(17, udp(40000, 53));
      const other = (): Buffer => ipv4(17, udp(40000, 54));
      expect(['INPUT', 'FORWARD', 'OUTPUT'].map((c) => t.run(c, dns()))).toEqual([
        ACCEPT,
        DROP,
        DROP,
      ]);
      expect(['INPUT', 'FORWARD', 'OUTPUT'].map((c) => t.run(c, other()))).toEqual([
        DROP,
        ACCEPT,
        ACCEPT,
      ]);
      // Each hook counted its own rule and its own policy, once per packet.
      const at = (source: string): bigint =>
        t.counter(t.plan.entries.find((e) => e.source === source)?.index ?? -1).packets;
      expect(['INPUT rule 1', 'FORWARD rule 1', 'OUTPUT rule 1'].map(at)).toEqual([1n, 1n, 1n]);
      expect(['INPUT policy', 'FORWARD policy', 'OUTPUT policy'].map(at)).toEqual([1n, 1n, 1n]);
    } finally {
      t.close();
    }
  });
});

describe('linear rule sets', () => {
  it('ports, protocols, addresses, policy — verdicts and counters', () => {
    const t = load(
      filter(`
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p udp -m udp --sport 53 -j ACCEPT
-A INPUT -s 192.168.0.0/16 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -p tcp -m tcp ! --dport 1000:2000 -j DROP
-A INPUT -p tcp -j ACCEPT
`),
    );
    try {
      const syn22 = ipv4(6, tcp(40000, 22));
      expect(t.run('INPUT', syn22)).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(6, tcp(40000, 23)))).toBe(DROP);
      expect(t.run('INPUT', ipv4(6, tcp(40000, 1500)))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(17, udp(53, 9999)))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(17, udp(54, 9999)))).toBe(DROP); // policy
      expect(t.run('INPUT', ipv4(17, udp(54, 9999), { src: '192.168.7.7' }))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(1, icmp(8, 0)))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(1, icmp(0, 0)))).toBe(DROP);
      expect(t.counter(0)).toEqual({ packets: 1n, bytes: BigInt(syn22.length) });
      expect(t.counter(4).packets).toBe(1n); // ! --dport 1000:2000
      expect(t.counter(5).packets).toBe(1n); // 1500 → ACCEPT
      expect(t.counter(6).packets).toBe(2n); // policy: udp 54 and echo-reply
    } finally {
      t.close();
    }
  });

  it('non-first fragments skip L4 matches; a TCP fragment at offset 1 is dropped outright', () => {
    const t = load(
      filter(`-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -f -j ACCEPT`, 'INPUT DROP'),
    );
    try {
      expect(t.run('INPUT', ipv4(6, Buffer.alloc(24), { fragoff: 3 }))).toBe(ACCEPT); // -f rule
      expect(t.run('INPUT', ipv4(6, Buffer.alloc(24), { fragoff: 1 }))).toBe(DROP); // hotdrop
      expect(t.counter(1).packets).toBe(1n);
      expect(t.counter(2).packets).toBe(0n); // hotdrop counts nothing further
      expect(t.run('INPUT', ipv4(6, tcp(1, 22).subarray(0, 12)))).toBe(DROP); // truncated TCP
      expect(t.counter(2).packets).toBe(0n);
    } finally {
      t.close();
    }
  });
});

describe('user chains', () => {
  it('jump, RETURN, goto and fall-through to the policy', () => {
    const t = load(
      filter(
        `
-A INPUT -p tcp -j tcpchain
-A INPUT -p udp -g udpchain
-A INPUT -j ACCEPT
-A tcpchain -p tcp -m tcp --dport 22 -j ACCEPT
-A tcpchain -p tcp -m tcp --dport 23 -j DROP
-A udpchain -p udp -m udp --dport 53 -j ACCEPT
`,
        'INPUT DROP',
        ['tcpchain', 'udpchain'],
      ),
    );
    try {
      expect(t.run('INPUT', ipv4(6, tcp(1, 22)))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(6, tcp(1, 23)))).toBe(DROP);
      expect(t.run('INPUT', ipv4(6, tcp(1, 80)))).toBe(ACCEPT); // RETURN → INPUT rule 3
      expect(t.run('INPUT', ipv4(17, udp(1, 53)))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(17, udp(1, 54)))).toBe(DROP); // goto: RETURN → INPUT policy
      expect(t.run('INPUT', ipv4(1, icmp(8, 0)))).toBe(ACCEPT);
    } finally {
      t.close();
    }
  });

  it('32 nested jumps return all the way back; counters count every entry the walk passes', () => {
    const chains = Array.from({ length: 32 }, (_, i) => `c${i}`);
    const rules = [
      '-A INPUT -j c0',
      '-A INPUT -p udp -j ACCEPT',
      ...chains.slice(1).map((c, i) => `-A c${i} -j ${c}`),
      '-A c31 -p tcp -m tcp --dport 22 -j ACCEPT',
    ].join('\n');
    const t = load(filter(rules, 'INPUT DROP', chains));
    try {
      expect(t.plan.maxDepth).toBe(32);
      expect(t.run('INPUT', ipv4(6, tcp(1, 22)))).toBe(ACCEPT);
      expect(t.run('INPUT', ipv4(17, udp(1, 22)))).toBe(ACCEPT); // 32 RETURNs, then INPUT rule 2
      expect(t.run('INPUT', ipv4(6, tcp(1, 23)))).toBe(DROP);
      const c31Return = t.plan.entries.find((e) => e.source === 'c31 return');
      expect(t.counter(c31Return?.index ?? -1).packets).toBe(2n);
      expect(t.counter(0).packets).toBe(3n);
    } finally {
      t.close();
    }
  });

  it('-i and -o compare interface names under masks, with + wildcards and !', () => {
    // Test-run gives no devices without a ctx, and with one only out = "lo" (net/bpf/test_run.c
    // picks devices by the default hook, LOCAL_OUT, before copying the caller's); real devices
    // are covered over veth.
    const t = load(
      filter(`
-A INPUT -i lo -j DROP
-A INPUT ! -i lo -j ACCEPT
-A OUTPUT -o eth+ -j DROP
-A OUTPUT ! -o lo -j DROP
-A OUTPUT -o l+ -j ACCEPT
`),
    );
    try {
      expect(t.run('INPUT', ipv4(17, udp(1, 2)))).toBe(ACCEPT);
      expect(t.counter(0).packets).toBe(0n);
      expect(t.counter(1).packets).toBe(1n);
      expect(t.run('OUTPUT', ipv4(17, udp(1, 2)))).toBe(ACCEPT);
      const lPlus = t.plan.entries.find((e) => e.source === 'OUTPUT rule 3');
      expect(t.counter(lPlus?.index ?? -1).packets).toBe(1n);
    } finally {
      t.close();
    }
  });
});

describe('state, conntrack, mark, length, ttl, iprange, multiport, comment', () => {
  it('each match as the kernel defines it (test-run packets carry no conntrack entry: INVALID)', () => {
    const t = load(
      filter(`
-A INPUT -m conntrack --ctstate NEW -j DROP
-A INPUT -m state --state INVALID -m comment --comment "no entry" -j ACCEPT
`),
    );
    try {
      expect(t.run('INPUT', ipv4(17, udp(1, 2)))).toBe(ACCEPT);
      expect(t.counter(0).packets).toBe(0n);
      expect(t.counter(1).packets).toBe(1n);
    } finally {
      t.close();
    }
    const m = load(
      filter(`
-A INPUT -m mark --mark 0x1/0x1 -j DROP
-A INPUT -m mark ! --mark 0x0/0xff -j DROP
-A INPUT -m length --length 0:40 -j ACCEPT
-A INPUT -m ttl --ttl-lt 10 -j DROP
-A INPUT -m ttl --ttl-eq 200 -j ACCEPT
-A INPUT -m iprange --src-range 10.1.0.0-10.1.255.255 ! --dst-range 10.0.0.2-10.0.0.3 -j ACCEPT
-A INPUT -p udp -m multiport --dports 53,1000:1010,2000 -j ACCEPT
-A INPUT -p tcp -m multiport ! --ports 22,80 -j ACCEPT
`),
    );
    try {
      const at = (n: number): bigint => m.counter(n).packets;
      expect(m.run('INPUT', ipv4(17, udp(1, 2, Buffer.alloc(4))))).toBe(ACCEPT); // length 32
      expect(at(2)).toBe(1n);
      const big = Buffer.alloc(100);
      expect(m.run('INPUT', ipv4(17, udp(1, 2, big), { ttl: 5 }))).toBe(DROP);
      expect(at(3)).toBe(1n);
      expect(m.run('INPUT', ipv4(17, udp(1, 2, big), { ttl: 200 }))).toBe(ACCEPT);
      expect(at(4)).toBe(1n);
      expect(m.run('INPUT', ipv4(17, udp(1, 2, big), { src: '10.1.2.3', dst: '10.0.0.9' }))).toBe(
        ACCEPT,
      );
      expect(m.run('INPUT', ipv4(17, udp(1, 2, big), { src: '10.1.2.3', dst: '10.0.0.3' }))).toBe(
        DROP,
      );
      expect(at(5)).toBe(1n);
      expect(m.run('INPUT', ipv4(17, udp(1, 1005, big)))).toBe(ACCEPT);
      expect(m.run('INPUT', ipv4(17, udp(1, 2000, big)))).toBe(ACCEPT);
      expect(m.run('INPUT', ipv4(17, udp(1, 1011, big)))).toBe(DROP);
      expect(at(6)).toBe(2n);
      expect(m.run('INPUT', ipv4(6, tcp(80, 9999, 0x02, Buffer.alloc(80))))).toBe(DROP); // sport 80
      expect(m.run('INPUT', ipv4(6, tcp(81, 9999, 0x02, Buffer.alloc(80))))).toBe(ACCEPT);
      expect(at(7)).toBe(1n);
    } finally {
      m.close();
    }
  });
});

describe('limit', () => {
  it('a burst of 3 at 1/minute: three packets pass, the fourth does not — also inside a user chain', () => {
    for (const text of [
      filter('-A INPUT -m limit --limit 1/min --limit-burst 3 -j ACCEPT'),
      filter(
        '-A INPUT -j lim\n-A lim -m limit --limit 1/min --limit-burst 3 -j ACCEPT',
        'INPUT DROP',
        ['lim'],
      ),
    ]) {
      const t = load(text);
      try {
        const verdicts = Array.from({ length: 5 }, () => t.run('INPUT', ipv4(17, udp(1, 2))));
        expect(verdicts).toEqual([ACCEPT, ACCEPT, ACCEPT, DROP, DROP]);
      } finally {
        t.close();
      }
    }
  });
});

describe('--tcp-option', () => {
  it('finds an option kind by walking the options as tcp_find_option does', () => {
    const t = load(
      filter(`
-A INPUT -p tcp -m tcp --tcp-option 8 -j ACCEPT
-A INPUT -p tcp -m tcp ! --tcp-option 30 -j DROP
-A INPUT -p tcp -j ACCEPT
`),
    );
    try {
      // MSS (kind 2, len 4), NOP, NOP, timestamps (kind 8, len 10), NOP, NOP
      const ts = Buffer.from([2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
      const mss = Buffer.from([2, 4, 5, 0xb4]);
      const mptcp = Buffer.from([30, 4, 0, 0]);
      expect(t.run('INPUT', ipv4(6, tcp(1, 2, 0x02, ts)))).toBe(ACCEPT);
      expect(t.counter(0).packets).toBe(1n);
      expect(t.run('INPUT', ipv4(6, tcp(1, 2, 0x02, mss)))).toBe(DROP); // no kind 8, no kind 30
      expect(t.counter(1).packets).toBe(1n);
      expect(t.run('INPUT', ipv4(6, tcp(1, 2, 0x02, mptcp)))).toBe(ACCEPT); // has 30: rule 3
      expect(t.counter(2).packets).toBe(1n);
      // Header says 24 bytes but the packet ends at 20: the kernel drops it.
      const cut = ipv4(6, tcp(1, 2, 0x02, mss)).subarray(0, 40);
      cut.writeUInt16BE(40, 2);
      expect(t.run('INPUT', cut)).toBe(DROP);
      expect(t.counter(0).packets).toBe(1n);
    } finally {
      t.close();
    }
  });
});

describe('limits of the translation', () => {
  it('nesting as deep as there are chains loads and runs (the kernel has no other limit)', () => {
    const nested = (depth: number): string => {
      const chains = Array.from({ length: depth }, (_, i) => `d${i}`);
      const rules = [
        '-A INPUT -j d0',
        ...chains.slice(1).map((c, i) => `-A d${i} -j ${c}`),
        '-A INPUT -j ACCEPT',
      ];
      return filter(rules.join('\n'), 'INPUT DROP', chains);
    };
    for (const depth of [49, 300]) {
      const t = load(nested(depth));
      try {
        expect(t.plan.maxDepth).toBe(depth);
        expect(t.run('INPUT', ipv4(17, udp(1, 2)))).toBe(ACCEPT);
        // Every chain's RETURN footer on the way back counted the packet once.
        const footers = t.plan.entries.filter((e) => / return$/.test(e.source));
        expect(footers.every((e) => t.counter(e.index).packets === 1n)).toBe(true);
      } finally {
        t.close();
      }
    }
  });
});

describe('rules the differential harness caught', () => {
  it('a match that never holds (! --icmp-type any) loads and never matches', () => {
    const t = load(
      filter(`
-A INPUT -p icmp -m icmp ! --icmp-type any -j ACCEPT
-A INPUT -p icmp -j ACCEPT
`),
    );
    try {
      expect(t.run('INPUT', ipv4(1, icmp(8, 0)))).toBe(ACCEPT);
      expect(t.counter(0).packets).toBe(0n);
      expect(t.counter(1).packets).toBe(1n);
    } finally {
      t.close();
    }
  });

  it('a rule that always holds and ends its chain leaves the rules after it unreached', () => {
    const t = load(
      filter(
        `
-A INPUT -j c
-A INPUT -s 0.0.0.0/0 -j DROP
-A INPUT -p udp -j ACCEPT
-A c -m comment --comment "always" -j RETURN
-A c -p udp -j ACCEPT
`,
        'INPUT ACCEPT',
        ['c'],
      ),
    );
    try {
      expect(t.run('INPUT', ipv4(17, udp(1, 2)))).toBe(DROP);
      expect(t.counter(1).packets).toBe(1n); // -s 0/0 DROP
      expect(t.counter(2).packets).toBe(0n);
    } finally {
      t.close();
    }
  });

  it('two -m limit in one rule keep a bucket each, charged in order as the kernel does', () => {
    const t = load(
      filter(
        '-A INPUT -m limit --limit 10/sec --limit-burst 2 -m limit --limit 10/sec --limit-burst 2 -j ACCEPT',
      ),
    );
    try {
      const verdicts = [0, 1, 2].map(() => t.run('INPUT', ipv4(17, udp(1, 2))));
      // One shared bucket would be charged twice per packet and let only the first through.
      expect(verdicts).toEqual([ACCEPT, ACCEPT, DROP]);
    } finally {
      t.close();
    }
  });
});

describe('jumps the kernel accepts and iptables never writes', () => {
  it('a jump into the middle of a chain, past a rule that ends every walk before it', () => {
    // X's first rule drops all TCP; cut on proto, its leaf would list nothing after it. A jump
    // straight to X's second rule must still find it (blocks.ts: jump targets start blocks).
    // Many protocols, so the tree cuts proto down to single values.
    const others = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13].map((p) => `-A X -p ${p} -j DROP`);
    const table = kt.table(
      filter(
        ['-A INPUT -j X', '-A X -p tcp -j DROP', '-A X -p tcp -j ACCEPT', ...others].join('\n'),
        'INPUT DROP',
        ['X'],
      ),
    );
    const input = table.chains.find((c) => c.name === 'INPUT');
    if (input?.kind !== 'builtin') throw new Error('no INPUT');
    const [jump] = input.rules;
    if (!jump) throw new Error('no jump');
    const mid: typeof table = {
      ...table,
      chains: table.chains.map((c) =>
        c === input
          ? { ...input, rules: [{ ...jump, target: { kind: 'jump', chain: 'X', index: 1 } }] }
          : c,
      ),
    };
    const r = loadTable(mid);
    try {
      const run = (p: Buffer): number => runPacket(r.progs[1] as number, p, 1);
      expect(run(ipv4(6, tcp(1, 80)))).toBe(ACCEPT);
      expect(run(ipv4(17, udp(1, 99)))).toBe(DROP); // RETURN, then INPUT's policy
    } finally {
      r.instance.close();
    }
  });
});

describe('big rulesets', () => {
  it('3000 linear rules load (one pending verifier branch per rule) and walk to the last', () => {
    const rules = Array.from(
      { length: 3000 },
      (_, i) =>
        `-A INPUT -s 10.201.${(i >> 8) & 255}.${i & 255}/32 -p udp -m udp --dport ${1000 + i} -j DROP`,
    );
    const t = load(filter([...rules, '-A INPUT -p udp -m udp --dport 9 -j ACCEPT'].join('\n')));
    try {
      expect(t.run('INPUT', ipv4(17, udp(1, 9)))).toBe(ACCEPT);
      expect(t.counter(3000).packets).toBe(1n);
      // rule 2001 (10.201.7.208, port 3000) still drops what it names
      expect(t.run('INPUT', ipv4(17, udp(1, 3000), { src: '10.201.7.208' }))).toBe(DROP);
      expect(t.counter(2000).packets).toBe(1n);
    } finally {
      t.close();
    }
  });
});
