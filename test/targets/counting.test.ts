// -m quota and -m statistic against the kernel: the same datagrams, one at a time, through the
// kernel's iptables-legacy and our BPF; every rule's state (bytes left, the nth counter) must
// evolve alike, so the per-rule counters must be equal. Random mode is compared where it is
// deterministic (probability 0 and 1); its distribution is test/run/counting.test.ts's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.85.0.1';
const SERVER = '10.85.0.2';
const twins = new Twins(`cn${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });

beforeAll(async () => {
  await twins.start();
});

afterAll(() => {
  twins.close();
});

/** 17 datagrams to a closed port, of 29 to 509 bytes in all. */
const TRAFFIC = `
const u=require('dgram').createSocket('udp4');u.on('error',()=>{});
const send=(i)=>{if(i===17){setTimeout(()=>u.close(),100);return;}
  u.send(Buffer.alloc((i*97)%481+1),9999,'${SERVER}',()=>setTimeout(()=>send(i+1),20));};
send(0);
`;

const MATCHES = [
  'quota --quota 1000',
  'quota ! --quota 1000',
  'quota --quota 0',
  'quota --quota 29',
  'quota --quota 4000',
  'statistic --mode nth --every 3 --packet 0',
  'statistic --mode nth --every 3 --packet 2',
  'statistic --mode nth ! --every 4 --packet 1',
  'statistic --mode nth --every 1 --packet 0',
  'statistic --mode nth --every 7 --packet 6',
  'statistic --mode random --probability 0',
  'statistic --mode random ! --probability 0',
  'statistic --mode random --probability 1',
  'statistic --mode nth --every 2 --packet 1 -m quota --quota 2000',
  'quota --quota 2000 -m statistic --mode nth --every 2 --packet 1',
];

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', TRAFFIC]);
  return twins.counters(side);
}

describe('-m quota and -m statistic keep their state as the kernel does', () => {
  it('counts as the kernel does, rule for rule, also in a user chain reached twice', () => {
    const rules = [
      ...MATCHES.map((m) => `-A INPUT -p udp -m ${m}`),
      '-A INPUT -p udp -j twice',
      '-A INPUT -p udp -j twice',
      '-A twice -m statistic --mode nth --every 3 --packet 1',
      '-A twice -m quota --quota 3000',
      ...MATCHES.map((m) => `-A OUTPUT -p icmp -m ${m}`),
    ].join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules, ['twice']));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    expect(counted.length).toBeGreaterThan(MATCHES.length);
    // A second replace starts every rule's state afresh on both sides.
    for (const side of SIDES) twins.restore(side, filterTable(rules, ['twice']));
    expect(run('bpf')).toEqual(run('kernel'));
  });
});
