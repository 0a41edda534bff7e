// -m owner where the kernel comparison needs no sockets: a test-run packet has none, so every
// test holds only inverted (the sockets themselves: test/targets/owner.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelTables } from '../helpers/kernel-table.js';
import { ipv4, udp } from '../helpers/packets.js';
import { DROP, ACCEPT, load } from './helpers.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('own');
});
afterAll(() => kt.close());

describe('-m owner without a socket', () => {
  it.each([
    ['--uid-owner 0', ACCEPT],
    ['! --uid-owner 0', DROP],
    ['--gid-owner 0 --suppl-groups', ACCEPT],
    ['! --gid-owner 0', DROP],
    ['--socket-exists', ACCEPT],
    ['! --socket-exists', DROP],
    ['! --socket-exists ! --uid-owner 5', DROP],
    ['! --socket-exists --uid-owner 5', ACCEPT],
  ])('OUTPUT -m owner %s → %d', (m, verdict) => {
    const t = load(kt, `-A OUTPUT -m owner ${m} -j DROP`);
    try {
      expect(t.run('OUTPUT', ipv4(17, udp(1, 2)))).toBe(verdict);
      expect(t.packets(2)).toBe(verdict === DROP ? 1n : 0n);
    } finally {
      t.close();
    }
  });
});
