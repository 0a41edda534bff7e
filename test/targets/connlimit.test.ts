// -m connlimit against the kernel's: the same TCP connections (some refused by a connlimit
// REJECT rule, some closed and replaced) and UDP flows cross the kernel's iptables-legacy and
// ours; equal per-rule counters. Masks, --connlimit-daddr, above/upto, a rule seeing every data
// packet (a confirmed connection adds nothing), a refused SYN's tuple leaving its list at the
// next count, TIME_WAIT connections no longer counted, and a replace starting every count afresh.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.86.0.1';
const SERVER = '10.86.0.2';
const twins = new Twins(`cl${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });
const listeners: ChildProcess[] = [];

beforeAll(async () => {
  await twins.start();
  const serve = `require('net').createServer(c=>{c.on('error',()=>{});c.resume();c.on('end',()=>c.end());}).listen(5001,'${SERVER}');const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send(m,r.port,r.address));u.bind(7000,'${SERVER}',()=>process.stdout.write('ready'))`;
  for (const side of SIDES) {
    const l = spawn('ip', ['netns', 'exec', twins.ns(side, 's'), process.execPath, '-e', serve], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    listeners.push(l);
    await new Promise<void>((resolve) => l.stdout?.once('data', () => resolve()));
  }
});

afterAll(() => {
  for (const l of listeners) l.kill();
  twins.close();
});

/**
 * Connections one at a time, each waited for: five (the fourth and fifth refused), two of the
 * first three closed with FIN and left in TIME_WAIT, three more (the last refused), data on the
 * open ones, three UDP flows; then the rest reset.
 */
const TRAFFIC = `
const net=require('net'),dgram=require('dgram');
const wait=(ms)=>new Promise(r=>setTimeout(r,ms));
const open=()=>new Promise(r=>{const s=net.connect(5001,'${SERVER}');s.on('connect',()=>{s.write('x');setTimeout(()=>r(s),50);});s.on('error',()=>r(undefined));});
const close=(s)=>new Promise(r=>{s.on('close',()=>r());s.end();});
const udp=(n)=>new Promise(r=>{const u=dgram.createSocket('udp4');u.on('message',()=>{});u.send('a',7000,'${SERVER}',()=>setTimeout(()=>u.send('b',7000,'${SERVER}',()=>setTimeout(()=>{u.close();r();},100)),100));});
(async()=>{
  const c=[];
  for(let i=0;i<5;i++){c.push(await open());await wait(20);}
  await wait(200);
  await close(c[0]);await close(c[1]);
  await wait(400);
  for(let i=0;i<3;i++){c.push(await open());await wait(20);}
  for(const s of c) if(s&&!s.destroyed) s.write('y');
  await wait(200);
  await udp();await udp();await udp();
  for(const s of c) if(s&&!s.destroyed) s.resetAndDestroy();
  await wait(200);
})();
`;

const RULES = `
-A INPUT -p tcp --dport 5001 --syn -m connlimit --connlimit-above 2
-A INPUT -p tcp --dport 5001 --syn -m connlimit --connlimit-upto 3
-A INPUT -p tcp --dport 5001 --tcp-flags SYN,ACK,FIN,RST,PSH ACK,PSH -m connlimit --connlimit-above 1 --connlimit-mask 24
-A INPUT -p tcp --syn -m connlimit --connlimit-above 1 --connlimit-daddr --connlimit-mask 0
-A INPUT -p udp --dport 7000 -m connlimit --connlimit-above 1
-A INPUT -p udp --dport 7000 -m connlimit --connlimit-upto 2 --connlimit-mask 16
-A INPUT -p tcp --dport 5001 --syn -m connlimit --connlimit-above 3 -j REJECT --reject-with tcp-reset
-A INPUT -p tcp --dport 5001
`;

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', TRAFFIC]);
  return twins.counters(side);
}

const counts = (save: string): number[] =>
  save
    .split('\n')
    .filter((l) => l.startsWith('[') && l.includes('-A INPUT'))
    .map((l) => Number(/^\[(\d+):/.exec(l)?.[1]));

describe('-m connlimit against the kernel', () => {
  it('counts connections as nf_conncount does, rule for rule', () => {
    for (const side of SIDES) twins.restore(side, filterTable(RULES));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const n = counts(kernel);
    // 8 SYNs, 3 of them refused (the fourth, fifth and eighth connections)
    expect(n[6]).toBe(3);
    // Data packets of confirmed connections add nothing: that list never passes 1.
    expect(n[2]).toBe(0);
    expect(n.filter((c) => c > 0)).toHaveLength(n.length - 1);
  });

  it('a replace starts every rule’s count afresh (checkentry allocates new lists)', async () => {
    const rules = `
-A INPUT -p tcp --dport 5001 --syn -m connlimit --connlimit-above 1
-A INPUT -p tcp --dport 5001 --syn
`;
    const hold = `
const net=require('net');const c=[];
const open=()=>new Promise(r=>{const s=net.connect(5001,'${SERVER}');s.on('connect',()=>setTimeout(()=>r(s),50));s.on('error',()=>r(undefined));});
(async()=>{c.push(await open());c.push(await open());process.stdout.write('held\\n');await new Promise(r=>process.stdin.once('data',r));c.push(await open());for(const s of c) if(s) s.resetAndDestroy();setTimeout(()=>process.exit(0),100);})();
`;
    const out = {} as Record<Side, string>;
    for (const side of SIDES) {
      twins.restore(side, filterTable(rules));
      const p = spawn('ip', ['netns', 'exec', twins.ns(side, 'c'), process.execPath, '-e', hold], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const exited = new Promise<void>((resolve) => p.on('exit', () => resolve()));
      await new Promise<void>((resolve) => p.stdout?.once('data', () => resolve()));
      // The same rules again: the two open connections are no longer counted.
      twins.restore(side, filterTable(rules));
      p.stdin?.write('go\n');
      await exited;
      out[side] = twins.counters(side);
    }
    expect(out.bpf).toEqual(out.kernel);
    // the third SYN starts a new list: one connection, not above 1
    expect(counts(out.kernel)).toEqual([0, 1]);
  });
});
