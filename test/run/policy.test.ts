// -m policy on packets without IPsec (test-run packets have no secpath and no route; this
// kernel has no ESP, AH or IPcomp to make any): --pol none holds, --pol ipsec does not, in
// either direction, strict or not. Against the kernel on real routes: test/targets/policy.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from '../helpers/kernel-table.js';
import { ipv4, udp } from '../helpers/packets.js';
import { DROP, ACCEPT, load } from './helpers.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('pol');
});
afterAll(() => kt.close());

describe('-m policy without IPsec', () => {
  it.each([
    ['INPUT', '--dir in --pol none', DROP],
    ['INPUT', '--dir in --pol ipsec', ACCEPT],
    ['INPUT', '--dir in --pol ipsec --strict --proto esp', ACCEPT],
    ['INPUT', '--dir in --pol ipsec --strict --proto esp --next --mode tunnel', ACCEPT],
    ['OUTPUT', '--dir out --pol none', DROP],
    ['OUTPUT', '--dir out --pol ipsec --spi 0x10 --mode tunnel --tunnel-dst 10.0.0.1', ACCEPT],
    ['FORWARD', '--dir out --pol ipsec --reqid 5', ACCEPT],
    ['FORWARD', '--dir out --pol none', DROP],
    ['FORWARD', '--dir in --pol ipsec', ACCEPT],
  ])('%s -m policy %s → %d', (chain, m, verdict) => {
    const t = load(kt, `-A ${chain} -m policy ${m} -j DROP`);
    try {
      expect(t.run(chain, ipv4(17, udp(1, 2)))).toBe(verdict);
    } finally {
      t.close();
    }
  });
});
