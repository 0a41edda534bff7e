// bpfilter.ko end to end: scripts/kmod-vm.sh builds the module against bookworm's 6.1 and
// bookworm-backports' 6.12 headers, boots that 6.12 kernel under qemu (TCG) over this machine's
// root, and the guest drives the module with stock iptables-legacy. Every check is one
// `KMOD-RESULT <name> ok|fail <detail>` line from the guest, printed here so CI shows it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** The guest's checks, in the order it runs them (scripts/kmod-vm-guest.sh). */
const CHECKS = [
  'netns',
  'baseline',
  'load',
  'append',
  'bpf-prog',
  'icmp-dropped',
  'tcp-passes',
  'counters',
  'concurrent',
  'eperm',
  'delete',
  'dead-helper-drops',
  'restart',
  'rmmod',
  'short-write',
  'mute-helper',
  'conflict',
  'done',
] as const;

function run(script: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(script, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out }));
  });
}

it('bpfilter.ko builds for 6.1 and 6.12 and serves iptables-legacy in a 6.12 guest', async () => {
  const { status, out } = await run(join(ROOT, 'scripts', 'kmod-vm.sh'));
  const lines = out.split('\n');
  const shown = lines.filter((l) =>
    /^(KMOD-RESULT |kmod-vm: |kmod-build: +(CC|LD)|kmod-build: linux-headers)/.test(l),
  );
  console.log(status === 0 ? shown.join('\n') : out);

  const results = new Map<string, { status: string; detail: string }>();
  for (const line of lines) {
    const [, name, result, detail = ''] = /^KMOD-RESULT (\S+) (ok|fail) ?(.*)$/.exec(line) ?? [];
    if (name !== undefined && result !== undefined) results.set(name, { status: result, detail });
  }
  for (const name of CHECKS) expect({ name, ...results.get(name) }).toMatchObject({ status: 'ok' });
  expect(status).toBe(0);
}, 480_000);
