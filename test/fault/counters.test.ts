// Counters stay exact while packets flow and the table is replaced under them: UDP floods the
// server's INPUT while stock iptables-legacy inserts rules (each a data-only
// replace: the old generation's counters are read once no packet reads it, and libiptc adds them
// to the new table, as with the kernel's). A counter of nftables at a hook priority before ours
// counts the same packets; the two must agree to the packet, bytes too.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, ROOT } from '../ipc/helpers.js';
import { Daemon, iptables, pair, type Pair } from './net.js';

const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-cnt-${tag}`;
const FLOOD_MS = 4000;
let dir = '';
let net: Pair | undefined;
let daemon: Daemon | undefined;
let blast = '';

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'fault-cnt-'));
  blast = join(dir, 'blast');
  execFileSync('gcc', ['-O2', '-o', blast, join(ROOT, 'bench', 'blast.c')]);
  net = await pair(`fk${tag}`, 79);
  daemon = new Daemon(join(dir, 'bpfilter.sock'), PINS, join(dir, 'state'));
  await daemon.start();
}, 60_000);

afterAll(async () => {
  await daemon?.kill();
  net?.close();
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** nft's counter of UDP to port 9 at INPUT, before our hook: [packets, bytes]. */
function nftCount(ns: string): [bigint, bigint] {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'chain', 'ip', 'cnt', 'in'], {
    encoding: 'utf8',
  });
  const m = /counter packets (\d+) bytes (\d+)/.exec(out);
  if (!m) throw new Error(`no nft counter: ${out}`);
  return [BigInt(m[1] ?? 0), BigInt(m[2] ?? 0)];
}

describe('counters under traffic', () => {
  it('stay exact across data-only replaces while a flood runs', async () => {
    const p = net as Pair;
    const sock = (daemon as Daemon).sock;
    const filler = Array.from({ length: 200 }, (_, i) => `-A INPUT -s 10.200.${i}.0/24 -j DROP`);
    const text = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ...filler,
      '-A INPUT -p udp -m udp --dport 9 -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n');
    expect(iptables(p.server, sock, ['iptables-legacy-restore'], text)).toEqual({
      status: 0,
      out: '',
    });
    execFileSync('ip', ['netns', 'exec', p.server, 'nft', '-f', '-'], {
      input:
        'table ip cnt {\n chain in {\n  type filter hook input priority -300;\n  udp dport 9 counter\n }\n}\n',
    });
    const flood = new Promise<number>((resolve, reject) => {
      const c = spawn('ip', [
        'netns',
        'exec',
        p.client,
        blast,
        p.serverAddr,
        '9',
        String(FLOOD_MS),
      ]);
      let out = '';
      c.stdout.on('data', (b: Buffer) => (out += b.toString()));
      c.on('error', reject);
      c.on('exit', () => resolve(Number(out.trim())));
    });
    let replaces = 0;
    let running = true;
    void flood.then(() => (running = false));
    // Each insert moves the counted rule to the next entry index, so a count that landed in the
    // old generation after it was read is not found again at the same index by a later one.
    while (running) {
      const rule = ['INPUT', '1', '-s', `10.254.${replaces >> 8}.${replaces & 255}`, '-j', 'DROP'];
      const add = iptables(p.server, sock, ['iptables-legacy', '-I', ...rule]);
      expect(add.status, add.out).toBe(0);
      replaces++;
      await new Promise((r) => setImmediate(r));
    }
    const sent = await flood;
    // The last packets leave the veth's backlog within milliseconds.
    await new Promise((r) => setTimeout(r, 300));
    const listed = iptables(p.server, sock, ['iptables-legacy', '-L', 'INPUT', '-v', '-x', '-n']);
    expect(listed.status).toBe(0);
    const row = listed.out.split('\n').find((l) => /udp dpt:9$/.test(l.trim()));
    const [pk, by] = (row ?? '').trim().split(/\s+/);
    const [npk, nby] = nftCount(p.server);
    console.log(
      `counters under traffic: ${sent} sent, nft ${npk}, ours ${pk}, ${replaces} replaces`,
    );
    expect(replaces).toBeGreaterThan(20);
    expect(npk).toBeGreaterThan(10_000n);
    expect(BigInt(pk ?? -1)).toBe(npk);
    expect(BigInt(by ?? -1)).toBe(nby);
  }, 60_000);
});
