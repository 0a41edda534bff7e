// What the measurements share: the environment's knobs, repeated samples (min and median),
// tables, commands, scratch namespaces, and the clean-up that runs on success, error or signal.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The project's root (run.ts runs from dist/bench/). */
export const ROOT = join(import.meta.dirname, '..', '..');

/** BENCH_QUICK=1: every default shrinks to a run of about a minute. */
export const QUICK = process.env.BENCH_QUICK === '1';

/** A string knob: the environment's value, else the quick or the full default. */
export function knob(name: string, full: string, quick = full): string {
  const v = process.env[name];
  return v !== undefined && v !== '' ? v : QUICK ? quick : full;
}

export function numberKnob(name: string, full: number, quick = full): number {
  const v = Number(knob(name, String(full), String(quick)));
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number ≥ 0`);
  return v;
}

/** A comma-separated knob; the empty string or "none" is the empty list. */
export function listKnob(name: string, full: string, quick = full): string[] {
  const v = knob(name, full, quick);
  return v === 'none' ? [] : v.split(',').filter((s) => s !== '');
}

/** Every repeated measurement is taken this many times; tables give the min and the median. */
export const ROUNDS = Math.max(1, numberKnob('BENCH_ROUNDS', 3, 2));

/** Measurements to run (run.ts's names); all by default. */
export const ONLY = listKnob('BENCH_ONLY', 'testrun,veth,apply');

export interface Spread {
  readonly min: number;
  readonly median: number;
}

export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) return { min: NaN, median: NaN };
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median =
    s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { min: s[0] as number, median };
}

/** Three significant digits, or "-" for what was not measured. */
export function num(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toPrecision(3);
}

export const ratio = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';

/** A right-aligned table under its title (first column left-aligned). */
export function printTable(
  title: string,
  head: readonly string[],
  rows: readonly string[][],
): void {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(width.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** A command's stdout; a failure throws with its stderr. */
export function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    input,
    maxBuffer: 64 << 20,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Milliseconds a command takes, start to exit; a non-zero exit throws with its stderr. */
export function timed(cmd: string, args: readonly string[]): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) {
    throw new Error(`${[cmd, ...args].join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr}`);
  }
  return ms;
}

const cleanups: (() => void)[] = [];

/** Registers `fn` for clean-up; the returned function runs it now (once) instead. */
export function onCleanup(fn: () => void): () => void {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    const at = cleanups.indexOf(once);
    if (at >= 0) cleanups.splice(at, 1);
    fn();
  };
  cleanups.push(once);
  return once;
}

/** Runs every registered clean-up, newest first; one failing does not stop the rest. */
export function cleanUpAll(): void {
  while (cleanups.length > 0) {
    try {
      cleanups[cleanups.length - 1]?.();
    } catch (e) {
      console.error(`bench: clean-up: ${(e as Error).message}`);
    }
  }
}

/** Names this run's namespaces and pins carry, so that parallel runs do not collide. */
export const TAG = String(process.pid % 100000);

/** A scratch directory removed at clean-up. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A network namespace removed at clean-up (or by the returned function). */
export function netns(name: string): { name: string; path: string; remove: () => void } {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  const remove = onCleanup(() => {
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  });
  return { name, path: `/run/netns/${name}`, remove };
}

/** A bpffs directory for pins, removed (with whatever is pinned there) at clean-up. */
export function pinRoot(name: string): string {
  const dir = `/sys/fs/bpf/bpfilter-bench-${name}-${TAG}`;
  rmSync(dir, { recursive: true, force: true });
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
