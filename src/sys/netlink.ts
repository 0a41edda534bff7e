// Netlink sockets from Node: a socket opened inside a network namespace stays in it, dumps are
// read synchronously (the kernel builds each reply part as it is read), and subscriptions are
// watched by one epoll set whose epoll_wait runs in libuv's thread pool, so the event loop never
// blocks. Messages come back to the JS thread as buffers.
import { check, SysError } from './libc.js';
import { sys } from './native.js';
import { inNetns } from './netns.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const EPOLLIN = 1;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
export const NLM_F_REQUEST = 1;
export const NLM_F_DUMP = 0x300;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_HDRLEN = 16;

/** One netlink message: its type and flags and the bytes after its header. */
export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

/** The messages in one datagram. */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  for (let at = 0; at + NLMSG_HDRLEN <= buf.length;) {
    const len = buf.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(at + 4),
      flags: buf.readUInt16LE(at + 6),
      body: buf.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += (len + 3) & ~3;
  }
  return out;
}

/** Attributes (struct nlattr) from `at` to the end of `buf`: type → payload, first wins. */
export function parseAttrs(buf: Buffer, at = 0): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  while (at + 4 <= buf.length) {
    const len = buf.readUInt16LE(at);
    const type = buf.readUInt16LE(at + 2) & 0x3fff;
    if (len < 4 || at + len > buf.length) break;
    if (!out.has(type)) out.set(type, buf.subarray(at + 4, at + len));
    at += (len + 3) & ~3;
  }
  return out;
}

/**
 * A netlink socket of `protocol` in the namespace at `netnsPath` (the calling thread's when
 * undefined), bound to the legacy multicast `groups` bit mask (0: none).
 */
export function netlinkSocket(protocol: number, groups = 0, netnsPath?: string): number {
  const open = (): number => {
    const fd = check(
      'socket(AF_NETLINK)',
      sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol),
    );
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    sa.writeUInt32LE(groups >>> 0, 8);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(1 << 20, 0);
    sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size);
    const r = sys.bind(fd, sa);
    if (r < 0) {
      sys.close(fd);
      throw new SysError('bind(AF_NETLINK)', -r);
    }
    return fd;
  };
  return netnsPath === undefined ? open() : inNetns(netnsPath, open);
}

export function closeSocket(fd: number): void {
  sys.close(fd);
}

let seq = 1;

/**
 * Sends a dump request (`type`, NLM_F_REQUEST | NLM_F_DUMP, then `body`) and returns every
 * message of the answer up to NLMSG_DONE. An NLMSG_ERROR answer throws.
 */
export function dump(fd: number, type: number, body: Buffer): NlMessage[] {
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  hdr.writeUInt32LE(seq++, 8);
  const req = Buffer.concat([hdr, body]);
  check('send(netlink)', sys.sendto(fd, req, 0, null));
  const out: NlMessage[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = check('recv(netlink)', sys.recv(fd, buf, 0));
    for (const m of parseMessages(buf.subarray(0, n))) {
      if (m.type === NLMSG_DONE) return out;
      if (m.type === NLMSG_ERROR) {
        const err = m.body.readInt32LE(0);
        if (err !== 0) throw new SysError(`netlink dump ${type}`, -err);
        return out;
      }
      out.push({ ...m, body: Buffer.from(m.body) });
    }
  }
}

/** What is waiting on a socket now (without blocking): its messages; [] when nothing. */
function drainSocket(fd: number, buf: Buffer): NlMessage[] | 'overrun' {
  const out: NlMessage[] = [];
  for (;;) {
    const n = sys.recv(fd, buf, MSG_DONTWAIT);
    if (n < 0) {
      if (-n === EAGAIN) return out;
      // ENOBUFS: the kernel dropped notifications; the caller must look at everything again.
      return 'overrun';
    }
    out.push(
      ...parseMessages(buf.subarray(0, n)).map((m) => ({ ...m, body: Buffer.from(m.body) })),
    );
  }
}

/** How long one wait in the thread pool lasts before it looks at `closed` again. */
const WAIT_MS = 200;

/**
 * Subscribed netlink sockets, each with a handler that gets the messages that arrived (or
 * 'overrun' when the kernel dropped some).
 */
export class NetlinkWatcher {
  private readonly epfd = check('epoll_create1', sys.epollCreate1(0o2000000));
  private readonly handlers = new Map<number, (m: NlMessage[] | 'overrun') => void>();
  private readonly events = Buffer.alloc(12 * 16);
  private readonly buf = Buffer.alloc(1 << 16);
  private waiting = false;
  private closed = false;

  constructor(private readonly onError: (e: unknown) => void) {}

  add(fd: number, handler: (m: NlMessage[] | 'overrun') => void): void {
    const ev = Buffer.alloc(12);
    ev.writeUInt32LE(EPOLLIN, 0);
    ev.writeUInt32LE(fd, 4);
    check('epoll_ctl', sys.epollCtl(this.epfd, EPOLL_CTL_ADD, fd, ev));
    this.handlers.set(fd, handler);
    this.wait();
  }

  remove(fd: number): void {
    if (!this.handlers.delete(fd)) return;
    sys.epollCtl(this.epfd, EPOLL_CTL_DEL, fd, null);
  }

  /** Runs the handlers of every socket with messages waiting, now. */
  poll(): void {
    for (const [fd, handler] of [...this.handlers]) {
      const got = drainSocket(fd, this.buf);
      if (got === 'overrun' || got.length > 0) {
        try {
          handler(got);
        } catch (e) {
          this.onError(e);
        }
      }
    }
  }

  private wait(): void {
    if (this.waiting || this.closed || this.handlers.size === 0) return;
    this.waiting = true;
    sys.epollWaitAsync(this.epfd, this.events, WAIT_MS, (n) => {
      this.waiting = false;
      if (this.closed) {
        sys.close(this.epfd);
        return;
      }
      // EINTR: a signal reached the pool thread; the next wait looks again.
      if (n < 0 && -n !== EINTR) this.onError(new SysError('epoll_wait', -n));
      else if (n > 0) this.poll();
      this.wait();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.waiting) sys.close(this.epfd);
  }
}
