// A helper daemon of our own (dist/src/cli.js daemon) for the end-to-end measurements: its own
// socket, pin root and state directory, its JSON log in a file, stock iptables-legacy reaching it
// through the LD_PRELOAD shim.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup, ROOT } from './common.js';

export const SHIM = join(ROOT, 'native', 'build', 'shim.so');

/** What the daemon logged for one SET_REPLACE. */
export interface Replace {
  readonly result: number;
  /** "N entries; ms read .., check .., ..." */
  readonly detail: string;
  readonly ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Daemon {
  private exited = false;
  private readonly stopNow: () => void;

  private constructor(
    private readonly child: ChildProcess,
    readonly socket: string,
    private readonly log: string,
    private readonly pins: string,
    private readonly state: string,
  ) {
    child.once('exit', () => (this.exited = true));
    this.stopNow = onCleanup(() => {
      if (!this.exited) child.kill('SIGKILL');
      rmSync(pins, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    });
  }

  /**
   * Starts a daemon with its files in `dir` and its pins in `pins`; resolves once it listens and
   * its compute worker has warmed up (compute-worker.ts), as a helper started at boot has by the
   * time rules come: the figures are the helper's, not V8's first compilations.
   */
  static async start(dir: string, pins: string): Promise<Daemon> {
    if (!existsSync(SHIM)) throw new Error(`${SHIM} missing: run make build`);
    const log = join(dir, 'daemon.log');
    const socket = join(dir, 'daemon.sock');
    const state = join(dir, 'state');
    for (const p of [log, socket, `${socket}.ctl`, state, pins]) {
      rmSync(p, { recursive: true, force: true });
    }
    const fd = openSync(log, 'w');
    const args = ['daemon', '--socket', socket, '--pin-root', pins, '--state-dir', state];
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'cli.js'), ...args], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const d = new Daemon(child, socket, log, pins, state);
    const ready = (): boolean => {
      const lines = d.lines();
      return ['listening', 'compute warm'].every((e) => lines.some((l) => l.event === e));
    };
    for (let waited = 0; !ready(); waited += 50) {
      if (d.exited || waited > 30_000) {
        d.stopNow();
        throw new Error(`daemon did not start: ${readFileSync(log, 'utf8')}`);
      }
      await sleep(50);
    }
    return d;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private lines(): Record<string, unknown>[] {
    return readFileSync(this.log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Every SET_REPLACE so far, in order. */
  replaces(): Replace[] {
    return this.lines()
      .filter((l) => l.cmd === 'SET_REPLACE')
      .map((l) => ({
        result: Number(l.result),
        detail: String(l.detail ?? ''),
        ms: Number(l.us) / 1000,
      }));
  }

  /** VmRSS and VmHWM (the peak) in MB. */
  memory(): { rss: number; hwm: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string): number =>
      Number(status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  }

  /** `ip` arguments running `cmd` in namespace `ns` through the shim to this daemon. */
  shim(ns: string, cmd: readonly string[]): string[] {
    return [
      'netns',
      'exec',
      ns,
      'env',
      `LD_PRELOAD=${SHIM}`,
      `BPFILTER_SOCKET=${this.socket}`,
      ...cmd,
    ];
  }

  /** Stops the daemon (SIGTERM, then SIGKILL after 5 s) and removes its pins and state. */
  async stop(): Promise<void> {
    if (!this.exited) this.child.kill('SIGTERM');
    for (let waited = 0; !this.exited && waited < 5000; waited += 50) await sleep(50);
    this.stopNow();
  }
}
