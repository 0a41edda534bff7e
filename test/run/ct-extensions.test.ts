// -m connmark, helper and connbytes on packets without a conntrack entry (test-run packets
// have none): connmark and connbytes never hold, inverted or not; helper holds only inverted.
// With entries: test/targets/ct-extensions.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from '../helpers/kernel-table.js';
import { ipv4, tcp } from '../helpers/packets.js';
import { DROP, ACCEPT, load } from './helpers.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('ctx');
});
afterAll(() => kt.close());

describe('conntrack-entry matches without an entry', () => {
  it.each([
    ['connmark --mark 0', ACCEPT],
    ['connmark ! --mark 0', ACCEPT],
    ['connmark ! --mark 0x1/0x1', ACCEPT],
    ['helper --helper ftp', ACCEPT],
    ['helper ! --helper ftp', DROP],
    ['helper --helper ""', ACCEPT],
    ['helper ! --helper ""', DROP],
    ['connbytes --connbytes 0 --connbytes-dir both --connbytes-mode packets', ACCEPT],
    ['connbytes ! --connbytes 10 --connbytes-dir original --connbytes-mode bytes', ACCEPT],
    ['connbytes --connbytes 0:0 --connbytes-dir reply --connbytes-mode avgpkt', ACCEPT],
  ])('INPUT -m %s → %d', (m, verdict) => {
    const t = load(kt, `-A INPUT -m ${m} -j DROP`);
    try {
      expect(t.run('INPUT', ipv4(6, tcp(1000, 80)))).toBe(verdict);
      expect(t.packets(0)).toBe(verdict === DROP ? 1n : 0n);
    } finally {
      t.close();
    }
  });
});
