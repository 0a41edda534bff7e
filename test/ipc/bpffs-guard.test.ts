// The daemon pins only on the host's bpffs: under `ip netns exec` (a mount namespace of its own
// with /sys remounted) it refuses to start, as it does on a private bpffs; entered with nsenter,
// which keeps the host's mounts, it starts; an explicit --pin-root is the operator's choice.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPF_FS_MAGIC, judgeBpffs } from '../../src/ipc/bpffs-guard.js';
import { CLI, netnsAdd, netnsDel, requireBuild } from './helpers.js';

const NS = `guard-${process.pid}`;
let dir = '';

interface Run {
  code: number | null;
  stderr: string;
  listened: boolean;
}

/** Starts the daemon under `prefix`; it either exits (refused) or listens, and is then killed. */
function daemon(prefix: string[], extra: string[] = [], shell?: string): Promise<Run> {
  const sock = join(dir, `d${Math.random().toString(36).slice(2)}.sock`);
  const args = [CLI, 'daemon', '--socket', sock, '--state-dir', join(dir, 'state'), ...extra];
  const cmd = shell
    ? [...prefix, 'sh', '-c', `${shell} && exec "$0" "$@"`, process.execPath, ...args]
    : [...prefix, process.execPath, ...args];
  const child = spawn(cmd[0] as string, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    let listened = false;
    const poll = setInterval(() => {
      if (existsSync(sock)) {
        listened = true;
        child.kill();
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, stderr, listened });
    });
  });
}

beforeAll(() => {
  requireBuild();
  // The premise of the refusals below: the host has its bpffs (systemd mounts it at boot, and so
  // does the daemon started in the host's mount namespace; a fresh machine may have none yet).
  if (statfsSync('/sys/fs/bpf').type !== BPF_FS_MAGIC) {
    execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  }
  dir = mkdtempSync(join(tmpdir(), 'guard-'));
  netnsAdd(NS);
});

afterAll(() => {
  netnsDel(NS);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bpffs guard: the daemon', () => {
  it('refuses to start under ip netns exec, where /sys/fs/bpf is not mounted', async () => {
    const r = await daemon(['ip', 'netns', 'exec', NS]);
    expect(r.listened).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'refusing to start: /sys/fs/bpf in this mount namespace is not a bpffs',
    );
    expect(r.stderr).toContain('nsenter --net=/run/netns/NAME');
  });

  it('refuses a private bpffs of that mount namespace, which would die with it', async () => {
    const r = await daemon(['ip', 'netns', 'exec', NS], [], 'mount -t bpf bpf /sys/fs/bpf');
    expect(r.listened).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is a bpffs of its own, not the host's");
  });

  it("starts in the same netns entered with nsenter, which keeps the host's bpffs", async () => {
    const r = await daemon(['nsenter', `--net=/run/netns/${NS}`]);
    expect(r.stderr).not.toContain('refusing');
    expect(r.listened).toBe(true);
  });

  it('starts on an explicit --pin-root on a bpffs, and refuses one that is not', async () => {
    const mount = 'mount -t bpf bpf /sys/fs/bpf';
    const ok = await daemon(['ip', 'netns', 'exec', NS], ['--pin-root', '/sys/fs/bpf/x'], mount);
    expect(ok.stderr).not.toContain('refusing');
    expect(ok.listened).toBe(true);
    const bad = await daemon(['ip', 'netns', 'exec', NS], ['--pin-root', join(dir, 'pins')]);
    expect(bad.listened).toBe(false);
    expect(bad.stderr).toContain(`--pin-root ${join(dir, 'pins')} is not on a bpffs`);
  });
});

describe('judgeBpffs', () => {
  const bpf = (dev: number) => ({ bpf: true, dev });
  const host = (dev: number, sameMountNs: boolean) => ({ bpf: true, dev, sameMountNs });

  it("accepts the host's bpffs, seen from its own or another mount namespace", () => {
    expect(judgeBpffs({ here: bpf(40), host: host(40, true) })).toEqual({ ok: true });
    expect(judgeBpffs({ here: bpf(40), host: host(40, false) })).toEqual({ ok: true });
  });

  it("mounts only the host's own, never one in another mount namespace", () => {
    const sysfs = { bpf: false, dev: 22 };
    expect(judgeBpffs({ here: sysfs, host: { ...host(22, true), bpf: false } })).toEqual({
      ok: true,
      mount: true,
    });
    const v = judgeBpffs({ here: sysfs, host: host(40, false) });
    expect(v.ok).toBe(false);
    expect(judgeBpffs({ here: undefined, host: host(40, false) })).toMatchObject({ ok: false });
    expect(judgeBpffs({ here: bpf(41), host: { ...host(40, false), bpf: false } })).toMatchObject({
      ok: false,
    });
  });

  it('refuses a bpffs instance other than the host', () => {
    const v = judgeBpffs({ here: bpf(41), host: host(40, false) });
    expect(v).toMatchObject({ ok: false });
    expect(!v.ok && v.reason).toContain("a bpffs of its own, not the host's");
  });

  it('without a host to compare with, takes a mounted bpffs and never mounts one', () => {
    expect(judgeBpffs({ here: bpf(40), host: undefined })).toMatchObject({ ok: true });
    expect(judgeBpffs({ here: { bpf: false, dev: 22 }, host: undefined })).toMatchObject({
      ok: false,
    });
  });

  it('leaves an explicit pin root to the operator, on a bpffs only', () => {
    expect(judgeBpffs({ explicit: '/x', here: bpf(41), host: undefined })).toEqual({ ok: true });
    // Under the host's /sys/fs/bpf before it is mounted: the host's is mounted, as by default;
    // from another mount namespace, or anywhere else, nothing is.
    const unmounted = { ...host(22, true), bpf: false };
    const sysfs = { bpf: false, dev: 22 };
    expect(judgeBpffs({ explicit: '/sys/fs/bpf/t', here: sysfs, host: unmounted })).toEqual({
      ok: true,
      mount: true,
    });
    expect(
      judgeBpffs({
        explicit: '/sys/fs/bpf/t',
        here: sysfs,
        host: { ...unmounted, sameMountNs: false },
      }),
    ).toMatchObject({ ok: false });
    expect(judgeBpffs({ explicit: '/sys/fs/bpfx', here: sysfs, host: unmounted })).toMatchObject({
      ok: false,
    });
    expect(judgeBpffs({ explicit: '/x', here: { bpf: false, dev: 3 }, host: undefined })).toEqual({
      ok: false,
      reason: '--pin-root /x is not on a bpffs',
    });
  });
});
