// A rule's region (classify/region.ts) must hold every packet the rule could match or hotdrop.
// A match that hotdrops a packet cut short drops it before any later match is evaluated, so a
// later match must not narrow those packets away: the differential harness found exactly that
// (a short ESP packet from outside a later -m iprange, dropped by the kernel, accepted by us).
import { describe, expect, it } from 'vitest';
import { entryRegion } from '../src/translate/classify/region.js';
import { contains, L4_SHORT, L4_WHOLE, type Region } from '../src/translate/classify/key.js';
import { planTable } from '../src/translate/plan.js';
import { parseSave } from '../src/translate/save.js';

function regionOf(rule: string): Region {
  const text = `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rule}\nCOMMIT\n`;
  const table = parseSave(text).tables[0]?.table;
  if (!table) throw new Error('no table');
  const plan = planTable(table);
  const entry = plan.entries[plan.hooks.find((h) => h.hook === 1)?.entry ?? -1];
  if (!entry) throw new Error('no INPUT entry');
  return entryRegion(entry);
}

const ip = (s: string): number => s.split('.').reduce((v, x) => v * 256 + Number(x), 0);
/** key.ts word order: src, dst, proto, sport, dport, l4. */
const key = (src: string, dst: string, proto: number, l4: number, sport = 0, dport = 0) => [
  ip(src),
  ip(dst),
  proto,
  sport,
  dport,
  l4,
];

describe('regions keep what a match hotdrops', () => {
  it('a short ESP packet outside a later iprange is still in the region', () => {
    const r = regionOf(
      '-A INPUT -p esp -m esp ! --espspi 1633771873 -m iprange --src-range 10.9.255.254-192.168.0.255 -j ACCEPT',
    );
    // ESP has no ports in the key: its short packets are keyed as whole ones.
    expect(contains(r, key('192.168.1.0', '172.16.32.1', 50, L4_WHOLE))).toBe(true);
  });

  it('a short SCTP packet outside a later iprange is still in the region', () => {
    const r = regionOf(
      '-A INPUT -p sctp -m sctp --chunk-types any DATA -m iprange --dst-range 10.9.128.0-172.16.0.1 -j ACCEPT',
    );
    expect(contains(r, key('10.255.255.255', '10.9.0.5', 132, L4_SHORT))).toBe(true);
  });

  it('whole packets are still narrowed by the later match', () => {
    const r = regionOf(
      '-A INPUT -p tcp -m tcp --dport 22 -m iprange --src-range 10.0.0.1-10.0.0.9 -j ACCEPT',
    );
    expect(contains(r, key('10.0.0.5', '1.2.3.4', 6, L4_WHOLE, 1000, 22))).toBe(true);
    expect(contains(r, key('10.0.0.50', '1.2.3.4', 6, L4_WHOLE, 1000, 22))).toBe(false);
    expect(contains(r, key('10.0.0.5', '1.2.3.4', 6, L4_WHOLE, 1000, 23))).toBe(false);
    // Cut short: tcp hotdrops it before iprange is asked.
    expect(contains(r, key('10.0.0.50', '1.2.3.4', 6, L4_SHORT))).toBe(true);
    expect(contains(r, key('10.0.0.50', '1.2.3.4', 17, L4_SHORT))).toBe(false);
  });

  it('the match that hotdrops narrows by what comes before it', () => {
    const r = regionOf(
      '-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -m iprange --dst-range 1.0.0.0-1.0.0.9 -j ACCEPT',
    );
    expect(contains(r, key('10.1.2.3', '9.9.9.9', 6, L4_SHORT))).toBe(true);
    expect(contains(r, key('11.1.2.3', '9.9.9.9', 6, L4_SHORT))).toBe(false);
  });
});
