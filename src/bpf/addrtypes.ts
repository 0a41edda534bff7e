// What -m addrtype asks of the kernel — inet_dev_addr_type(net, dev, addr) — kept as data a BPF
// program can read: a netfilter program cannot do a route lookup, so the helper mirrors the
// answer of the namespace's local routing table into an LPM trie (one per namespace, the
// addrtype kind's namespace map) and keeps it in step with rtnetlink.
//
// The kernel's answer (fib_frontend.c __inet_dev_addr_type): 0.0.0.0/8 and 255.255.255.255 are
// BROADCAST, 224/4 MULTICAST; otherwise BROADCAST if the table RT_TABLE_LOCAL does not exist,
// else UNICAST unless fib_table_lookup in it succeeds, which gives the route's type — and with a
// device (--limit-iface-in/out) only when the route's first nexthop is that device. The lookup
// is the longest prefix whose first usable alias (no TOS, a live nexthop) decides; an alias of
// an error type (blackhole, unreachable, prohibit, throw, nat, xresolve) makes the lookup fail
// (UNICAST). Until a custom ip rule is added the local and main tables share one trie (merged),
// so the main table's routes count too. So every prefix of those tables becomes one LPM entry
// with the answer it gives, and 0.0.0.0/0 holds the answer for addresses no route covers.
//
// The window: rtnetlink announces address, route, link and rule changes as they happen; each
// batch of announcements makes the helper read the tables again and rewrite what changed, within
// milliseconds. A packet in between sees the previous answer (docs/engine.md).
import { readFileSync } from 'node:fs';
import { mapDelete, mapKeys, mapUpdate } from './syscall.js';
import { inNetns } from '../sys/netns.js';
import {
  closeSocket,
  dump,
  NETLINK_ROUTE,
  netlinkSocket,
  parseAttrs,
  type NetlinkWatcher,
  type NlMessage,
} from '../sys/netlink.js';

export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
const RTN_BLACKHOLE = 6;
const RTN_XRESOLVE = 11;
const RT_TABLE_MAIN = 254;
const RT_TABLE_LOCAL = 255;
const RTNH_F_DEAD = 1;

const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;

/** rtnetlink groups whose changes can change an answer: links, IPv4 addresses, routes, rules. */
const GROUPS = 0x1 | 0x10 | 0x40 | 0x80;

/** One IPv4 route as RTM_GETROUTE dumps it. */
export interface Route {
  readonly table: number;
  /** Host order. */
  readonly dst: number;
  readonly len: number;
  readonly type: number;
  readonly tos: number;
  readonly flags: number;
  readonly nexthops: readonly { readonly ifindex: number; readonly flags: number }[];
}

/** An LPM entry's value: the type, whether a device must be the first nexthop's, its ifindex. */
export interface Answer {
  readonly type: number;
  readonly devCheck: boolean;
  readonly ifindex: number;
}

/** LPM key: u32 prefix length, then the address's bytes. */
export const LPM_KEY = 8;
/** Value: u8 type, u8 devCheck, u16 pad, u32 ifindex. */
export const LPM_VALUE = 8;

export function parseRoute(m: NlMessage): Route | undefined {
  if (m.type !== RTM_NEWROUTE || m.body.length < 12 || m.body[0] !== 2) return undefined;
  const b = m.body;
  const attrs = parseAttrs(b, 12);
  const dst = attrs.get(RTA_DST);
  const table = attrs.get(RTA_TABLE);
  const nexthops: { ifindex: number; flags: number }[] = [];
  const oif = attrs.get(RTA_OIF);
  const flags = b.readUInt32LE(8);
  if (oif) nexthops.push({ ifindex: oif.readInt32LE(0), flags: flags & 0xff });
  const mp = attrs.get(RTA_MULTIPATH);
  // struct rtnexthop: u16 len, u8 flags, u8 hops, s32 ifindex, then attributes
  for (let at = 0; mp && at + 8 <= mp.length;) {
    const len = mp.readUInt16LE(at);
    if (len < 8) break;
    nexthops.push({ ifindex: mp.readInt32LE(at + 4), flags: mp[at + 2] ?? 0 });
    at += (len + 3) & ~3;
  }
  return {
    table: table ? table.readUInt32LE(0) : (b[4] ?? 0),
    dst: dst ? dst.readUInt32BE(0) : 0,
    len: b[1] ?? 0,
    tos: b[3] ?? 0,
    type: b[7] ?? 0,
    flags,
    nexthops,
  };
}

const isError = (type: number): boolean => type >= RTN_BLACKHOLE && type <= RTN_XRESOLVE;
const prefixKey = (dst: number, len: number): string => `${dst >>> 0}/${len}`;

/**
 * The LPM entries for `routes`: per prefix the answer of its first usable alias (prefixes with
 * none are left out, so the lookup backtracks to shorter ones, as fib_table_lookup does), and
 * 0.0.0.0/0's fallback. `merged`: the main table shares the local table's trie.
 */
export function answers(
  routes: readonly Route[],
  merged: boolean,
  localExists: boolean,
): Map<string, Answer> {
  const considered = routes.filter(
    (r) => r.table === RT_TABLE_LOCAL || (merged && r.table === RT_TABLE_MAIN),
  );
  const groups = new Map<string, Route[]>();
  for (const r of considered) {
    const k = prefixKey(r.dst, r.len);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out = new Map<string, Answer>();
  for (const [k, aliases] of groups) {
    // fib_find_alias keeps a leaf's aliases in descending table id, each table's in dump order.
    const ordered = aliases
      .map((r, i) => ({ r, i }))
      .sort((a, b) => b.r.table - a.r.table || a.i - b.i)
      .map((x) => x.r);
    for (const r of ordered) {
      if (r.tos !== 0) continue;
      if (isError(r.type)) {
        out.set(k, { type: RTN_UNICAST, devCheck: false, ifindex: 0 });
        break;
      }
      if (!r.nexthops.some((n) => (n.flags & RTNH_F_DEAD) === 0)) continue;
      out.set(k, { type: r.type, devCheck: true, ifindex: r.nexthops[0]?.ifindex ?? 0 });
      break;
    }
  }
  const any = prefixKey(0, 0);
  if (!out.has(any)) {
    out.set(any, {
      type: localExists ? RTN_UNICAST : RTN_BROADCAST,
      devCheck: false,
      ifindex: 0,
    });
  }
  return out;
}

/** The sections of /proc/net/fib_trie by table header ("Main:", "Local:", "Id 5:"). */
function trieSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name = '';
  for (const line of text.split('\n')) {
    if (line !== '' && !/^\s/.test(line)) {
      name = line;
      out.set(name, '');
    } else if (name !== '') out.set(name, (out.get(name) ?? '') + line + '\n');
  }
  return out;
}

/**
 * Whether the local table exists (fib_triestat lists every table, empty or not) and whether it
 * is still merged with main (then /proc/net/fib_trie shows one trie under both names).
 */
function tableState(): { localExists: boolean; merged: boolean } {
  const stat = readFileSync('/proc/thread-self/net/fib_triestat', 'utf8');
  const localExists = /^Local:$/m.test(stat);
  const sections = trieSections(readFileSync('/proc/thread-self/net/fib_trie', 'utf8'));
  const main = sections.get('Main:');
  const local = sections.get('Local:');
  return { localExists, merged: main !== undefined && main === local };
}

function lpmKey(k: string): Buffer {
  const [addr = '0', len = '0'] = k.split('/');
  const b = Buffer.alloc(LPM_KEY);
  b.writeUInt32LE(Number(len), 0);
  b.writeUInt32BE(Number(addr) >>> 0, 4);
  return b;
}

function lpmValue(a: Answer): Buffer {
  const b = Buffer.alloc(LPM_VALUE);
  b[0] = a.type;
  b[1] = a.devCheck ? 1 : 0;
  b.writeInt32LE(a.ifindex, 4);
  return b;
}

const same = (a: Answer | undefined, b: Answer): boolean =>
  a !== undefined && a.type === b.type && a.devCheck === b.devCheck && a.ifindex === b.ifindex;

/** Keeps one namespace's LPM trie equal to the kernel's answers. */
export class AddrtypeSync {
  /** What the map holds; undefined: a key found there (an earlier helper's), answer unknown. */
  private written = new Map<string, Answer | undefined>();
  private sub: number | undefined;
  private pending = false;
  /** Resyncs done, for tests and status. */
  syncs = 0;

  constructor(
    private readonly fd: number,
    private readonly netnsPath: () => string | undefined,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {
    for (const k of mapKeys(fd, LPM_KEY)) {
      this.written.set(`${k.readUInt32BE(4)}/${k.readUInt32LE(0)}`, undefined);
    }
  }

  /** Reads the namespace's tables now and rewrites what changed. */
  resync(): void {
    const path = this.netnsPath();
    if (path === undefined) return;
    const { routes, state } = inNetns(path, () => {
      const fd = netlinkSocket(NETLINK_ROUTE);
      try {
        const req = Buffer.alloc(12);
        req[0] = 2; // AF_INET, every table
        const msgs = dump(fd, RTM_GETROUTE, req);
        return { routes: msgs.map(parseRoute).filter((r) => r !== undefined), state: tableState() };
      } finally {
        closeSocket(fd);
      }
    });
    const next = answers(routes, state.merged, state.localExists);
    // New and changed answers first, then the prefixes that went: a packet in between sees
    // either answer of a changed prefix, never a hole where a route still is.
    for (const [k, a] of next)
      if (!same(this.written.get(k), a)) mapUpdate(this.fd, lpmKey(k), lpmValue(a));
    for (const k of this.written.keys()) {
      if (!next.has(k)) {
        try {
          mapDelete(this.fd, lpmKey(k));
        } catch {
          // already gone (a map adopted from an earlier helper holds other keys)
        }
      }
    }
    this.written = next;
    this.syncs++;
  }

  /** Resyncs now and on every change rtnetlink announces in the namespace. */
  watch(watcher: NetlinkWatcher): void {
    const path = this.netnsPath();
    if (path === undefined || this.sub !== undefined) return;
    this.sub = netlinkSocket(NETLINK_ROUTE, GROUPS, path);
    watcher.add(this.sub, () => this.schedule());
    this.resync();
  }

  /** One resync for a burst of announcements (an address brings several routes). */
  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      try {
        this.resync();
      } catch (e) {
        this.onError(e);
      }
    });
  }

  close(watcher?: NetlinkWatcher): void {
    if (this.sub === undefined) return;
    watcher?.remove(this.sub);
    closeSocket(this.sub);
    this.sub = undefined;
  }
}
