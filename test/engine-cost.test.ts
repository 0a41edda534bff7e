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
  connmark: '-m connmark --mark 1',
  helper: '-m helper --helper ftp',
  connbytes: '-m connbytes --connbytes 1:2 --connbytes-dir both --connbytes-mode avgpkt',
  quota: '-m quota --quota 100',
  statistic: '-m statistic --mode nth --every 2 --packet 0',
  time: '-m time --timestart 01:00 --timestop 02:00 --monthdays 1,2 --weekdays Mon --kerneltz',
  physdev: '-m physdev --physdev-in a --physdev-is-bridged',
  policy: '-m policy --dir in --pol ipsec --strict --proto esp',
  owner: '-A OUTPUT -m owner --uid-owner 1 --gid-owner 2 --suppl-groups',
  mac: '-m mac --mac-source 02:00:00:00:00:01',
  pkttype: '-m pkttype --pkt-type broadcast',
  tos: '-m tos --tos 0x10',
  dscp: '-m dscp --dscp 1',
  ecn: '-p tcp -m ecn --ecn-tcp-ece',
  tcpmss: '-p tcp -m tcpmss --mss 1:2',
  esp: '-p esp -m esp --espspi 1',
  ah: '-p ah -m ah --ahspi 1',
  ipcomp: '-p ipcomp -m ipcomp --ipcompspi 1',
  sctp: '-p sctp -m sctp --chunk-types any DATA',
  dccp: '-p dccp -m dccp --dccp-option 1',
  cpu: '-m cpu --cpu 1',
  devgroup: '-m devgroup --src-group 1',
  realm: '-m realm --realm 1',
  u32: '-m u32 --u32 "0>>22&0x3C@0=1"',
  string: '-m string --string "x" --algo bm',
};

describe('engine verification cost', () => {
  it('stays far from the verifier limit with every evaluated match in one ruleset', () => {
    const evaluated = MATCHES.filter((m) => m.engine !== undefined).map((m) => m.name);
    expect(evaluated.filter((n) => RULES[n] === undefined)).toEqual([]);
    const rules = [
      ...evaluated
        .map((n) => RULES[n] ?? '')
        .map((r) => (r.startsWith('-A ') ? r : `-A INPUT ${r}`)),
      '-A INPUT -j LOG',
      '-A INPUT -p tcp -j REJECT --reject-with tcp-reset',
    ].join('\n');
    const table = parseSave(filterTable(rules)).tables[0]?.table;
    if (!table) throw new Error('no table');
    const loaded = loadTable(table);
    try {
      const { processed, progs } = loaded.instance;
      console.log('processed instructions (one program, every hook):', processed);
      expect([...progs.keys()]).toEqual([1, 2, 3]);
      expect(new Set(progs.values()).size).toBe(1);
      expect(processed).toBeGreaterThan(5000);
      expect(processed).toBeLessThan(250_000);
    } finally {
      loaded.instance.close();
    }
  });
});
