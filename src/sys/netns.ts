// Runs bpf(2) calls inside another network namespace: setns(2) switches only the calling thread,
// and our bpf calls are synchronous on the JS thread, so switching there and back around them
// attaches links in the caller's namespace without touching anything else.
import { closeSync, openSync } from 'node:fs';
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
