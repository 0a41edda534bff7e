// A state directory that is full (a tmpfs with a size limit): an apply whose table cannot be
// written ahead is refused with ENOMEM before anything changes, as the kernel refuses a table
// it cannot allocate (xt_alloc_table_info in do_replace), the old ruleset keeps filtering and
// is what the helper lists, and a restarted helper resumes it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild } from '../ipc/helpers.js';
import { Daemon, PORTS, iptables, pair, probe, rules, save, sleep, type Pair } from './net.js';

const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-disk-${tag}`;
let dir = '';
let state = '';
let net: Pair | undefined;
let daemon: Daemon | undefined;

/** DROP on `drops`, after `filler` rules no probe matches (40 bytes of ipt_replace and ~200 each). */
function ruleset(drops: readonly number[], filler: number): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...Array.from(
      { length: filler },
      (_, i) => `-A INPUT -s 10.98.${i >> 8}.${i & 255}/32 -p tcp -m tcp --dport 9000 -j ACCEPT`,
    ),
    ...drops.map((p) => `-A INPUT -p tcp -m tcp --dport ${p} -j DROP`),
    'COMMIT',
    '',
  ].join('\n');
}

const dropping = (drops: readonly number[]): string[] =>
  PORTS.map((p) => (drops.includes(p) ? 'timeout' : 'up'));

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'fault-disk-'));
  state = join(dir, 'state');
  mkdirSync(state);
  // 64 KiB: a few small tables fit, one of a thousand rules (about 200 KB) does not.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'fault-disk', state]);
  net = await pair(`fd${tag}`, 79);
  daemon = new Daemon(join(dir, 'bpfilter.sock'), PINS, state);
  await daemon.start();
});

afterAll(async () => {
  await daemon?.kill();
  net?.close();
  rmSync(PINS, { recursive: true, force: true });
  if (state) execFileSync('umount', [state], { stdio: 'ignore' });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a full state directory', () => {
  it('fails the apply with ENOMEM, keeps and lists the old ruleset, and a restart resumes it', async () => {
    const d = daemon as Daemon;
    const p = net as Pair;
    const sh = (text: string): ReturnType<typeof iptables> =>
      iptables(p.server, d.sock, ['iptables-legacy-restore'], text);
    expect(sh(ruleset([5001, 5002], 0)).status).toBe(0);
    const old = rules(save(p.server, d.sock));
    expect(probe(p)).toEqual(dropping([5001, 5002]));

    const refused = sh(ruleset([5003, 5004], 1000));
    expect(refused.status).toBe(1);
    expect(refused.out).toContain('line 1007 failed');
    expect(probe(p)).toEqual(dropping([5001, 5002]));
    expect(rules(save(p.server, d.sock))).toBe(old);
    // A small table once something else has taken the space; iptables names the errno.
    const hog = join(state, 'hog');
    expect(() => writeFileSync(hog, Buffer.alloc(64 << 10))).toThrow(/ENOSPC/);
    const one = iptables(p.server, d.sock, ['iptables-legacy', '-A', 'INPUT', '-j', 'ACCEPT']);
    expect(one).toEqual({ status: 1, out: 'iptables: Memory allocation problem.\n' });
    rmSync(hog);
    await sleep(100); // the helper's log lines, read while spawnSync blocked
    const refusals = d.log
      .join('')
      .split('\n')
      .filter((l) => l.includes('"cmd":"SET_REPLACE"') && l.includes('"result":"ENOMEM"'));
    expect(refusals).toHaveLength(2);
    for (const l of refusals) expect(l).toContain('ENOSPC');

    expect(probe(p)).toEqual(dropping([5001, 5002]));
    expect(rules(save(p.server, d.sock))).toBe(old);
    // Nothing half-written is left to hold the space.
    const files = readdirSync(state, { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => /\.(tmp|next)$/.test(f))).toEqual([]);

    await d.kill();
    expect(probe(p)).toEqual(dropping([5001, 5002]));
    await d.start();
    expect(rules(save(p.server, d.sock))).toBe(old);
    expect(probe(p)).toEqual(dropping([5001, 5002]));
    // The space left still takes a table that fits.
    expect(sh(ruleset([5004], 0)).status).toBe(0);
    expect(probe(p)).toEqual(dropping([5004]));
  });
});
