// -m addrtype against the kernel: the same routing set-up (a second link with its own address,
// an anycast route, a blackhole and an unreachable prefix) in both servers, the same packets in
// (crafted frames from sources the client spoofs) and out (UDP from the server to every kind of
// address); per-rule counters must be equal. Then the window: an address added while the rules
// run is LOCAL to our helper's rules as soon as rtnetlink says so.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipv4, udp } from '../helpers/packets.js';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const SERVER = '10.87.0.2';
const CLIENT = '10.87.0.1';
const SOURCES = [CLIENT, '10.90.3.7', '10.90.4.9'];
const twins = new Twins(`at${process.pid % 100000}`, { serverAddr: SERVER, neighbours: SOURCES });
const inject = (side: Side, packets: readonly Buffer[]): unknown =>
  twins.inject(side, packets, 200);

/** UDP from the server to each address (SO_BROADCAST on), one datagram each. */
const send = (to: readonly string[]): string =>
  `const u=require('dgram').createSocket('udp4');u.on('error',()=>{});u.bind(()=>{u.setBroadcast(true);let n=0;for(const a of ${JSON.stringify(to)})u.send('x',9,a,()=>{if(++n===${to.length})setTimeout(()=>u.close(),100)});});`;

const OUT_TO = [
  '10.87.0.77',
  '10.87.0.255',
  '255.255.255.255',
  '224.0.0.1',
  '127.0.0.1',
  SERVER,
  '10.90.1.1',
  '10.90.1.255',
  '10.92.0.1',
];

beforeAll(async () => {
  await twins.start();
  for (const side of SIDES) {
    const s = twins.ns(side, 's');
    const ip = (...a: string[]): void => void execFileSync('ip', ['-n', s, ...a]);
    ip('link', 'add', 'srv1', 'type', 'veth', 'peer', 'name', 'srv1p');
    ip('link', 'set', 'srv1', 'up');
    ip('link', 'set', 'srv1p', 'up');
    ip('addr', 'add', '10.90.1.1/24', 'dev', 'srv1');
    ip('route', 'add', 'anycast', '10.90.2.5', 'dev', 'srv1', 'table', 'local');
    ip('route', 'add', 'blackhole', '10.90.3.0/24');
    ip('route', 'add', 'unreachable', '10.90.4.0/24');
    ip('route', 'add', 'broadcast', '10.92.0.1', 'dev', 'srv0', 'table', 'local');
  }
});

afterAll(() => twins.close());

const TYPES = ['UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE'];

describe('-m addrtype against the kernel', () => {
  it('counts as the kernel does for every type, both sides, !, and --limit-iface-in/out', () => {
    const matches = (limit: string): string[] => [
      ...TYPES.flatMap((t) => [`--src-type ${t}`, `--dst-type ${t}`]),
      '! --src-type LOCAL',
      '! --dst-type LOCAL,BROADCAST',
      '--src-type LOCAL --dst-type LOCAL',
      '--src-type UNICAST ! --dst-type MULTICAST',
      `--dst-type LOCAL ${limit}`,
      `--dst-type BROADCAST ${limit}`,
      `--dst-type UNICAST ${limit}`,
      `! --dst-type LOCAL ${limit}`,
      `--src-type LOCAL ${limit}`,
    ];
    const rules = [
      ...matches('--limit-iface-in').map((m) => `-A INPUT -m addrtype ${m}`),
      ...matches('--limit-iface-out').map((m) => `-A OUTPUT -m addrtype ${m}`),
    ].join('\n');
    const got = {} as Record<Side, string>;
    for (const side of SIDES) {
      twins.restore(side, filterTable(rules));
      const to = { src: CLIENT, dst: SERVER };
      inject(side, [
        ipv4(17, udp(1000, 9), to),
        ipv4(17, udp(1000, 9), { ...to, dst: '10.87.0.255' }),
        ipv4(17, udp(1000, 9), { ...to, dst: '255.255.255.255' }),
        ipv4(17, udp(1000, 9), { ...to, dst: '224.0.0.1' }),
        ipv4(17, udp(1000, 9), { ...to, dst: '10.90.1.1' }),
        ipv4(17, udp(1000, 9), { ...to, src: '10.90.3.7' }),
        ipv4(17, udp(1000, 9), { ...to, src: '10.90.4.9' }),
      ]);
      twins.exec(side, 's', [process.execPath, '-e', send(OUT_TO)]);
      got[side] = twins.counters(side);
    }
    expect(got.bpf).toEqual(got.kernel);
    // Every type that can occur was seen by some rule.
    const hit = got.kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    for (const t of ['UNICAST', 'LOCAL', 'BROADCAST', 'MULTICAST']) {
      expect(hit.some((l) => l.includes(`--dst-type ${t}`))).toBe(true);
    }
  });

  it('follows an address added while the rules run (the window)', async () => {
    const rules = '-A OUTPUT -d 10.93.0.1/32 -p udp -m addrtype --dst-type LOCAL';
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const count = (side: Side): number =>
      Number(
        /\[(\d+):\d+\] -A OUTPUT -d 10.93.0.1\S* -p udp/.exec(twins.counters(side))?.[1] ?? -1,
      );
    for (const side of SIDES) twins.exec(side, 's', [process.execPath, '-e', send(['10.93.0.1'])]);
    expect(SIDES.map(count)).toEqual([0, 0]);
    const started = Date.now();
    for (const side of SIDES) {
      execFileSync('ip', ['-n', twins.ns(side, 's'), 'addr', 'add', '10.93.0.1/32', 'dev', 'srv1']);
    }
    // A datagram sent right after `ip addr add` returns: the helper has had only the time the
    // announcement takes to reach it; poll until ours counts it as LOCAL too.
    let waited = 0;
    for (; count('bpf') < 1 && waited < 2000; waited = Date.now() - started) {
      twins.exec('bpf', 's', [process.execPath, '-e', send(['10.93.0.1'])]);
    }
    twins.exec('kernel', 's', [process.execPath, '-e', send(['10.93.0.1'])]);
    expect(count('kernel')).toBe(1);
    expect(count('bpf')).toBeGreaterThanOrEqual(1);
    expect(waited).toBeLessThan(2000);
    // And it goes again with the address.
    for (const side of SIDES) {
      execFileSync('ip', ['-n', twins.ns(side, 's'), 'addr', 'del', '10.93.0.1/32', 'dev', 'srv1']);
    }
    await new Promise((r) => setTimeout(r, 100));
    const before = count('bpf');
    twins.exec('bpf', 's', [process.execPath, '-e', send(['10.93.0.1'])]);
    expect(count('bpf')).toBe(before);
  });

  it('keeps following the routes after a helper restart', async () => {
    const rules = '-A OUTPUT -d 10.94.0.1/32 -p udp -m addrtype --dst-type LOCAL';
    twins.restore('bpf', filterTable(rules));
    await twins.restartDaemon();
    // The restarted helper adopts the namespace, and its keeper, when it first serves it.
    twins.iptables('bpf', ['iptables-legacy', '-L', '-n']);
    execFileSync('ip', ['-n', twins.ns('bpf', 's'), 'addr', 'add', '10.94.0.1/32', 'dev', 'srv1']);
    const count = (): number =>
      Number(
        /\[(\d+):\d+\] -A OUTPUT -d 10.94.0.1\S* -p udp/.exec(twins.counters('bpf'))?.[1] ?? -1,
      );
    const started = Date.now();
    while (count() < 1 && Date.now() - started < 2000) {
      twins.exec('bpf', 's', [process.execPath, '-e', send(['10.94.0.1'])]);
    }
    expect(count()).toBeGreaterThanOrEqual(1);
  });
});
