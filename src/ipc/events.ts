// The user-space half of LOG and REJECT. The programs hand the packet over through the ring
// buffer (bpf/codegen/event.ts) and drop or go on; here LOG's line is written where the kernel's
// LOG would write it, and REJECT's ICMP error or RST is sent from the packet's own namespace, as
// nf_send_unreach / nf_send_reset would, within the kernel's ICMP rate limits.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { EventKind, parseEvent, REPLY_NO_CTINFO, type Event } from '../bpf/codegen/event.js';
import { LOG, logLine } from '../translate/ext/LOG.js';
import { REJECT, rejectReply } from '../translate/ext/REJECT.js';
import { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT } from '../translate/abi.js';
import {
  addressType,
  closeFd,
  rawSocket,
  sendPacket,
  setMark,
  socketCookie,
  type AddressType,
} from '../sys/libc.js';
import { cookieOf, findNetns, inNetns } from '../sys/netns.js';
import type { NetnsRef } from './backend.js';
import { ICMP_DEFAULTS, IcmpRateLimiter, type IcmpSysctls } from './icmp-ratelimit.js';
import type { Logger } from './service.js';
import type { EventCounts } from './status.js';

/** Where LOG lines go. `level` is the rule's syslog level (0-7). */
export interface LogSink {
  write(level: number, line: string): void;
}

/**
 * /dev/kmsg, so dmesg and the journal show the lines as they show the kernel's. A writer is
 * limited to a burst of 10 records per open file (printk_devkmsg=ratelimit, the default), which
 * the kernel's own LOG is not: the file is reopened before that limit could bite.
 */
export class KmsgSink implements LogSink {
  private fd: number | undefined;
  private written = 0;
  constructor(private readonly path = '/dev/kmsg') {}
  write(level: number, line: string): void {
    if (this.fd === undefined || this.written >= 8) {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = openSync(this.path, 'w');
      this.written = 0;
    }
    writeSync(this.fd, Buffer.from(`<${level}>${line}\n`, 'latin1'));
    this.written++;
  }
}

/** Lines appended to a file as `<level>line` (for tests and for hosts that want them apart). */
export class FileSink implements LogSink {
  private readonly fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }
  write(level: number, line: string): void {
    writeSync(this.fd, Buffer.from(`<${level}>${line}\n`, 'latin1'));
  }
}

interface NetSysctls {
  readonly ttl: number;
  readonly fwmarkReflect: boolean;
  readonly icmp: IcmpSysctls;
}

/**
 * A namespace's sysctl files, held open and read again from offset 0 for each reply: the
 * kernel applies a changed limit to the very next packet, and a flood's replies would
 * otherwise each cost an open, fstat, read and close per file. The files are opened from
 * inside the namespace (a /proc/sys/net file is the opener's namespace's) and do not keep it
 * alive.
 */
class SysctlFiles {
  private readonly fds = new Map<string, number>();
  private readonly buf = Buffer.alloc(32);

  read(name: string, fallback: number): number {
    let fd = this.fds.get(name);
    try {
      if (fd === undefined) {
        fd = openSync(`/proc/sys/net/${name}`, 'r');
        this.fds.set(name, fd);
      }
      const n = readSync(fd, this.buf, 0, this.buf.length, 0);
      const v = Number(this.buf.toString('latin1', 0, n).trim());
      return Number.isFinite(v) ? v : fallback;
    } catch {
      this.forget(name);
      return fallback;
    }
  }

  private forget(name: string): void {
    const fd = this.fds.get(name);
    this.fds.delete(name);
    if (fd !== undefined) closeSync(fd);
  }

  close(): void {
    for (const name of [...this.fds.keys()]) this.forget(name);
  }
}

/** The sysctls REJECT's replies depend on, of the namespace `files` were opened in. */
function netSysctls(files: SysctlFiles): NetSysctls {
  return {
    ttl: files.read('ipv4/ip_default_ttl', 64),
    fwmarkReflect: files.read('ipv4/fwmark_reflect', 0) !== 0,
    icmp: {
      ratelimit: files.read('ipv4/icmp_ratelimit', ICMP_DEFAULTS.ratelimit),
      ratemask: files.read('ipv4/icmp_ratemask', ICMP_DEFAULTS.ratemask),
      msgsPerSec: files.read('ipv4/icmp_msgs_per_sec', ICMP_DEFAULTS.msgsPerSec),
      msgsBurst: files.read('ipv4/icmp_msgs_burst', ICMP_DEFAULTS.msgsBurst),
    },
  };
}

interface NetState {
  path?: string;
  /** When `path` was last seen to lead to the namespace. */
  checked: number;
  /** addressType answers of the last second: floods ask about the same few addresses. */
  readonly types: Map<string, { readonly type: AddressType; readonly at: number }>;
  readonly limiter: IcmpRateLimiter;
  readonly sysctls: SysctlFiles;
}

/** How long a namespace path or a route answer is trusted without asking the kernel again. */
const TRUST_MS = 1000;

/**
 * init_net's cookie: pid 1's namespace, or, where that is out of reach (a sandbox), the
 * helper's own, which is init_net wherever the helper runs as the system's.
 */
function initNetCookie(): string {
  try {
    return String(cookieOf('/proc/1/ns/net'));
  } catch {
    return String(cookieOf('/proc/thread-self/ns/net'));
  }
}

const dotted = (b: Buffer, at: number): string => [...b.subarray(at, at + 4)].join('.');

/**
 * Marks the packets of socket `cookie` in `netns` as replies with `ctinfo` and the rejected
 * packet's conntrack entry image (0n: none).
 */
export type ReplyTagger = (netns: string, cookie: bigint, ctinfo: number, ct?: Buffer) => void;

const IP_CT_RELATED = 1;
const IP_CT_IS_REPLY = 3;

export class EventHandler {
  private readonly nets = new Map<string, NetState>();
  private readonly counts = new Map<string, { received: number; failed: number }>();
  private readonly initNet: string;
  /** The helper's own namespace's (init_net's) sysctls. */
  private readonly own = new SysctlFiles();

  constructor(
    private readonly log: Logger,
    private readonly sink: LogSink,
    private readonly tagReply: ReplyTagger = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.initNet = initNetCookie();
  }

  handle(netns: NetnsRef, record: Buffer): void {
    const c = this.count(netns.id);
    c.received++;
    try {
      const ev = parseEvent(record);
      if (ev.kind === EventKind.LOG) this.logPacket(netns, ev);
      else if (ev.kind === EventKind.REJECT) this.reject(netns, ev);
    } catch (e) {
      c.failed++;
      throw e;
    }
  }

  private count(netns: string): { received: number; failed: number } {
    let c = this.counts.get(netns);
    if (!c) this.counts.set(netns, (c = { received: 0, failed: 0 }));
    return c;
  }

  /** Events of `netns` handled so far and those that could not be acted on. */
  counted(netns: string): EventCounts | undefined {
    const c = this.counts.get(netns);
    return c ? { ...c } : undefined;
  }

  /** nf_log_allowed: the kernel logs other namespaces only with nf_log_all_netns set. */
  private allowed(netns: NetnsRef): boolean {
    if (netns.id === this.initNet) return true;
    return this.own.read('netfilter/nf_log_all_netns', 0) !== 0;
  }

  private logPacket(netns: NetnsRef, ev: Event): void {
    if (!this.allowed(netns)) return;
    const v = LOG.decode(ev.info, 0);
    const line = logLine(v, {
      in: ev.in?.name,
      out: ev.out?.name,
      mac: ev.mac,
      devType: ev.devType,
      mark: ev.mark,
      skbLen: ev.skbLen,
      packet: ev.packet,
      owner: ev.owner,
    });
    this.sink.write(v.level, line);
  }

  private state(netns: NetnsRef): NetState {
    let st = this.nets.get(netns.id);
    if (!st) {
      st = {
        checked: -Infinity,
        types: new Map(),
        limiter: new IcmpRateLimiter(),
        sysctls: new SysctlFiles(),
      };
      this.nets.set(netns.id, st);
    }
    return st;
  }

  private reject(netns: NetnsRef, ev: Event): void {
    if (ev.packet.length < 20) return;
    const st = this.state(netns);
    const t = this.now();
    let path = st.path;
    if (path === undefined || t - st.checked > TRUST_MS) {
      path = findNetns(netns.id, st.path ?? netns.path);
      if (path === undefined) {
        st.sysctls.close();
        this.nets.delete(netns.id);
        return;
      }
      st.path = path;
      st.checked = t;
    }
    const typeOf = (addr: string): AddressType => {
      const known = st.types.get(addr);
      if (known && t - known.at <= TRUST_MS) return known.type;
      if (st.types.size > 1024) st.types.clear();
      const type = addressType(addr);
      st.types.set(addr, { type, at: t });
      return type;
    };
    const v = REJECT.decode(ev.info, 0);
    try {
      inNetns(path, () => {
        const now = this.now();
        // Read each time: the kernel applies a changed limit to the very next packet.
        const sys = netSysctls(st.sysctls);
        const dst = typeOf(dotted(ev.packet, 16));
        const reply = rejectReply(v, {
          packet: ev.packet,
          skbLen: ev.skbLen,
          hook: ev.hook,
          ipSummed: ev.ipSummed,
          pktType: ev.pktType,
          local: ev.hook === NF_INET_LOCAL_IN || (ev.hook === NF_INET_LOCAL_OUT && dst === 'local'),
          // ip_route_input_slow takes 0.0.0.0 → 0.0.0.0 for a limited broadcast.
          broadcast:
            dst === 'broadcast' ||
            dst === 'multicast' ||
            (ev.hook !== NF_INET_LOCAL_OUT &&
              ev.packet.readUInt32BE(12) === 0 &&
              ev.packet.readUInt32BE(16) === 0),
          ttl: sys.ttl,
          icmpSocket: ev.icmpSocket,
        });
        if (!reply) return;
        if (reply.kind === 'icmp') {
          const loopback = typeOf(reply.to) === 'local';
          const code = reply.packet[21] as number;
          if (!st.limiter.allow(sys.icmp, 3, code, reply.to, loopback, now)) return;
        }
        const fd = rawSocket();
        // nf_ct_attach: the kernel's reply carries the rejected packet's entry, RELATED in the
        // other direction (nf_conntrack_attach); OUTPUT sees ours so while its socket is tagged.
        // Tagged even without an entry: OUTPUT must know the packet is not the helper's own (LOG
        // --log-uid shows no owner for the kernel's replies).
        const related = ev.ctset
          ? IP_CT_RELATED + (ev.ctinfo < IP_CT_IS_REPLY ? IP_CT_IS_REPLY : 0)
          : REPLY_NO_CTINFO;
        try {
          // IP4_REPLY_MARK: the reply carries the packet's mark only with fwmark_reflect.
          if (sys.fwmarkReflect && ev.mark !== 0) setMark(fd, ev.mark);
          this.tagReply(netns.id, socketCookie(fd), related, ev.ctImage);
          sendPacket(fd, reply.packet, reply.to);
        } finally {
          this.tagReply(netns.id, 0n, 0);
          closeFd(fd);
        }
      });
    } catch (e) {
      this.count(netns.id).failed++;
      this.log({ event: 'reject-reply-failed', netns: netns.id, error: String(e) });
    }
  }
}

/** What a BPF backend needs to act on its events: a handler whose replies it can tag. */
export interface EventWiring {
  readonly onEvent: (netns: NetnsRef, record: Buffer) => void;
  readonly onEventError: (e: unknown) => void;
  /** Gives the handler the backend's tagReply once the backend exists. */
  connect(tag: ReplyTagger): void;
  /** What the handler did with `netns`'s events so far. */
  counts(netns: string): EventCounts | undefined;
}

/** LOG lines to `logFile` (or /dev/kmsg) and REJECT replies, for a backend built next. */
export function eventWiring(log: Logger, logFile?: string): EventWiring {
  let tag: ReplyTagger = () => undefined;
  const handler = new EventHandler(
    log,
    logFile !== undefined ? new FileSink(logFile) : new KmsgSink(),
    (...a) => tag(...a),
  );
  return {
    onEvent: (netns, record) => handler.handle(netns, record),
    onEventError: (e) => log({ event: 'event-error', error: String(e) }),
    connect: (t) => {
      tag = t;
    },
    counts: (netns) => handler.counted(netns),
  };
}
