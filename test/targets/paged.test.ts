// Headers of paged skbs against the kernel. The engine's prologue reads a linear skb's headers
// with plain loads and any other through bpf_dynptr_read (nf.ts linearHeaders). The crafted
// packets of the other tests are linear; a local TCP socket's data is not: tcp_sendmsg puts the
// payload in page fragments on an SG device (veth), and veth hands the same skb to the peer, so
// the server's INPUT and OUTPUT both see headers in the head and the payload in pages, and
// segments past the MSS as one GSO skb. The same writes cross the kernel's iptables-legacy and
// our BPF; every rule reads the headers (ports, flags, lengths) or the payload, and the
// per-rule counters must be equal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.84.0.1';
const SERVER = '10.84.0.2';
const twins = new Twins(`pg${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });

beforeAll(async () => {
  await twins.start();
  await twins.serve(
    `require('net').createServer(c=>{c.setNoDelay(true);c.on('error',()=>{});c.pipe(c);}).listen(5001,'${SERVER}',()=>process.stdout.write('ready'))`,
  );
});

afterAll(() => {
  twins.close();
});

/**
 * Writes of 200 to 6,000 bytes, each echoed whole before the next goes, so both sides see the
 * same segments. Pure ACKs and the FIN exchange depend on timing: the rules count only packets
 * of 100 bytes and more.
 */
const SIZES = [200, 700, 1400, 3000, 6000, 333];
const TRAFFIC = `
const s=require('net').connect(5001,'${SERVER}');s.setNoDelay(true);s.on('error',()=>{});
const sizes=${JSON.stringify(SIZES)};let i=0,got=0;
const next=()=>{if(i===sizes.length){s.end();return;}const n=sizes[i++];got=0;
  const b=Buffer.alloc(n,0x61);b.write('marker',Math.floor(n/2));s.write(b);};
s.on('data',(d)=>{got+=d.length;if(got===sizes[i-1])next();});
s.on('connect',next);s.on('close',()=>{});
`;

const DATA = '-m length --length 100:65535';
const RULES = [
  `-A INPUT -p tcp -m tcp --dport 5001 ${DATA}`,
  `-A INPUT -p tcp -m tcp --dport 5002 ${DATA}`,
  `-A INPUT -p tcp -m tcp --sport 1024:65535 --dport 5001 --tcp-flags PSH,ACK PSH,ACK ${DATA}`,
  `-A INPUT -p tcp -m tcp ! --tcp-flags PSH PSH ${DATA}`,
  `-A INPUT -s ${CLIENT} -d ${SERVER} -p tcp -m length --length 1000:65535`,
  `-A INPUT -p tcp -m multiport --dports 4000,5001 -m length --length 500:1500`,
  `-A INPUT -p tcp -m string --string marker --algo bm ${DATA}`,
  `-A INPUT -p tcp -m string --string absent --algo kmp ${DATA}`,
  `-A INPUT -p tcp -m tcp --dport 5001 -m tcpmss ! --mss 0:65535 ${DATA}`,
  `-A INPUT -p tcp -m u32 --u32 "6&0xFF=6 && 0>>22&0x3C@0>>16=1024:65535" ${DATA}`,
  `-A OUTPUT -p tcp -m tcp --sport 5001 ${DATA}`,
  `-A OUTPUT -p tcp -m tcp --sport 5001 --dport 0:1023 ${DATA}`,
  `-A OUTPUT -p tcp -m tcp --tcp-flags PSH,ACK PSH,ACK ${DATA}`,
  `-A OUTPUT -s ${SERVER} -p tcp -m length --length 1500:65535`,
  `-A OUTPUT -p tcp -m string --string marker --algo kmp ${DATA}`,
].join('\n');

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', TRAFFIC]);
  return twins.counters(side);
}

describe('paged skbs: headers and payload read as the kernel reads them', () => {
  it('counts local TCP segments (payload in pages, GSO past the MSS) as the kernel does', () => {
    for (const side of SIDES) twins.restore(side, filterTable(RULES));
    const kernel = run('kernel');
    expect(run('bpf')).toEqual(kernel);
    // Each write was one skb each way (52 bytes of IPv4 and TCP headers with timestamps), and
    // the rules that cannot hold counted nothing.
    const all = `[${SIZES.length}:${SIZES.reduce((a, n) => a + n + 52, 0)}]`;
    const counts = kernel
      .split('\n')
      .filter((l) => l.startsWith('['))
      .map((l) => l.split(' ')[0]);
    expect(counts).toEqual([
      all,
      '[0:0]',
      all,
      '[0:0]',
      '[3:10556]',
      '[2:2204]',
      all,
      '[0:0]',
      all,
      all,
      all,
      '[0:0]',
      all,
      '[2:9104]',
      all,
    ]);
  });
});
