// -m conntrack beyond --ctstate against the kernel: the same flows (TCP to a listener, through
// a DNAT, to a closed port; UDP with a reply and to a closed port; ping) cross the kernel's
// iptables-legacy and our BPF, whose rules only count; the per-rule counters must be equal.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.89.0.1';
const SERVER = '10.89.0.2';
const twins = new Twins(`ct${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });
const listeners: ChildProcess[] = [];

beforeAll(async () => {
  await twins.start();
  const serve = `require('net').createServer(c=>c.on('error',()=>{})).listen(5001,'${SERVER}');const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send(m,r.port,r.address));u.bind(7000,'${SERVER}',()=>process.stdout.write('ready'))`;
  for (const side of SIDES) {
    const l = spawn('ip', ['netns', 'exec', twins.ns(side, 's'), process.execPath, '-e', serve], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    listeners.push(l);
    await new Promise<void>((resolve) => l.stdout?.once('data', () => resolve()));
    // A DNAT (the kernel's own nat table on both sides) so --ctstate DNAT and the reply tuple
    // differ from the original.
    twins.exec(side, 's', [
      'iptables-legacy',
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-p',
      'tcp',
      '--dport',
      '6001',
      '-j',
      'DNAT',
      '--to-destination',
      `${SERVER}:5001`,
    ]);
  }
});

afterAll(() => {
  for (const l of listeners) l.kill();
  twins.close();
});

/**
 * One flow at a time, each waited for, so both sides see the same packets. TCP ends with the
 * client's RST right after the handshake: a FIN exchange's ACKs depend on timing.
 */
const TRAFFIC = `
const net=require('net'),dgram=require('dgram');
const tcp=(port)=>new Promise(r=>{const s=net.connect(port,'${SERVER}');s.on('connect',()=>s.resetAndDestroy());s.on('close',()=>setTimeout(r,100));s.on('error',()=>{});});
const udp=(port)=>new Promise(r=>{const u=dgram.createSocket('udp4');u.on('error',()=>{});u.on('message',()=>{});u.send('q',port,'${SERVER}',()=>setTimeout(()=>{u.close();r()},200));});
(async()=>{await tcp(5001);await tcp(6001);await tcp(5003);await udp(7000);await udp(7001);})();
`;

const MATCHES = [
  '--ctstate NEW',
  '--ctstate ESTABLISHED',
  '--ctstate RELATED',
  '--ctstate INVALID',
  '--ctstate DNAT',
  '! --ctstate SNAT',
  '--ctproto tcp',
  '! --ctproto udp',
  '--ctorigsrc 10.89.0.1',
  '--ctorigsrc 10.89.0.0/30',
  '! --ctorigdst 10.89.0.2',
  '--ctreplsrc 10.89.0.2',
  '--ctrepldst 10.89.0.1/32',
  '--ctorigdstport 5001',
  '--ctorigdstport 6001',
  '--ctorigsrcport 1024:65535',
  '--ctreplsrcport 7000',
  '! --ctrepldstport 0:1023',
  '--ctstatus SEEN_REPLY',
  '--ctstatus ASSURED',
  '! --ctstatus CONFIRMED',
  '--ctstatus EXPECTED,SEEN_REPLY',
  '--ctexpire 0:60',
  '--ctexpire 61:500000',
  '! --ctexpire 0:0',
  '--ctdir ORIGINAL',
  '--ctdir REPLY',
  '--ctstate NEW,ESTABLISHED --ctproto udp --ctdir ORIGINAL',
  '--ctstate RELATED --ctorigsrc 10.89.0.1 --ctreplsrcport 7001',
];

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', TRAFFIC]);
  twins.exec(side, 'c', ['ping', '-c', '1', '-W', '1', SERVER]);
  return twins.counters(side);
}

describe('-m conntrack fields read from the kernel entry', () => {
  it('counts as the kernel does, rule for rule, in INPUT and OUTPUT', () => {
    const rules = ['INPUT', 'OUTPUT']
      .flatMap((c) => MATCHES.map((m) => `-A ${c} -m conntrack ${m}`))
      .join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    // Not a vacuous equality: most rules saw packets.
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    expect(counted.length).toBeGreaterThan(MATCHES.length);
  });
});
