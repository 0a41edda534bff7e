// -m owner against the kernel: the same sockets (processes of several uids, gids and
// supplementary groups, a listener answering SYNs from its request socket, the kernel's own
// RSTs and ICMP, REJECT's replies) send through the kernel's OUTPUT and ours, whose owner rules
// only count; the per-rule counters must be equal.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.87.0.1';
const SERVER = '10.87.0.2';
const twins = new Twins(`ow${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });
const listeners: ChildProcess[] = [];

/** A process in a side's server with the given credentials. */
const as = (uid: number, gid: number, groups: readonly number[]): string[] => [
  'setpriv',
  `--reuid=${uid}`,
  `--regid=${gid}`,
  groups.length === 0 ? '--clear-groups' : `--groups=${groups.join(',')}`,
  process.execPath,
  '-e',
];

const SEND = `const u=require('dgram').createSocket('udp4');u.send('x',9,'${CLIENT}',()=>setTimeout(()=>u.close(),100));`;

beforeAll(async () => {
  await twins.start();
  const serve = `require('net').createServer(c=>c.on('error',()=>{})).listen(5001,'${SERVER}',()=>process.stdout.write('ready'))`;
  for (const side of SIDES) {
    const l = spawn(
      'ip',
      ['netns', 'exec', twins.ns(side, 's'), ...as(1002, 2002, [3003, 3010]), serve],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    listeners.push(l);
    await new Promise<void>((resolve) => l.stdout?.once('data', () => resolve()));
  }
});

afterAll(() => {
  for (const l of listeners) l.kill();
  twins.close();
});

const CLIENT_TRAFFIC = `
const net=require('net'),dgram=require('dgram');
const tcp=(port)=>new Promise(r=>{const s=net.connect(port,'${SERVER}');s.on('connect',()=>s.resetAndDestroy());s.on('close',()=>setTimeout(r,100));s.on('error',()=>{});});
const udp=(port)=>new Promise(r=>{const u=dgram.createSocket('udp4');u.on('error',()=>{});u.send('q',port,'${SERVER}',()=>setTimeout(()=>{u.close();r()},200));});
(async()=>{await tcp(5001);await tcp(5003);await tcp(7778);await udp(7777);})();
`;

const MATCHES = [
  '--uid-owner 1000',
  '! --uid-owner 1000',
  '--uid-owner 1000-1001',
  '--uid-owner 1002',
  '--uid-owner 0',
  '--gid-owner 2000',
  '! --gid-owner 2001',
  '--gid-owner 3000',
  '--gid-owner 3000 --suppl-groups',
  '--gid-owner 3001-3003 --suppl-groups',
  '! --gid-owner 3010 --suppl-groups',
  '--socket-exists',
  '! --socket-exists',
  '--socket-exists --uid-owner 1001',
  '--uid-owner 1001 --gid-owner 2001',
  '! --uid-owner 1001 ! --gid-owner 2000',
  '--uid-owner 1000 ! --gid-owner 3001 --suppl-groups',
];

function run(side: Side): string {
  twins.exec(side, 's', [...as(1000, 2000, [3000, 3001]), SEND]);
  twins.exec(side, 's', [...as(1001, 2001, []), SEND]);
  twins.exec(side, 's', [...as(0, 0, []), SEND]);
  twins.exec(side, 'c', [process.execPath, '-e', CLIENT_TRAFFIC]);
  twins.exec(side, 'c', ['ping', '-c', '1', '-W', '1', SERVER]);
  return twins.counters(side);
}

describe('-m owner on the sockets the kernel attaches', () => {
  it('counts as the kernel does, rule for rule', () => {
    const rules = [
      '-A INPUT -p udp --dport 7777 -j REJECT',
      '-A INPUT -p tcp --dport 7778 -j REJECT --reject-with tcp-reset',
      ...MATCHES.map((m) => `-A OUTPUT -m owner ${m}`),
    ].join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    expect(counted.length).toBeGreaterThan(MATCHES.length - 4);
  });
});
