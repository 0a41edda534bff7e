// -m recent against the kernel: every command and option, `!`, lists shared by name, masks,
// --rdest, --rttl, --seconds with --hitcount and --reap, on the same crafted datagrams (spoofed
// sources and TTLs) into both servers; per-rule counters and the lists (/proc/net/xt_recent vs
// `bpfilter recent`) must be equal. Then the lists' writes ("+addr", "-addr", "/") and their
// lifetime across replaces.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipv4, udp } from '../helpers/packets.js';
import { CLI } from '../ipc/helpers.js';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const SERVER = '10.86.0.2';
const NET = '10.86.0';
const SOURCES = [1, 11, 12, 13, 50].map((h) => `${NET}.${h}`);
const twins = new Twins(`rc${process.pid % 100000}`, { serverAddr: SERVER, neighbours: SOURCES });
const inject = (side: Side, packets: readonly Buffer[]): unknown => twins.inject(side, packets, 50);

const dgram = (src: number, dport: number, ttl = 64): Buffer =>
  ipv4(17, udp(1000, dport), { src: `${NET}.${src}`, dst: SERVER, ttl });

/** A side's list NAME, as /proc shows the kernel's and `bpfilter recent` ours. */
function list(side: Side, name: string): string {
  if (side === 'kernel') return twins.exec(side, 's', ['cat', `/proc/net/xt_recent/${name}`]);
  return execFileSync(
    process.execPath,
    [CLI, 'recent', '--socket', twins.sock, '--netns', twins.ns(side, 's'), name],
    { encoding: 'utf8' },
  );
}

function write(side: Side, name: string, op: string): void {
  if (side === 'kernel') {
    twins.exec(side, 's', ['sh', '-c', `echo ${op} > /proc/net/xt_recent/${name}`]);
    return;
  }
  execFileSync(process.execPath, [
    CLI,
    'recent',
    '--socket',
    twins.sock,
    '--netns',
    twins.ns(side, 's'),
    name,
    op,
  ]);
}

/** Entries without their jiffies (the sides run one after the other), sorted (no order is kept). */
function shape(text: string): string[] {
  return text
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^src=(\S+) ttl: (\d+) last_seen: \d+ oldest_pkt: (\d+) (.*)$/.exec(l);
      return m ? `${m[1]} ttl ${m[2]} index ${m[3]} stamps ${(m[4] ?? '').split(',').length}` : l;
    })
    .sort();
}

const RULES = `
-A INPUT -p udp --dport 1 -m recent --set --name A
-A INPUT -p udp --dport 2 -m recent --rcheck --name A
-A INPUT -p udp --dport 3 -m recent --update --seconds 20 --hitcount 3 --name A
-A INPUT -p udp --dport 4 -m recent --remove --name A
-A INPUT -p udp --dport 5 -m recent ! --rcheck --name A
-A INPUT -p udp --dport 6 -m recent --rcheck --rttl --name A
-A INPUT -p udp --dport 7 -m recent --set --name B --rdest --mask 255.255.255.0
-A INPUT -p udp --dport 8 -m recent --rcheck --name B --rdest --mask 255.255.255.0
-A INPUT -p udp --dport 9 -m recent --update --seconds 1 --reap --name A
-A INPUT -p udp --dport 10 -m recent --rcheck --seconds 1 --hitcount 2 --name A
-A INPUT -p udp --dport 11 -m recent ! --update --seconds 20 --hitcount 2 --name A
-A INPUT -p udp -m recent --rcheck --name A --rsource
-A INPUT -p udp -m recent --rcheck --name B --rdest
`;

beforeAll(async () => {
  await twins.start();
});

afterAll(() => twins.close());

async function traffic(side: Side): Promise<void> {
  inject(side, [
    dgram(11, 1),
    dgram(11, 2),
    ...[1, 2, 3, 4].map(() => dgram(11, 3)),
    dgram(11, 6, 63),
    dgram(11, 6, 64),
    dgram(11, 11),
    dgram(12, 2),
    dgram(12, 5),
    dgram(12, 1),
    dgram(12, 5),
    dgram(12, 4),
    dgram(12, 2),
    dgram(13, 7),
    dgram(1, 8),
  ]);
  await new Promise((r) => setTimeout(r, 1300));
  inject(side, [
    dgram(12, 1),
    dgram(12, 10),
    dgram(12, 1),
    dgram(12, 10),
    dgram(11, 9),
    dgram(11, 2),
  ]);
}

describe('-m recent against the kernel', () => {
  it('counts and remembers as the kernel does', async () => {
    const got = {} as Record<Side, { counters: string; a: string[]; b: string[] }>;
    for (const side of SIDES) {
      twins.restore(side, filterTable(RULES));
      await traffic(side);
      got[side] = {
        counters: twins.counters(side),
        a: shape(list(side, 'A')),
        b: shape(list(side, 'B')),
      };
    }
    expect(got.bpf).toEqual(got.kernel);
    expect(got.kernel.a.length).toBeGreaterThan(0);
    expect(got.kernel.b).toEqual([`${NET}.0 ttl 64 index 1 stamps 1`]);
  });

  it('takes /proc writes and keeps lists across replaces while a rule names them', () => {
    for (const side of SIDES) {
      twins.restore(side, filterTable(RULES));
      write(side, 'A', '/');
      write(side, 'A', `+${NET}.50`);
      write(side, 'A', `+${NET}.13`);
      write(side, 'A', `+${NET}.13`);
      write(side, 'A', `-${NET}.11`);
    }
    expect(shape(list('bpf', 'A'))).toEqual(shape(list('kernel', 'A')));
    expect(shape(list('bpf', 'A'))).toEqual([
      `${NET}.13 ttl 0 index 2 stamps 2`,
      `${NET}.50 ttl 0 index 1 stamps 1`,
    ]);
    for (const side of SIDES) {
      write(side, 'A', `-${NET}.50`);
      // The same rules again: the lists survive the replace.
      twins.restore(side, filterTable(RULES));
    }
    expect(shape(list('bpf', 'A'))).toEqual([`${NET}.13 ttl 0 index 2 stamps 2`]);
    expect(shape(list('kernel', 'A'))).toEqual([`${NET}.13 ttl 0 index 2 stamps 2`]);
    for (const side of SIDES) {
      // No rule names A: it goes; named again, it starts empty.
      twins.restore(side, filterTable('-A INPUT -p udp -m recent --rcheck --name B'));
      twins.restore(side, filterTable(RULES));
    }
    expect(list('bpf', 'A')).toBe('');
    expect(list('kernel', 'A')).toBe('');
    // A write the CLI cannot parse is refused as the kernel refuses it.
    expect(() => write('bpf', 'A', 'x10.0.0.1')).toThrow();
    expect(() => write('kernel', 'A', 'x10.0.0.1')).toThrow();
  });

  it('evicts the least recently updated entry when ip_list_tot entries are kept', () => {
    const flood = (side: Side): string[] => {
      twins.restore(
        side,
        filterTable('-A INPUT -p udp --dport 20 -m recent --set --name E --rsource -j DROP'),
      );
      // 100 sources (ip_list_tot), the first refreshed, then one more: the second goes.
      const src = (h: number): Buffer =>
        ipv4(17, udp(1000, 20), { src: `10.${86 + (h >> 8)}.${h & 0xff}.9`, dst: SERVER });
      inject(side, [...Array.from({ length: 100 }, (_, h) => src(h)), src(0), src(200)]);
      return shape(list(side, 'E'));
    };
    const kernel = flood('kernel');
    expect(kernel).toHaveLength(100);
    expect(kernel.some((l) => l.startsWith('10.86.1.9 '))).toBe(false);
    expect(kernel.some((l) => l.startsWith('10.86.0.9 '))).toBe(true);
    expect(flood('bpf')).toEqual(kernel);
  });

  it('keeps the lists across a helper restart', async () => {
    twins.restore('bpf', filterTable(RULES));
    write('bpf', 'A', '/');
    write('bpf', 'A', `+${NET}.13`);
    inject('bpf', [dgram(11, 1)]);
    const before = list('bpf', 'A');
    expect(shape(before)).toHaveLength(2);
    await twins.restartDaemon();
    // The restarted helper adopts the namespace (and its lists) when it first serves it.
    twins.iptables('bpf', ['iptables-legacy', '-L', '-n']);
    expect(list('bpf', 'A')).toBe(before);
    // Its first replace keeps them as the kernel would: the same rules name the same lists.
    twins.restore('bpf', filterTable(RULES));
    expect(list('bpf', 'A')).toBe(before);
    inject('bpf', [dgram(13, 2)]);
    expect(twins.counters('bpf')).toMatch(/\[1:\d+\] -A INPUT -p udp -m udp --dport 2 /);
  });
});
