// Namespaces die without telling the helper: what it kept for them (programs, rings, pins, saved
// tables) is collected — in a running helper and at the start of a new one — while live
// namespaces keep everything and keep filtering.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfBackend } from '../../src/bpf/backend.js';
import { LocalCompute } from '../../src/bpf/engine/compute.js';
import { cookieOf } from '../../src/sys/netns.js';
import { KernelTables } from '../helpers/kernel-table.js';
import { CLI, daemonArgs, netnsAdd, netnsDel, requireBuild } from './helpers.js';

const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-gc-${tag}`;
const dir = mkdtempSync(join(tmpdir(), 'gc-'));
const names = [`gc-a-${tag}`, `gc-b-${tag}`, `gc-c-${tag}`];

afterAll(() => {
  for (const n of names) netnsDel(n);
  rmSync(PINS, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const SAVE = [
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':FORWARD ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  '-A INPUT -p udp -j REJECT',
  '-A INPUT -p tcp -j LOG',
  'COMMIT',
  '',
].join('\n');

const pinned = (): string[] => (existsSync(PINS) ? readdirSync(PINS).sort() : []);

describe('collecting dead namespaces', () => {
  it('a running backend drops the programs, ring and pins of a namespace that is gone', async () => {
    const kt = new KernelTables('gc');
    const table = kt.table(SAVE);
    kt.close();
    const compute = new LocalCompute();
    const backend = new BpfBackend({ pinRoot: PINS, compute, onEvent: () => undefined });
    const [a, b] = names as [string, string];
    netnsAdd(a);
    netnsAdd(b);
    const ref = (n: string): { id: string; path: string } => ({
      id: String(cookieOf(`/run/netns/${n}`)),
      path: `/run/netns/${n}`,
    });
    const [ra, rb] = [ref(a), ref(b)];
    const held = (r: { id: string }) => compute.adopt(`${r.id}/filter`, table);
    await backend.apply(ra, held(ra));
    await backend.apply(rb, held(rb));
    expect(pinned()).toEqual([ra.id, rb.id].sort());
    expect(existsSync(join(PINS, ra.id, 'filter', 'events'))).toBe(true);
    netnsDel(a);
    const live = new Set([rb.id]);
    expect(backend.collect((id) => live.has(id))).toEqual([ra.id]);
    expect(pinned()).toEqual([rb.id]);
    // The survivor still works: a replace goes through and its counters read.
    const again = held(rb);
    await backend.apply(rb, again);
    expect(await backend.counters(rb, again)).toHaveLength(6);
    expect(backend.collect((id) => live.has(id))).toEqual([]);
    backend.close();
  });

  it('a new helper collects what an earlier one left for namespaces gone meanwhile', async () => {
    requireBuild();
    const [, b, c] = names as [string, string, string];
    netnsAdd(c);
    const sock = join(dir, 's.sock');
    const state = join(dir, 'state');
    const start = async (): Promise<ChildProcess> => {
      rmSync(sock, { force: true });
      const d = spawn(process.execPath, [CLI, ...daemonArgs(sock, PINS, state)], {
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      for (let i = 0; i < 100 && !existsSync(sock); i++)
        await new Promise((r) => setTimeout(r, 50));
      return d;
    };
    /** A stock iptables-legacy command in netns `n`, through the shim to this test's daemon. */
    const viaShim = (n: string, args: readonly string[], input?: string): string => {
      const r = spawnSync(
        'ip',
        ['netns', 'exec', n, process.execPath, CLI, 'run', '--socket', sock, '--', ...args],
        { input, encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      return r.stdout;
    };
    const restore = (n: string): void => void viaShim(n, ['iptables-legacy-restore'], SAVE);
    let daemon = await start();
    restore(b);
    restore(c);
    daemon.kill('SIGKILL');
    const idB = String(cookieOf(`/run/netns/${b}`));
    const idC = String(cookieOf(`/run/netns/${c}`));
    expect(readdirSync(state).sort()).toEqual([idB, idC].sort());
    netnsDel(c);
    daemon = await start();
    try {
      expect(readdirSync(state)).toEqual([idB]);
      expect(pinned()).toEqual([idB]);
      // b's rules are still there and listed by the new helper.
      const listed = viaShim(b, ['iptables-legacy', '-S', 'INPUT']);
      expect(listed).toContain('-A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable');
    } finally {
      daemon.kill();
    }
  });
});
