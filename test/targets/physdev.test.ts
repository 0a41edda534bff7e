// -m physdev against the kernel: in each side's server namespace a bridge joins the client's
// link and a third namespace's, with br_netfilter calling the IPv4 hooks. The same datagrams
// and pings cross it (FORWARD, bridged), reach the bridge's own address (INPUT) and come back
// from it (OUTPUT) through the kernel's iptables-legacy and our BPF, whose physdev rules only
// count; the per-rule counters must be equal.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsAdd, netnsDel } from '../ipc/helpers.js';
import { CLIENT_MAC, filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.83.0.1';
const SERVER = '10.83.0.2';
const HOST3 = '10.83.0.3';
const HOST3_MAC = '02:00:00:00:00:03';
const twins = new Twins(`pd${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });
const third = (side: Side): string => `${twins.ns(side, 's')}h`;

beforeAll(async () => {
  await twins.start();
  const ip = (...a: string[]): void => void execFileSync('ip', a);
  for (const side of SIDES) {
    const [c, s, h] = [twins.ns(side, 'c'), twins.ns(side, 's'), third(side)];
    netnsAdd(h);
    ip('-n', s, 'addr', 'flush', 'dev', 'srv0');
    // No IGMP reports of its own at timings of its own.
    ip('-n', s, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', s, 'link', 'set', 'br0', 'multicast', 'off');
    ip('-n', s, 'link', 'set', 'srv0', 'master', 'br0');
    ip('link', 'add', 'port3', 'netns', s, 'type', 'veth', 'peer', 'name', 'eth3', 'netns', h);
    ip('-n', s, 'link', 'set', 'port3', 'master', 'br0');
    ip('-n', s, 'link', 'set', 'port3', 'up');
    ip('-n', s, 'link', 'set', 'br0', 'up');
    ip('-n', s, 'addr', 'add', `${SERVER}/24`, 'dev', 'br0');
    ip('-n', h, 'link', 'set', 'eth3', 'address', HOST3_MAC, 'up');
    ip('-n', h, 'addr', 'add', `${HOST3}/24`, 'dev', 'eth3');
    const neigh = (n: string, addr: string, mac: string, dev: string): void =>
      ip('-n', n, 'neigh', 'replace', addr, 'lladdr', mac, 'dev', dev, 'nud', 'permanent');
    neigh(s, CLIENT, CLIENT_MAC, 'br0');
    neigh(c, HOST3, HOST3_MAC, 'cli0');
    neigh(h, CLIENT, CLIENT_MAC, 'eth3');
    execFileSync('ip', ['netns', 'exec', h, 'sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);
    twins.sysctl(side, 'net.bridge.bridge-nf-call-iptables=1');
  }
  // A new address sends IGMP reports for a while after it comes up: let them pass first.
  await new Promise((r) => setTimeout(r, 3000));
});

afterAll(() => {
  for (const side of SIDES) netnsDel(third(side));
  twins.close();
});

const udp = (to: string): string =>
  `const u=require('dgram').createSocket('udp4');u.on('error',()=>{});u.send('x',9,'${to}',()=>setTimeout(()=>u.close(),150));`;

const MATCHES = [
  '--physdev-in srv0',
  '! --physdev-in srv0',
  '--physdev-in srv+',
  '--physdev-in port3',
  '--physdev-out port3',
  '! --physdev-out port3',
  '--physdev-out port+',
  '--physdev-out srv0',
  '--physdev-is-in',
  '! --physdev-is-in',
  '--physdev-is-out',
  '! --physdev-is-out',
  '--physdev-is-bridged',
  '! --physdev-is-bridged',
  '--physdev-in srv0 --physdev-out port3',
  '--physdev-in srv0 ! --physdev-out srv0 --physdev-is-bridged',
  '! --physdev-in port3 --physdev-is-in',
];

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', udp(HOST3)]);
  twins.exec(side, 'c', [process.execPath, '-e', udp(SERVER)]);
  twins.exec(side, 'c', ['ping', '-c', '1', '-W', '1', HOST3]);
  twins.exec(side, 'c', ['ping', '-c', '1', '-W', '1', SERVER]);
  return twins.counters(side);
}

describe('-m physdev on bridged packets', () => {
  it('counts as the kernel does, rule for rule, in INPUT, FORWARD and OUTPUT', () => {
    const rules = [
      ...['INPUT', 'FORWARD'].flatMap((c) => MATCHES.map((m) => `-A ${c} -m physdev ${m}`)),
      '-A OUTPUT -m physdev --physdev-is-bridged',
      '-A OUTPUT -m physdev ! --physdev-is-bridged',
      '-A OUTPUT -m physdev ! --physdev-is-in',
      '-A OUTPUT -m physdev --physdev-is-bridged --physdev-out srv0',
    ].join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    expect(counted.length).toBeGreaterThan(MATCHES.length);
  });
});
