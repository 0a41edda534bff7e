// What keeps namespace maps (engine/netns.ts) in step with their namespace, per map kind: the
// addrtype answers follow the namespace's routes through rtnetlink; hashlimit's and connlimit's
// maps have collectors (bpf/collectors.ts).
import { AddrtypeSync } from '../bpf/addrtypes.js';
import { Collectors } from '../bpf/collectors.js';
import { ADDRTYPES_MAP } from '../translate/ext/addrtype.js';
import type { NetnsMap } from '../translate/ext/types.js';
import { NetlinkWatcher } from '../sys/netlink.js';
import { findNetns } from '../sys/netns.js';
import type { NetnsRef } from './backend.js';

export class Keepers {
  private watcher: NetlinkWatcher | undefined;
  private readonly collectors: Collectors;

  constructor(private readonly onError: (e: unknown) => void) {
    this.collectors = new Collectors(onError);
  }

  /** Starts keeping `desc`'s map `fd` of `netns`; returns what stops it. */
  start(netns: NetnsRef, desc: NetnsMap, fd: number): (() => void) | undefined {
    if (desc.map !== ADDRTYPES_MAP) return this.collectors.start(netns.id, desc.map, fd);
    let hint = netns.path;
    // The caller's /proc/PID/ns/net dies with it: find the namespace again by its cookie.
    const path = (): string | undefined => {
      const p = findNetns(netns.id, hint);
      if (p !== undefined) hint = p;
      return p;
    };
    this.watcher ??= new NetlinkWatcher(this.onError);
    const sync = new AddrtypeSync(fd, path, this.onError);
    const watcher = this.watcher;
    sync.watch(watcher);
    return () => sync.close(watcher);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.collectors.close();
  }
}
