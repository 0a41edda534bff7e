// -m connmark, -m helper and -m connbytes against the kernel: the same flows (TCP and UDP whose
// entries the kernel's mangle table marks, an FTP control connection whose 227 reply makes the
// ftp helper expect the data connection, ping) cross the kernel's iptables-legacy and our BPF,
// whose rules only count; the per-rule counters must be equal.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.86.0.1';
const SERVER = '10.86.0.2';
const twins = new Twins(`cx${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });
const listeners: ChildProcess[] = [];
/**
 * 5002 = 19 * 256 + 138: the data port the control connection's 227 reply announces. The ftp
 * helper reads a reply only at a line start it has seen (after the 220 greeting).
 */
const PASV = `227 Entering Passive Mode (${SERVER.replaceAll('.', ',')},19,138)\r\n`;

beforeAll(async () => {
  await twins.start();
  const serve = `
const net=require('net');
const quiet=(c)=>c.on('error',()=>{});
net.createServer(quiet).listen(5001,'${SERVER}');
net.createServer(quiet).listen(5002,'${SERVER}');
net.createServer(c=>{quiet(c);c.write('220 ready\\r\\n');c.on('data',()=>c.write(${JSON.stringify(PASV)}));}).listen(21,'${SERVER}');
const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send(m,r.port,r.address));
u.bind(7000,'${SERVER}',()=>process.stdout.write('ready'));`;
  for (const side of SIDES) {
    const l = spawn('ip', ['netns', 'exec', twins.ns(side, 's'), process.execPath, '-e', serve], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    listeners.push(l);
    await new Promise<void>((resolve) => l.stdout?.once('data', () => resolve()));
    // The kernel's own mangle and raw tables on both sides: connection marks and the helper.
    twins.exec(
      side,
      's',
      ['iptables-legacy-restore'],
      [
        '*raw',
        '-A PREROUTING -p tcp --dport 21 -j CT --helper ftp',
        'COMMIT',
        '*mangle',
        '-A PREROUTING -p tcp --dport 5001 -j CONNMARK --set-mark 0x15',
        '-A PREROUTING -p udp --dport 7000 -j CONNMARK --set-xmark 0x2a0/0xff0',
        'COMMIT',
        '',
      ].join('\n'),
    );
  }
});

afterAll(() => {
  for (const l of listeners) l.kill();
  twins.close();
});

/**
 * One flow at a time, each waited for. TCP ends with the client's RST once it has what it
 * waits for: a FIN exchange's ACKs depend on timing.
 */
const TRAFFIC = `
const net=require('net'),dgram=require('dgram');
const tcp=(port,until)=>new Promise(r=>{const s=net.connect(port,'${SERVER}');s.on('error',()=>{});
  const end=()=>setTimeout(()=>s.resetAndDestroy(),50);
  if(until)s.on('data',d=>{const t=d.toString();if(t.startsWith('220'))s.write('PASV\\r\\n');if(t.includes(until))end();});else s.on('connect',end);
  s.on('close',()=>setTimeout(r,100));});
const udp=(port,n)=>new Promise(r=>{const u=dgram.createSocket('udp4');u.on('error',()=>{});u.on('message',()=>{});
  const send=(i)=>{if(i===n){setTimeout(()=>{u.close();r()},200);return;}u.send(Buffer.alloc(10+30*i),port,'${SERVER}',()=>setTimeout(()=>send(i+1),50));};send(0);});
(async()=>{await tcp(5001);await tcp(21,'227');await tcp(5002);await tcp(5003);await udp(7000,4);await udp(7001,2);})();
`;

const MATCHES = [
  'connmark --mark 0x15',
  'connmark ! --mark 0x15',
  'connmark --mark 0x2a0/0xff0',
  'connmark --mark 0x0',
  'connmark ! --mark 0x0/0xf',
  'connmark --mark 0x10/0x10',
  'helper --helper ftp',
  'helper ! --helper ftp',
  'helper --helper ftp-2',
  'helper --helper f',
  'helper --helper FTP',
  'helper --helper ""',
  'helper ! --helper ""',
  'helper --helper irc',
  'helper ! --helper irc',
  'connbytes --connbytes 2 --connbytes-dir original --connbytes-mode packets',
  'connbytes --connbytes 0:1 --connbytes-dir reply --connbytes-mode packets',
  'connbytes ! --connbytes 2:4 --connbytes-dir both --connbytes-mode packets',
  'connbytes --connbytes 3:3 --connbytes-dir both --connbytes-mode packets',
  'connbytes --connbytes 100:400 --connbytes-dir both --connbytes-mode bytes',
  'connbytes ! --connbytes 60 --connbytes-dir original --connbytes-mode bytes',
  'connbytes --connbytes 0:40 --connbytes-dir reply --connbytes-mode bytes',
  'connbytes --connbytes 45:70 --connbytes-dir original --connbytes-mode avgpkt',
  'connbytes ! --connbytes 0:52 --connbytes-dir reply --connbytes-mode avgpkt',
  'connbytes --connbytes 0:0 --connbytes-dir reply --connbytes-mode avgpkt',
  'connbytes --connbytes 50:80 --connbytes-dir both --connbytes-mode avgpkt',
];

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', TRAFFIC]);
  twins.exec(side, 'c', ['ping', '-c', '1', '-W', '1', SERVER]);
  return twins.counters(side);
}

describe('-m connmark, helper and connbytes read from the kernel entry', () => {
  it('count as the kernel does, rule for rule, in INPUT and OUTPUT', () => {
    const rules = ['INPUT', 'OUTPUT']
      .flatMap((c) => MATCHES.map((m) => `-A ${c} -m ${m}`))
      .join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    expect(counted.length).toBeGreaterThan(MATCHES.length);
  });
});
