// Eight namespaces applying and listing at once through one helper for a minute: every apply
// succeeds, every listing is what that namespace last applied, and packets over each
// namespace's veth are filtered by its own ruleset, never another's.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild } from '../ipc/helpers.js';
import { Daemon, PORTS, pair, rules, shimArgv, type Pair, type Result } from './net.js';

const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-conc-${tag}`;
const N = 8;
const SECONDS = Number(process.env.FAULT_SECONDS ?? 60);
let dir = '';
const nets: Pair[] = [];
let daemon: Daemon | undefined;

/** Namespace `ns`'s ruleset `v`: its own filler rules, and DROP on the ports of v's bits. */
function ruleset(ns: number, v: number): { text: string; drops: number[] } {
  const drops = PORTS.filter((_, i) => v & (1 << i));
  const text = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...Array.from(
      { length: 10 + ns * 5 + v },
      (_, i) => `-A INPUT -s 10.97.${ns}.${i}/32 -p tcp -m tcp --dport ${9000 + v} -j ACCEPT`,
    ),
    ...drops.map((p) => `-A INPUT -p tcp -m tcp --dport ${p} -j DROP`),
    'COMMIT',
    '',
  ].join('\n');
  return { text, drops };
}

function run(args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('ip', args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    // 'close', not 'exit': the output may still be on its way when the process has exited.
    child.on('close', (status) => resolve({ status, out }));
    child.stdin?.end(input);
  });
}

/** The probe of net.ts, without blocking the other namespaces' work. */
async function probe(p: Pair): Promise<string[]> {
  const script = `const r={};let n=0;for(const port of ${JSON.stringify(PORTS)}){const s=require('net').connect(port,'${p.serverAddr}');const done=v=>{if(r[port])return;r[port]=v;s.destroy();if(++n===${PORTS.length})process.stdout.write(JSON.stringify(${JSON.stringify(PORTS)}.map(x=>r[x])))};s.setTimeout(800);s.on('connect',()=>done('up'));s.on('timeout',()=>done('timeout'));s.on('error',e=>done(e.code))}`;
  const r = await run(['netns', 'exec', p.client, process.execPath, '-e', script]);
  if (r.status !== 0) throw new Error(`probe: ${r.status} ${r.out}`);
  return JSON.parse(r.out) as string[];
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'fault-conc-'));
  for (let i = 0; i < N; i++) nets.push(await pair(`fc${tag}-${i}`, 80 + i));
  daemon = new Daemon(join(dir, 'bpfilter.sock'), PINS, join(dir, 'state'));
  await daemon.start();
}, 60_000);

afterAll(async () => {
  await daemon?.kill();
  for (const n of nets) n.close();
  rmSync(PINS, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('8 namespaces at once', () => {
  it(
    `apply, list and filter their own rulesets for ${SECONDS} s`,
    async () => {
      const sock = (daemon as Daemon).sock;
      const end = Date.now() + SECONDS * 1000;
      const done = { applies: 0, listings: 0, probes: 0 };
      const worker = async (ns: number): Promise<void> => {
        const p = nets[ns] as Pair;
        for (let round = 0; Date.now() < end; round++) {
          // Each round another ruleset of this namespace's own, so a listing or verdict of the
          // previous one, or of another namespace, would show.
          const { text, drops } = ruleset(ns, (round * 5 + ns) % 16);
          const applied = await run(shimArgv(p.server, sock, ['iptables-legacy-restore']), text);
          expect(applied, `ns ${ns} round ${round}`).toEqual({ status: 0, out: '' });
          done.applies++;
          for (let k = 0; k < 2; k++) {
            const listed = await run(shimArgv(p.server, sock, ['iptables-legacy-save']));
            expect(listed.status).toBe(0);
            expect(rules(listed.out.replace(/^#.*\n/gm, '')), `ns ${ns} round ${round}`).toBe(text);
            done.listings++;
          }
          if (round % 3 === 0) {
            const want = PORTS.map((port) => (drops.includes(port) ? 'timeout' : 'up'));
            expect(await probe(p), `ns ${ns} round ${round}`).toEqual(want);
            done.probes++;
          }
        }
      };
      await Promise.all(Array.from({ length: N }, (_, ns) => worker(ns)));
      console.log(`fault concurrent ${SECONDS} s: ${JSON.stringify(done)}`);
      expect(done.applies).toBeGreaterThan(N);
    },
    75_000 + SECONDS * 1000,
  );
});
