// Where pinned objects live: one directory per network namespace and table.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/bpfilter';

/** Mounts bpffs on /sys/fs/bpf when nothing is mounted there yet. */
export function ensureBpffs(root: string): void {
  if (!root.startsWith('/sys/fs/bpf')) return;
  const mounted = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf');
  if (!mounted) execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
}

export function pinDir(root: string, netnsId: string, table: string): string {
  const dir = join(root, netnsId, table);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function pinExists(path: string): boolean {
  return existsSync(path);
}

export function unpinDir(root: string, netnsId: string): void {
  rmSync(join(root, netnsId), { recursive: true, force: true });
}
