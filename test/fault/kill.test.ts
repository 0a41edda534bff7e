// kill -9 of the helper in the middle of applies: at the end of each SET_REPLACE phase (the
// BPFILTER_TEST_PAUSE hook stops it there) and at random times after iptables-legacy-restore
// starts. Each time the kernel, with no helper, must filter real packets over veth by exactly
// the old or exactly the new ruleset, a restarted helper must list that same ruleset, and its
// counters must not have gone back. Replay a run with FAULT_SEED=<seed from the log>.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild } from '../ipc/helpers.js';
import {
  Daemon,
  PORTS,
  counts,
  iptables,
  pair,
  probe,
  rules,
  save,
  shimArgv,
  sleep,
  type Pair,
} from './net.js';
import { mulberry32 } from '../helpers/random.js';

const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-kill-${tag}`;
let dir = '';
let net: Pair | undefined;
let daemon: Daemon | undefined;

/** Which programs a ruleset needs: tcp only, or multiport too (a new instance, not a data write). */
type Kind = 'tcp' | 'multiport';
/** Which probe ports a ruleset drops. */
type Drops = 'low' | 'high';

const DROPPED: Record<Drops, readonly number[]> = { low: [5001, 5002], high: [5003, 5004] };

/** 150 rules that no probe matches, then DROP on the probe ports of `drops`. */
function ruleset(kind: Kind, drops: Drops): string {
  const filler = Array.from({ length: 150 }, (_, i) => {
    const src = `10.99.${i >> 8}.${i & 255}/32`;
    return kind === 'tcp'
      ? `-A INPUT -s ${src} -p tcp -m tcp --dport ${9000 + i} -j ACCEPT`
      : `-A INPUT -s ${src} -p tcp -m multiport --dports ${9000 + i},${9500 + i} -j ACCEPT`;
  });
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...filler,
    ...DROPPED[drops].map((p) => `-A INPUT -p tcp -m tcp --dport ${p} -j DROP`),
    'COMMIT',
    '',
  ].join('\n');
}

/** What a probe sees under a ruleset dropping `drops`. */
const verdicts = (drops: Drops): string[] =>
  PORTS.map((p) => (DROPPED[drops].includes(p) ? 'timeout' : 'up'));

const restore = (text: string): number | null => {
  if (!daemon) throw new Error('no daemon');
  return iptables(net?.server ?? '', daemon.sock, ['iptables-legacy-restore'], text).status;
};

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'fault-kill-'));
  net = await pair(`fk${tag}`, 78);
  daemon = new Daemon(join(dir, 'bpfilter.sock'), PINS, join(dir, 'state'));
  await daemon.start();
});

afterAll(async () => {
  await daemon?.kill();
  net?.close();
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Where a kill lands: the end of a named phase, or a delay after the client's GET_ENTRIES. */
type Point = { phase: string } | { afterMs: number };

describe('kill -9 during applies', () => {
  it('every kill leaves exactly the old or exactly the new ruleset, listed as such, counters kept', async () => {
    const d = daemon as Daemon;
    const p = net as Pair;
    const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1e9);
    const rand = mulberry32(seed);
    console.log(`fault kill seed ${seed}`);

    /**
     * Starts iptables-legacy-restore of `text`; resolves when the helper has answered its
     * GET_ENTRIES (the SET_REPLACE follows at once), with the client's exit to come.
     */
    const start = async (text: string): Promise<{ exited: Promise<number | null> }> => {
      const client = spawn('ip', shimArgv(p.server, d.sock, ['iptables-legacy-restore']), {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const exited = new Promise<number | null>((r) => client.once('exit', r));
      client.stdin?.end(text);
      // ip netns exec and env exec: the pid is iptables-legacy-restore's, as the log shows it.
      await d.waitFor(new RegExp(`"pid":${client.pid ?? 0},[^\n]*"cmd":"GET_ENTRIES"`));
      return { exited };
    };
    // The four rulesets as iptables-legacy-save prints them, and how long the rest of an apply
    // takes after GET_ENTRIES: the random kills are spread over that and a little past it.
    const listed = new Map<string, string>();
    const took = { load: [0], data: [0] };
    for (const kind of ['tcp', 'multiport'] as const) {
      // A restarted helper's first apply loads an instance ('load'); the next one of the same
      // kind writes data only ('data').
      await d.kill();
      await d.start();
      for (const drops of ['low', 'high'] as const) {
        const { exited } = await start(ruleset(kind, drops));
        const t0 = Date.now();
        expect(await exited).toBe(0);
        took[drops === 'low' ? 'load' : 'data'].push(Date.now() - t0);
        listed.set(`${kind}/${drops}`, rules(save(p.server, d.sock)));
      }
    }
    const span = { load: Math.max(...took.load), data: Math.max(...took.data) };
    await sleep(200); // the helper's log lines, read while spawnSync blocked
    const phaseLine = d.log.join('').match(/"detail":"[^"]*ms [^"]*"/g) ?? [];
    console.log(
      `apply ms after GET_ENTRIES ${JSON.stringify(took)}; helper ${phaseLine.at(-1) ?? ''}`,
    );
    expect(probe(p)).toEqual(verdicts('high'));

    // Phase ends the pause hook stops at, in apply order: before anything is loaded; after the
    // new instance is verified (a new instance only); after the header or slot switch; after
    // the grace period and the old counters are read, before the state is written; after it.
    const loadPhases = ['check', 'compile', 'load', 'write', 'counters', 'save'];
    const dataPhases = ['check', 'compile', 'write', 'counters', 'save'];
    // Per point the path of the apply: 'load' switches kind (a new instance in the slots),
    // 'data' keeps it (the idle half and the header); random points pick either.
    const points: { point: Point; path: 'load' | 'data' }[] = [];
    for (let rep = 0; rep < 2; rep++) {
      for (const phase of loadPhases) points.push({ point: { phase }, path: 'load' });
      for (const phase of dataPhases) points.push({ point: { phase }, path: 'data' });
    }
    for (let i = 0; i < 32; i++) {
      const path = rand() < 0.5 ? 'load' : 'data';
      points.push({ point: { afterMs: Math.round(rand() * (span[path] * 1.5 + 30)) }, path });
    }
    const outcomes = new Map<string, { old: number; new: number }>();
    let kills = 0;
    let cur = { kind: 'multiport' as Kind, drops: 'high' as Drops };
    let before = counts(save(p.server, d.sock));
    /** The pause for a round's helper: at its phase of the killed apply, after any first one. */
    const pauseFor = (at: (typeof points)[number] | undefined): Record<string, string> =>
      at && 'phase' in at.point
        ? { BPFILTER_TEST_PAUSE: `${at.point.phase}@${at.path === 'data' ? 2 : 1}` }
        : {};
    await d.kill();
    await d.start(pauseFor(points[0]));
    for (const [round, { point, path }] of points.entries()) {
      const kind: Kind = path === 'data' ? cur.kind : cur.kind === 'tcp' ? 'multiport' : 'tcp';
      const next = { kind, drops: (cur.drops === 'low' ? 'high' : 'low') as Drops };
      if (path === 'data') {
        // The restarted helper adopted what runs; its own instance comes with a first apply.
        expect(restore(ruleset(cur.kind, cur.drops))).toBe(0);
        before = counts(save(p.server, d.sock));
      }
      const { exited } = await start(ruleset(next.kind, next.drops));
      if ('phase' in point) await d.waitFor(`"phase":"${point.phase}"`);
      else await sleep(point.afterMs);
      await d.kill();
      kills++;
      await exited;

      const where = `round ${round} (${JSON.stringify(point)}, ${path})`;
      const seen = probe(p);
      const outcome = JSON.stringify(seen) === JSON.stringify(verdicts(cur.drops)) ? 'old' : 'new';
      expect(seen, where).toEqual(verdicts(outcome === 'old' ? cur.drops : next.drops));
      const label = `${path} ${'phase' in point ? point.phase : 'random'}`;
      const o = outcomes.get(label) ?? { old: 0, new: 0 };
      o[outcome]++;
      outcomes.set(label, o);

      // The helper for the next round, pausing where that round kills it.
      await d.start(pauseFor(points[round + 1]));
      const now = outcome === 'old' ? cur : next;
      const after = save(p.server, d.sock);
      expect(rules(after), `${where}: listing`).toBe(listed.get(`${now.kind}/${now.drops}`));
      const a = counts(after);
      // The same ruleset counts on from where it was, the probe's SYNs included; a new one
      // starts from zero, as in the kernel, and has counted the probe's.
      if (outcome === 'old') {
        a.forEach((v, i) => expect(v, where).toBeGreaterThanOrEqual(before[i] ?? 0n));
        expect(a, where).not.toEqual(before);
      } else
        expect(
          a.some((v) => v > 0n),
          where,
        ).toBe(true);
      before = a;
      cur = now;
    }
    console.log(
      `fault kills ${kills}: ${[...outcomes].map(([k, v]) => `${k} old ${v.old} new ${v.new}`).join('; ')}`,
    );
    expect(kills).toBeGreaterThanOrEqual(50);
  }, 240_000);
});
