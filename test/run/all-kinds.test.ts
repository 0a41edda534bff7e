// The verifier's cost with every match kind in one ruleset: each evaluator is a global
// function verified once, so the program stays far from the verifier's 1,000,000 limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from '../helpers/kernel-table.js';
import { load } from './helpers.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('all');
});
afterAll(() => kt.close());

const RULES = `
-A INPUT -p tcp -m tcp --dport 22 -m multiport --dports 1,2 -m state --state NEW -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -m conntrack --ctstate NEW --ctexpire 1:2 -m limit --limit 1/s
-A INPUT -p icmp -m icmp --icmp-type 8 -m mark --mark 1 -m length --length 1:2 -m comment --comment x
-A INPUT -m connmark --mark 1 -m helper --helper ftp
-A INPUT -m connbytes --connbytes 1:2 --connbytes-dir both --connbytes-mode avgpkt
-A INPUT -m quota --quota 100 -m statistic --mode nth --every 2 --packet 0
-A INPUT -m statistic --mode random --probability 0.5
-A INPUT -m time --timestart 01:00 --timestop 02:00 --monthdays 1,2 --weekdays Mon --kerneltz
-A INPUT -m physdev --physdev-in a --physdev-is-bridged
-A INPUT -m policy --dir in --pol ipsec --strict --proto esp
-A OUTPUT -m owner --uid-owner 1 --gid-owner 2 --suppl-groups
-A OUTPUT -m policy --dir out --pol ipsec --proto esp
-A INPUT -j LOG
-A INPUT -j REJECT
`;

describe('every match kind in one ruleset', () => {
  it('verifies in far fewer than 1,000,000 processed instructions per hook', () => {
    const t = load(kt, RULES);
    try {
      const processed = [...t.processed.values()];
      console.log('processed instructions per hook:', Object.fromEntries(t.processed));
      expect(processed.length).toBe(3);
      for (const n of processed) expect(n).toBeLessThan(100_000);
    } finally {
      t.close();
    }
  });
});
