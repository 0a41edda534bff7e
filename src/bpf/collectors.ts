// The helper's collectors of namespace maps: hashlimit's expired entries (htable_gc) and
// connlimit's gone connections (find_or_evict). The backend's keeper hook opens a namespace's
// maps one at a time; a collector starts once every map it walks is open, and stops with the
// namespace.
import { ConnlimitGc } from './connlimit-gc.js';
import { CONNLIMIT_CONNS, CONNLIMIT_COUNTS } from './codegen/connlimit.js';
import { HASHLIMIT_ENTRIES, HASHLIMIT_TABLES } from './codegen/hashlimit.js';
import { HashlimitGc } from './hashlimit-gc.js';

interface Collector {
  close(): void;
}

interface Kind {
  readonly maps: readonly string[];
  start(fd: (map: string) => number, onError: (e: unknown) => void): Collector;
}

const KINDS: readonly Kind[] = [
  {
    maps: [HASHLIMIT_TABLES, HASHLIMIT_ENTRIES],
    start: (fd, onError) => {
      const gc = new HashlimitGc(fd(HASHLIMIT_TABLES), fd(HASHLIMIT_ENTRIES), onError);
      gc.start();
      return gc;
    },
  },
  {
    maps: [CONNLIMIT_CONNS, CONNLIMIT_COUNTS],
    start: (fd, onError) => {
      const gc = new ConnlimitGc(fd(CONNLIMIT_CONNS), fd(CONNLIMIT_COUNTS), onError);
      gc.start();
      return gc;
    },
  },
];

export class Collectors {
  /** netns → the maps open there, and the collectors running. */
  private readonly byNetns = new Map<
    string,
    { readonly fds: Map<string, number>; readonly running: Map<Kind, Collector> }
  >();

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Map `map` of namespace `netns` is open as `fd`; returns what stops what it started. */
  start(netns: string, map: string, fd: number): (() => void) | undefined {
    const kind = KINDS.find((k) => k.maps.includes(map));
    if (!kind) return undefined;
    let st = this.byNetns.get(netns);
    if (!st) {
      st = { fds: new Map(), running: new Map() };
      this.byNetns.set(netns, st);
    }
    st.fds.set(map, fd);
    const fds = st.fds;
    if (!st.running.has(kind) && kind.maps.every((m) => fds.has(m))) {
      st.running.set(
        kind,
        kind.start((m) => fds.get(m) as number, this.onError),
      );
    }
    const running = st.running;
    return () => {
      running.get(kind)?.close();
      running.delete(kind);
      fds.delete(map);
      if (fds.size === 0) this.byNetns.delete(netns);
    };
  }

  close(): void {
    for (const st of this.byNetns.values()) for (const c of st.running.values()) c.close();
    this.byNetns.clear();
  }
}
