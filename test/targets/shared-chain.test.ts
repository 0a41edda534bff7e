// Issue 11's smallest refusal against the kernel: eleven rules, seven of them `-j c0` into one
// three-rule chain (the old codegen's bpf_loop walk blew the verifier's budget on it). Two
// client/server pairs of namespaces, the kernel's iptables-legacy in one server and our helper
// (stock iptables-legacy-restore through the shim) in the other; the server's interface is
// veth1, which the chain's -i names, and it also owns 203.0.113.5, which -d names. Every packet
// is sent alone, so the answers it gets back are its verdict; the counters of every rule and
// policy (iptables-legacy-save -c) must then equal the kernel's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksum,
  icmp,
  ipv4,
  tcp,
  udp,
  withL4Checksum,
  type IpOptions,
} from '../helpers/packets.js';
import { SIDES, Twins, type Side } from '../helpers/twins.js';

const SERVER = '10.50.0.2';
const OTHER = '203.0.113.5';
const FAR = '192.0.2.7';
const SOURCES = [FAR, '10.50.0.1', '10.50.0.7', '10.50.1.1', '10.9.8.6', '10.9.8.8'];
const twins = new Twins(`sc${process.pid % 100000}`, {
  serverAddr: SERVER,
  neighbours: SOURCES,
  serverDev: 'veth1',
});

// Verbatim from the issue.
const ISSUE_11 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:c0 - [0:0]
-A INPUT -p tcp -m tcp --dport 63285 -j c0
-A INPUT -p icmp -m icmp --icmp-type 3/3 -j c0
-A INPUT -s 10.50.0.7/8 -j c0
-A INPUT -s 10.50.0.1/24 -j c0
-A INPUT -d 203.0.113.5/32 -j c0
-A INPUT -d 10.9.8.7/8 -j c0
-A INPUT -s 10.9.8.7/30 -j c0
-A INPUT -s 10.50.0.1/32 -p tcp -j RETURN
-A c0 ! -d 203.0.113.5/8 -j ACCEPT
-A c0 -s 10.9.8.7/0 -i veth1 -p udp -m udp -m length --length 20:64 -j DROP
-A c0 -p icmp -j DROP
COMMIT
`;

beforeAll(async () => {
  await twins.start();
  for (const side of SIDES) {
    // 203.0.113.5 is local too, and every spoofed source is answered on the link.
    twins.exec(side, 's', ['ip', 'addr', 'add', `${OTHER}/32`, 'dev', 'veth1']);
    twins.exec(side, 's', ['ip', 'route', 'add', 'default', 'dev', 'veth1']);
  }
});

afterAll(() => twins.close());

const at = (src: string, dst: string): IpOptions => ({ src, dst });
const syn = (o: IpOptions, dport: number): Buffer => withL4Checksum(ipv4(6, tcp(40000, dport), o));
/** A datagram whose IP total length is `length` (28 at least). */
const datagram = (o: IpOptions, length: number): Buffer =>
  withL4Checksum(ipv4(17, udp(40000, 9, Buffer.alloc(length - 28, 0x61)), o));
const ping = (o: IpOptions): Buffer => ipv4(1, icmp(8, 0), o);
/** Destination unreachable `code`, quoting a datagram the destination sent the source. */
function unreachable(o: IpOptions, code: number): Buffer {
  const quoted = ipv4(17, udp(9, 40000), at(o.dst ?? '', o.src ?? '')).subarray(0, 28);
  const msg = Buffer.concat([icmp(3, code), quoted]);
  msg.writeUInt16BE(0, 2);
  msg.writeUInt16BE(checksum(msg), 2);
  return ipv4(1, msg, o);
}

/** A packet, the walk the kernel takes with it, and whether the server answers it. */
const CASES: readonly (readonly [string, Buffer, boolean])[] = [
  ['dport 63285 → c0 → ! -d 203/8 ACCEPT: RST', syn(at(FAR, SERVER), 63285), true],
  ['dport 63285 to 203.0.113.5 → c0, -d → c0, policy', syn(at(FAR, OTHER), 63285), true],
  ['-d 10/8 → c0 ACCEPT', syn(at(FAR, SERVER), 63284), true],
  ['-s 10/8, -s /24, -d /32 → c0 three times, then RETURN', syn(at('10.50.0.1', OTHER), 80), true],
  ['dport 63285 from 10.50.0.1: four jumps, then RETURN', syn(at('10.50.0.1', OTHER), 63285), true],
  ['-s 10.50.0.1 → c0 ACCEPT', syn(at('10.50.0.1', SERVER), 80), true],
  ['-s 10.50.1.1: /8 but not /24', syn(at('10.50.1.1', OTHER), 80), true],
  ['-s 10.9.8.6: /8 and /30', syn(at('10.9.8.6', OTHER), 80), true],
  ['-s 10.9.8.8: /8, past /30', syn(at('10.9.8.8', OTHER), 80), true],
  ['icmp 3/3 → c0 ACCEPT', unreachable(at(FAR, SERVER), 3), false],
  ['icmp 3/3 to 203.0.113.5 → c0 -p icmp DROP', unreachable(at(FAR, OTHER), 3), false],
  ['icmp 3/4 to 203.0.113.5: -d → c0 DROP', unreachable(at(FAR, OTHER), 4), false],
  ['echo → -d 10/8 → c0 ACCEPT: reply', ping(at(FAR, SERVER)), true],
  ['echo from 10.9.8.6 to 203.0.113.5 → c0 DROP', ping(at('10.9.8.6', OTHER)), false],
  ['udp length 28 on veth1 → c0 DROP', datagram(at(FAR, OTHER), 28), false],
  ['udp length 64 on veth1 → c0 DROP', datagram(at(FAR, OTHER), 64), false],
  ['udp length 65: past 20:64, policy: port unreachable', datagram(at(FAR, OTHER), 65), true],
  ['udp length 30 from 10.9.8.6 → c0 DROP', datagram(at('10.9.8.6', OTHER), 30), false],
  ['udp length 200 from 10.50.0.1: not tcp, policy', datagram(at('10.50.0.1', OTHER), 200), true],
  ['udp length 40 to the server: ! -d 203/8 first', datagram(at(FAR, SERVER), 40), true],
];

/**
 * Datagrams the server sends itself over lo, to 203.0.113.5 (→ c0, where -i veth1 fails, so
 * the walk returns to INPUT and the policy): their port unreachables come back through INPUT
 * as icmp 3/3 to 203.0.113.5, which c0 drops.
 */
const LOCAL = `
const u=require('dgram').createSocket('udp4');let n=0;
for (const len of [2, 36, 200]) u.send(Buffer.alloc(len), 9, '${OTHER}', () => ++n === 3 && setTimeout(() => { u.close(); process.stdout.write('sent'); }, 100));
`;

/** Frames that came back, with what each kernel picks itself zeroed (IP id, header checksum). */
function answers(side: Side, packet: Buffer): string[] {
  return twins.inject(side, [packet], 60).map((hex) => {
    const b = Buffer.from(hex, 'hex');
    b.writeUInt16BE(0, 4);
    b.writeUInt16BE(0, 10);
    return b.toString('hex');
  });
}

describe('issue 11: seven jumps into one three-rule chain', () => {
  it('loads through the stock iptables-legacy-restore and verdicts and counts as the kernel', () => {
    for (const side of SIDES) twins.restore(side, ISSUE_11);
    for (const [what, packet, answered] of CASES) {
      const kernel = answers('kernel', packet);
      expect(kernel.length > 0, `kernel: ${what}`).toBe(answered);
      expect(answers('bpf', packet), what).toEqual(kernel);
    }
    for (const side of SIDES)
      expect(twins.exec(side, 's', [process.execPath, '-e', LOCAL])).toBe('sent');
    const kernel = twins.counters('kernel');
    expect(twins.counters('bpf')).toEqual(kernel);
    // Every rule took part: the save has each one's counter, none of them zero.
    const counted = kernel.split('\n').filter((l) => l.startsWith('['));
    expect(counted).toHaveLength(11);
    expect(counted.filter((l) => l.startsWith('[0:'))).toEqual([]);
  });

  it('a loop back from c1 to c0 is refused as the kernel refuses it (ELOOP)', () => {
    const withC1 = ISSUE_11.replace(':c0 - [0:0]', ':c0 - [0:0]\n:c1 - [0:0]').replace(
      'COMMIT',
      '-A c0 -p udp -j c1\nCOMMIT',
    );
    const refusals = (run: (side: Side) => ReturnType<Twins['tryIptables']>): void => {
      const [kernel, ours] = SIDES.map(run);
      expect(kernel?.status).not.toBe(0);
      expect({ status: ours?.status, stderr: ours?.stderr }).toEqual({
        status: kernel?.status,
        stderr: kernel?.stderr,
      });
    };
    // The whole table in one restore (which names no errno), then one -A (which does).
    const loop = withC1.replace('COMMIT', '-A c1 -j c0\nCOMMIT');
    refusals((side) => twins.tryIptables(side, ['iptables-legacy-restore'], loop));
    for (const side of SIDES) twins.restore(side, withC1);
    refusals((side) => {
      const r = twins.tryIptables(side, ['iptables-legacy', '-A', 'c1', '-j', 'c0']);
      expect(r.stderr).toMatch(/Too many levels of symbolic links/);
      return r;
    });
    // Both still run the last table they took.
    expect(twins.counters('bpf')).toEqual(twins.counters('kernel'));
    expect(twins.counters('kernel')).toMatch(/-A c0 -p udp -j c1/);
  });
});
