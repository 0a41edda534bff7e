// Typed wrappers over the helper's system calls (src/sys/native.ts), with errno surfaced as
// SysError. Calls are synchronous on the JS thread, so a setns() here switches the namespace of
// exactly the thread that issues the following bpf(2)/socket calls.
import { errnoName } from '../translate/errno.js';
import type { WallClock } from '../translate/ext/types.js';
import { sys } from './native.js';

export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoName(errno)}`);
    this.name = 'SysError';
  }
}

export const CLONE_NEWNET = 0x40000000;

/** A call's result, or SysError when it is -errno. */
export function check(call: string, ret: number): number {
  if (ret < 0) throw new SysError(call, -ret);
  return ret;
}

/** bpf(2): `attr` is the union bpf_attr laid out by the caller. Returns the syscall's result. */
export function bpfSyscall(cmd: number, attr: Buffer): number {
  return check(`bpf(cmd ${cmd})`, sys.bpf(cmd, attr));
}

/** Where a Buffer's bytes are, as a bigint (for bpf_attr pointer fields). */
export function addressOf(buf: Uint8Array): bigint {
  return sys.addressOf(buf);
}

const EFAULT = 14;

/** Reads `len` bytes at `addr` in process `pid`. A short read is EFAULT, as copy_from_user. */
export function processVmRead(pid: number, addr: bigint, len: number): Buffer {
  const local = Buffer.alloc(len);
  if (len === 0) return local;
  if (check('process_vm_readv', sys.processVmReadv(pid, addr, local)) !== len)
    throw new SysError('process_vm_readv', EFAULT);
  return local;
}

/**
 * processVmRead on libuv's thread pool, for reads worth a millisecond or more of the event loop
 * (a 100k-rule table is 20 MiB).
 */
export function processVmReadAsync(pid: number, addr: bigint, len: number): Promise<Buffer> {
  const local = Buffer.alloc(len);
  if (len === 0) return Promise.resolve(local);
  return new Promise((resolve, reject) => {
    sys.processVmReadvAsync(pid, addr, local, (r) => {
      if (r < 0) reject(new SysError('process_vm_readv', -r));
      else if (r !== len) reject(new SysError('process_vm_readv', EFAULT));
      else resolve(local);
    });
  });
}

/**
 * `data` in `path`.tmp, renamed over `path` (a reader sees the old file or the new one whole),
 * in one job on libuv's pool; a failed write leaves no partial file.
 */
export function writeFileAtomic(path: string, data: Uint8Array, mode = 0o600): Promise<void> {
  return new Promise((resolve, reject) => {
    sys.writeFileAtomicAsync(path, data, mode, (r) => {
      if (r < 0) reject(new SysError(`write ${path}`, -r));
      else resolve();
    });
  });
}

/** Writes `data` at `addr` in process `pid`. A short write is EFAULT, as copy_to_user. */
export function processVmWrite(pid: number, addr: bigint, data: Buffer): void {
  if (data.length === 0) return;
  if (check('process_vm_writev', sys.processVmWritev(pid, addr, data)) !== data.length)
    throw new SysError('process_vm_writev', EFAULT);
}

/** A shared read-write mapping of `len` bytes of `fd` (a BPF_F_MMAPABLE map), as a Buffer. */
export interface Mapping {
  readonly bytes: Buffer;
  unmap(): void;
}

export const PROT_READ = 1;
const PROT_WRITE = 2;

/** A MAP_SHARED mapping of `len` bytes of `fd` from `offset`, as an ArrayBuffer. */
export function mmap(fd: number, len: number, prot: number, offset = 0): ArrayBuffer {
  const ab = sys.mmap(fd, len, prot, offset);
  if (typeof ab === 'number') throw new SysError('mmap', -ab);
  return ab;
}

export const munmap = (mapping: ArrayBuffer): void => void sys.munmap(mapping);
export const pageSize = (): number => sys.pageSize();

export function mmapShared(fd: number, len: number): Mapping {
  const ab = mmap(fd, len, PROT_READ | PROT_WRITE);
  return {
    bytes: Buffer.from(ab),
    // Detaches the mapping's ArrayBuffer: a view kept past here reads no bytes, not freed memory.
    unmap: (): void => munmap(ab),
  };
}

/**
 * membarrier(MEMBARRIER_CMD_GLOBAL): returns once every CPU has passed an RCU grace period, so
 * every BPF program that started before the call has ended (netfilter runs them under RCU). Runs
 * on libuv's thread pool: a grace period takes milliseconds.
 */
export function graceAsync(): Promise<void> {
  return new Promise((resolve, reject) => {
    sys.membarrierAsync((r) => (r < 0 ? reject(new SysError('membarrier', -r)) : resolve()));
  });
}

const CLOCK_REALTIME = 0;
const CLOCK_TAI = 11;

function clockNs(id: number): bigint {
  const ns = sys.clockGettime(id);
  if (typeof ns === 'number') throw new SysError('clock_gettime', -ns);
  return ns;
}

/** How the kernel's wall clock and time zone relate to CLOCK_TAI, now. */
export function wallClock(): WallClock {
  const real = clockNs(CLOCK_REALTIME);
  const tai = clockNs(CLOCK_TAI);
  const minutesWest = check('gettimeofday', sys.timezoneMinutesWest());
  // The offset is whole seconds; the two reads are apart by nanoseconds.
  return { realMinusTai: Math.round(Number(real - tai) / 1e9), minutesWest };
}

/** setns(2) on the calling thread. */
export function setns(fd: number, nstype: number): void {
  check('setns', sys.setns(fd, nstype));
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** SO_PEERCRED of a connected unix socket: who connected (as of connect(2)). */
export function peerCred(fd: number): PeerCred {
  const ucred = Buffer.alloc(12);
  check('getsockopt(SO_PEERCRED)', sys.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred));
  return { pid: ucred.readInt32LE(0), uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
}

const SO_NETNS_COOKIE = 71;

/** SO_NETNS_COOKIE of a socket made in the calling thread's network namespace. */
export function netnsCookie(): bigint {
  const fd = check('socket', sys.socket(2, 2, 0));
  try {
    const v = Buffer.alloc(8);
    check('getsockopt(SO_NETNS_COOKIE)', sys.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, v));
    return v.readBigUInt64LE(0);
  } finally {
    sys.close(fd);
  }
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_RAW = 255;
const SO_MARK = 36;
const SO_BROADCAST = 6;

function sockaddrIn(addr: string): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  Buffer.from(addr.split('.').map(Number)).copy(sa, 4);
  return sa;
}

/**
 * A raw IPv4 socket (IPPROTO_RAW: the caller writes the IP header) in the calling thread's
 * network namespace; it stays in that namespace for its life.
 */
export function rawSocket(): number {
  const fd = check('socket(SOCK_RAW)', sys.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  // The kernel's own replies go to broadcast sources too (nothing checks the reply's route).
  const on = Buffer.alloc(4);
  on.writeUInt32LE(1, 0);
  const r = sys.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, on);
  if (r < 0) {
    sys.close(fd);
    throw new SysError('setsockopt(SO_BROADCAST)', -r);
  }
  return fd;
}

/** sendto(2) of one IP packet on a raw socket. */
export function sendPacket(fd: number, packet: Buffer, to: string): void {
  const sa = sockaddrIn(to);
  check('sendto', sys.sendto(fd, packet, 0, sa));
}

const SO_COOKIE = 57;

/** SO_COOKIE: the socket's cookie (what BPF sees as its sk's skc_cookie). */
export function socketCookie(fd: number): bigint {
  const v = Buffer.alloc(8);
  check('getsockopt(SO_COOKIE)', sys.getsockopt(fd, SOL_SOCKET, SO_COOKIE, v));
  return v.readBigUInt64LE(0);
}

/** SO_MARK: the mark the socket's packets carry. */
export function setMark(fd: number, mark: number): void {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(mark >>> 0, 0);
  check('setsockopt(SO_MARK)', sys.setsockopt(fd, SOL_SOCKET, SO_MARK, v));
}

export function closeFd(fd: number): void {
  sys.close(fd);
}

export type AddressType = 'local' | 'broadcast' | 'multicast' | 'unicast';

const EACCES = 13;

/**
 * How the calling thread's network namespace routes to `addr`, as the kernel's rt_flags tell
 * icmp_send and nf_send_reset: a UDP connect() to a broadcast address without SO_BROADCAST
 * fails with EACCES; bind() succeeds only for the namespace's own addresses (RTN_LOCAL).
 */
export function addressType(addr: string): AddressType {
  const first = Number(addr.split('.')[0]);
  if (first >= 224 && first < 240) return 'multicast';
  const sa = sockaddrIn(addr);
  const probe = (op: (fd: number) => number): [number, number] => {
    const fd = check('socket(SOCK_DGRAM)', sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    try {
      const r = op(fd);
      return [r, r < 0 ? -r : 0];
    } finally {
      sys.close(fd);
    }
  };
  const port = Buffer.from(sa);
  port.writeUInt16BE(9, 2);
  const [c, errno] = probe((fd) => sys.connect(fd, port));
  if (c < 0 && errno === EACCES) return 'broadcast';
  const [b] = probe((fd) => sys.bind(fd, sa));
  return b === 0 ? 'local' : 'unicast';
}
