// -m policy against the kernel on real packets and routes: this kernel has no ESP, AH or
// IPcomp, so no packet has a secpath or an xfrm bundle; both sides must agree that --pol none
// holds and --pol ipsec does not, whatever the elements, in INPUT (--dir in) and OUTPUT
// (--dir out, read off the packet's route).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.82.0.1';
const SERVER = '10.82.0.2';
const twins = new Twins(`po${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });

beforeAll(async () => {
  await twins.start();
});

afterAll(() => {
  twins.close();
});

const ELEMENTS = [
  '',
  '--strict --proto esp',
  '--strict --proto ah --mode transport --next --proto esp',
  '--strict --mode tunnel --tunnel-src 10.82.0.1 --tunnel-dst 10.82.0.0/24 --spi 0x100 --reqid 7',
  '! --proto esp ! --reqid 1',
];

function run(side: Side): string {
  twins.exec(side, 'c', ['ping', '-c', '2', '-i', '0.2', '-W', '1', SERVER]);
  return twins.counters(side);
}

describe('-m policy without IPsec', () => {
  it('counts as the kernel does, rule for rule', () => {
    // iptables takes no --strict or elements with --pol none.
    const uses = [['none', ''], ...ELEMENTS.map((e) => ['ipsec', e])];
    const rules = uses
      .flatMap(([pol, e]) => [
        `-A INPUT -m policy --dir in --pol ${pol} ${e}`,
        `-A OUTPUT -m policy --dir out --pol ${pol} ${e}`,
      ])
      .join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    // --pol none in both directions, and nothing else.
    expect(counted.length).toBe(2);
  });
});
