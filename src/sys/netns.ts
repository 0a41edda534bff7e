// Runs bpf(2) calls inside another network namespace: setns(2) switches only the calling thread,
// and our bpf calls are synchronous on the JS thread, so switching there and back around them
// attaches links in the caller's namespace without touching anything else.
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
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
 * Paths that open every network namespace something still holds: nsfs bind mounts, processes'
 * namespaces and their open nsfs fds. One per namespace (by nsfs inode). Mount namespaces
 * have nsfs mounts of every kind: those of other types fail the cookie read and drop out.
 */
function netnsPaths(): string[] {
  const out: string[] = [];
  const seen = new Set<number>();
  const add = (path: string): void => {
    try {
      const ino = statSync(path).ino;
      if (seen.has(ino)) return;
      seen.add(ino);
      out.push(path);
    } catch {
      // gone meanwhile
    }
  };
  // Every nsfs bind mount (ip netns' /run/netns, container runtimes' own directories).
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('nsfs ')) {
      const mountPoint = pre?.split(' ')[4];
      if (mountPoint !== undefined)
        add(
          mountPoint.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
        );
    }
  }
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  for (const pid of pids) add(`/proc/${pid}/ns/net`);
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('net:[')) add(`/proc/${pid}/fd/${fd}`);
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

const cookieAt = (path: string): string | undefined => {
  try {
    return String(cookieOf(path));
  } catch {
    return undefined;
  }
};

/**
 * A path that opens the live namespace with `cookie`, without holding it open in between (a
 * held nsfs fd or socket would keep a deleted namespace alive): `hint` if it still leads there,
 * else the first path of those something holds.
 */
export function findNetns(cookie: string, hint?: string): string | undefined {
  if (hint !== undefined && cookieAt(hint) === cookie) return hint;
  return netnsPaths().find((p) => cookieAt(p) === cookie);
}

/** The cookies of every namespace that still exists, as of now. */
export function liveNetns(): Set<string> {
  const live = new Set<string>();
  for (const p of netnsPaths()) {
    const c = cookieAt(p);
    if (c !== undefined) live.add(c);
  }
  return live;
}
