// The header, device and payload matches against the kernel's own: two identical client/server
// pairs of namespaces, the kernel's iptables-legacy in one server and our helper in the other.
// The clients (no IP address) inject the same crafted Ethernet frames; the servers' rules only
// count, and the per-rule counters (iptables-legacy-save -c) must be equal, rule for rule.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipv4, tcp, udp, withL4Checksum, type IpOptions } from '../helpers/packets.js';
import { CLIENT_MAC, filterTable, SERVER_MAC, SIDES, Twins, type Side } from '../helpers/twins.js';

const SERVER = '10.87.0.2';
const CLIENT = '10.87.0.1';
const twins = new Twins(`xm${process.pid % 100000}`, { serverAddr: SERVER, neighbours: [CLIENT] });
let pktio = '';

beforeAll(async () => {
  pktio = join(twins.dir, 'pktio');
  execFileSync('gcc', [
    '-O2',
    '-o',
    pktio,
    join(import.meta.dirname, '..', 'helpers', 'cdc-pktio.c'),
  ]);
  await twins.start();
});

afterAll(() => twins.close());

const hex = (m: string): string => m.replaceAll(':', '');

/** An IPv4 packet in an Ethernet frame, from the client's MAC to the server's unless told. */
export interface Frame {
  readonly packet: Buffer;
  readonly src?: string;
  readonly dst?: string;
}

const to = (o: IpOptions = {}): IpOptions => ({ src: CLIENT, dst: SERVER, ...o });

/** Sends `frames` from a side's client, in order, and lets the server drain. */
function send(side: Side, frames: readonly Frame[]): void {
  const lines = frames.map(
    (f) => `${hex(f.dst ?? SERVER_MAC)}${hex(f.src ?? CLIENT_MAC)}0800${f.packet.toString('hex')}`,
  );
  const r = spawnSync('ip', ['netns', 'exec', twins.ns(side, 'c'), pktio, 'cli0', '200'], {
    input: lines.join('\n') + '\n',
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pktio: ${r.stderr}`);
}

/** The INPUT rules' counters, as `[packets:bytes] rule` lines. */
function inputCounters(side: Side): string[] {
  return twins
    .counters(side)
    .split('\n')
    .filter((l) => l.includes('-A INPUT'));
}

/**
 * `rules` (INPUT, counting only) on both sides, the same frames through both; the counters
 * must be equal, and not vacuously: every rule but those in `never` saw a packet, and no rule
 * saw them all unless listed in `always`.
 */
function compare(
  rules: readonly string[],
  frames: readonly Frame[],
  expectation: { never?: readonly number[]; always?: readonly number[] } = {},
): void {
  const save = filterTable(rules.map((r) => `-A INPUT ${r}`).join('\n'));
  for (const side of SIDES) twins.restore(side, save);
  for (const side of SIDES) send(side, frames);
  const kernel = inputCounters('kernel');
  expect(inputCounters('bpf')).toEqual(kernel);
  const counts = kernel.map((l) => Number(/^\[(\d+):/.exec(l)?.[1] ?? -1));
  expect(counts).toHaveLength(rules.length);
  counts.forEach((n, i) => {
    const rule = `${i + 1}: ${rules[i]} (${n} of ${frames.length})`;
    if (expectation.never?.includes(i + 1)) expect(n, rule).toBe(0);
    else expect(n, rule).toBeGreaterThan(0);
    if (!expectation.always?.includes(i + 1)) expect(n, rule).toBeLessThan(frames.length);
  });
}

const syn = (o: IpOptions = {}, flags = 0x02, options?: Buffer): Frame => ({
  packet: withL4Checksum(ipv4(6, tcp(40000, 9, flags, options), to(o))),
});
const datagram = (o: IpOptions = {}): Frame => ({
  packet: withL4Checksum(ipv4(17, udp(40000, 9), to(o))),
});

describe('tos, dscp, ecn', () => {
  it('count as the kernel, every option and !', () => {
    const tosValues = [0x00, 0x10, 0xd0, 0x14, 0xb8, 0x20, 0x23, 0x01, 0x02, 0xff];
    compare(
      [
        '-m tos --tos 0x10/0x3f',
        '-m tos ! --tos 0x04/0x04',
        '-m tos --tos Minimize-Delay',
        '-m tos --tos 0xff',
        '-m dscp --dscp 0x2e',
        '-m dscp ! --dscp-class CS1',
        '-m dscp --dscp 0',
        '-m ecn --ecn-ip-ect 3',
        '-m ecn ! --ecn-ip-ect 0',
        '-p tcp -m ecn --ecn-tcp-ece',
        '-p tcp -m ecn ! --ecn-tcp-cwr',
        '-p tcp -m ecn --ecn-tcp-ece ! --ecn-tcp-cwr --ecn-ip-ect 2',
      ],
      [
        ...tosValues.map((tos) => syn({ tos })),
        ...tosValues.map((tos) => datagram({ tos })),
        syn({ tos: 0x02 }, 0x42),
        syn({ tos: 0x02 }, 0x82),
        syn({ tos: 0x03 }, 0xc2),
      ],
    );
  });
});
