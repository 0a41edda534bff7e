// What the verifier spends on the engine program when one ruleset uses every match the engine
// evaluates: each evaluator is a global function verified once, so the total must stay far from
// the verifier's 1,000,000 processed instructions. A match that gains an engine part must get a
// rule here (the test fails otherwise).
import { describe, expect, it } from 'vitest';
import { loadTable } from '../src/bpf/backend.js';
import { MATCHES } from '../src/translate/ext/registry.js';
import { parseSave } from '../src/translate/save.js';
import { filterTable } from './helpers/twins.js';

const RULES: Readonly<Record<string, string>> = {
  tcp: '-p tcp --dport 22',
  udp: '-p udp --sport 53',
  icmp: '-p icmp --icmp-type echo-request',
  multiport: '-p tcp -m multiport --dports 80,443',
  conntrack: '-m conntrack --ctstate NEW --ctorigsrc 10.0.0.1',
  state: '-m state --state ESTABLISHED',
  mark: '-m mark --mark 0x1',
  comment: '-m comment --comment x',
  iprange: '-m iprange --src-range 10.0.0.1-10.0.0.9',
  length: '-m length --length 100:200',
  ttl: '-m ttl --ttl-gt 3',
  limit: '-m limit --limit 3/min',
  addrtype: '-m addrtype --dst-type LOCAL --limit-iface-in',
  recent: '-m recent --update --seconds 30 --hitcount 6 --name X',
  hashlimit: '-m hashlimit --hashlimit-upto 5/sec --hashlimit-mode srcip --hashlimit-name H',
  connlimit: '-p tcp -m connlimit --connlimit-above 3',
};

describe('engine verification cost', () => {
  it('stays far from the verifier limit with every evaluated match in one ruleset', () => {
    const evaluated = MATCHES.filter((m) => m.engine !== undefined).map((m) => m.name);
    expect(evaluated.filter((n) => RULES[n] === undefined)).toEqual([]);
    const rules = evaluated.map((n) => `-A INPUT ${RULES[n] ?? ''}`).join('\n');
    const table = parseSave(filterTable(rules)).tables[0]?.table;
    if (!table) throw new Error('no table');
    const loaded = loadTable(table);
    try {
      for (const [, processed] of loaded.instance.processed) {
        expect(processed).toBeGreaterThan(5000);
        expect(processed).toBeLessThan(250_000);
      }
    } finally {
      loaded.instance.close();
    }
  });
});
