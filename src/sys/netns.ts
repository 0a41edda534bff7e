// Runs bpf(2) calls inside another network namespace: setns(2) switches only the calling thread,
// and our bpf calls are synchronous on the JS thread, so switching there and back around them
// attaches links in the caller's namespace without touching anything else.
import { closeSync, openSync, readdirSync, statSync } from 'node:fs';
import { CLONE_NEWNET, netnsCookie, setns } from './libc.js';

export function inNetns<T>(path: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(path, 'r');
  try {
    setns(target, CLONE_NEWNET);
    try {
      return fn();
    } finally {
      setns(home, CLONE_NEWNET);
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}

/**
 * The namespace's cookie: unlike its nsfs inode, never reused after the namespace is gone, so
 * state keyed by it cannot leak into a new namespace that happens to get the same inode.
 */
export function cookieOf(path: string): bigint {
  return inNetns(path, netnsCookie);
}

/**
 * A path that opens the live namespace with `cookie`, without holding it open in between (a
 * held nsfs fd or socket would keep a deleted namespace alive): `hint` if it still leads there,
 * else the first bind mount under /run/netns or process whose namespace it is.
 */
export function findNetns(cookie: string, hint?: string): string | undefined {
  const matches = (path: string): boolean => {
    try {
      return String(cookieOf(path)) === cookie;
    } catch {
      return false;
    }
  };
  if (hint !== undefined && matches(hint)) return hint;
  const seen = new Set<number>();
  const candidates = (): string[] => {
    const out: string[] = [];
    try {
      for (const n of readdirSync('/run/netns')) out.push(`/run/netns/${n}`);
    } catch {
      // no named namespaces
    }
    for (const p of readdirSync('/proc')) if (/^\d+$/.test(p)) out.push(`/proc/${p}/ns/net`);
    return out;
  };
  for (const path of candidates()) {
    let ino: number;
    try {
      ino = statSync(path).ino;
    } catch {
      continue;
    }
    if (seen.has(ino)) continue;
    seen.add(ino);
    if (matches(path)) return path;
  }
  return undefined;
}
