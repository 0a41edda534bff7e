// Thin typed bindings to the libc calls the helper needs, with errno surfaced as SysError.
// Calls are synchronous on the JS thread, so a setns() here switches the namespace of exactly the
// thread that issues the following bpf(2)/socket calls.
import ffi from '@2060.io/ffi-napi';
import ref from '@2060.io/ref-napi';
import { errnoName } from '../translate/errno.js';
import type { WallClock } from '../translate/ext/types.js';

export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoName(errno)}`);
    this.name = 'SysError';
  }
}

const libc = ffi.Library(null, {
  syscall: ['long', ['long', 'int', 'pointer', 'uint32']],
  process_vm_readv: ['long', ['int', 'pointer', 'ulong', 'pointer', 'ulong', 'ulong']],
  process_vm_writev: ['long', ['int', 'pointer', 'ulong', 'pointer', 'ulong', 'ulong']],
  setns: ['int', ['int', 'int']],
  getsockopt: ['int', ['int', 'int', 'int', 'pointer', 'pointer']],
  socket: ['int', ['int', 'int', 'int']],
  close: ['int', ['int']],
  bind: ['int', ['int', 'pointer', 'uint32']],
  connect: ['int', ['int', 'pointer', 'uint32']],
  sendto: ['long', ['int', 'pointer', 'ulong', 'int', 'pointer', 'uint32']],
  setsockopt: ['int', ['int', 'int', 'int', 'pointer', 'uint32']],
  mmap: ['pointer', ['pointer', 'size_t', 'int', 'int', 'int', 'long']],
  munmap: ['int', ['pointer', 'size_t']],
  clock_gettime: ['int', ['int', 'pointer']],
  gettimeofday: ['int', ['pointer', 'pointer']],
});

/**
 * Calls made on libuv's thread pool: membarrier(2), which waits for a grace period, and
 * process_vm_readv of a big table.
 */
const blocking = ffi.Library(null, {
  syscall: ['long', ['long', 'int', 'int']],
  process_vm_readv: ['long', ['int', 'pointer', 'ulong', 'pointer', 'ulong', 'ulong']],
});

export const SYS_bpf = 321;
export const CLONE_NEWNET = 0x40000000;

function check(call: string, ret: number): number {
  if (ret < 0) throw new SysError(call, ffi.errno());
  return ret;
}

/** bpf(2): `attr` is the union bpf_attr laid out by the caller. Returns the syscall's result. */
export function bpfSyscall(cmd: number, attr: Buffer): number {
  return check(`bpf(cmd ${cmd})`, Number(libc.syscall(SYS_bpf, cmd, attr, attr.length)));
}

/** Raw pointer of a Buffer as a bigint (for iovecs and bpf_attr pointer fields). */
export function addressOf(buf: Buffer): bigint {
  return BigInt((buf as unknown as { address(): number }).address());
}

function iovec(base: bigint, len: number): Buffer {
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(base, 0);
  iov.writeBigUInt64LE(BigInt(len), 8);
  return iov;
}

/** Reads `len` bytes at `addr` in process `pid`. A short read is EFAULT, as copy_from_user. */
export function processVmRead(pid: number, addr: bigint, len: number): Buffer {
  const local = Buffer.alloc(len);
  if (len === 0) return local;
  const n = check(
    'process_vm_readv',
    Number(libc.process_vm_readv(pid, iovec(addressOf(local), len), 1, iovec(addr, len), 1, 0)),
  );
  if (n !== len) throw new SysError('process_vm_readv', 14);
  return local;
}

/**
 * processVmRead on libuv's thread pool, for reads worth a millisecond or more of the event loop
 * (a 100k-rule table is 20 MiB). errno does not survive the trip back from the pool: a failed or
 * short read is made again here, where it is.
 */
export function processVmReadAsync(pid: number, addr: bigint, len: number): Promise<Buffer> {
  const local = Buffer.alloc(len);
  if (len === 0) return Promise.resolve(local);
  const local_iov = iovec(addressOf(local), len);
  const remote_iov = iovec(addr, len);
  return new Promise((resolve, reject) => {
    blocking.process_vm_readv.async(
      pid,
      local_iov,
      1,
      remote_iov,
      1,
      0,
      (err: unknown, r: string | number) => {
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else if (Number(r) === len) resolve(local);
        else {
          try {
            resolve(processVmRead(pid, addr, len));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        }
      },
    );
  });
}

/** Writes `data` at `addr` in process `pid`. A short write is EFAULT, as copy_to_user. */
export function processVmWrite(pid: number, addr: bigint, data: Buffer): void {
  if (data.length === 0) return;
  const n = check(
    'process_vm_writev',
    Number(
      libc.process_vm_writev(
        pid,
        iovec(addressOf(data), data.length),
        1,
        iovec(addr, data.length),
        1,
        0,
      ),
    ),
  );
  if (n !== data.length) throw new SysError('process_vm_writev', 14);
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;

/** A shared read-write mapping of `len` bytes of `fd` (a BPF_F_MMAPABLE map), as a Buffer. */
export interface Mapping {
  readonly bytes: Buffer;
  unmap(): void;
}

export function mmapShared(fd: number, len: number): Mapping {
  const p = libc.mmap(ref.NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  // MAP_FAILED is (void *)-1.
  if (ref.address(p) === -1 || ref.isNull(p)) throw new SysError('mmap', ffi.errno());
  const bytes = ref.reinterpret(p, len, 0);
  let mapped = true;
  return {
    bytes,
    unmap(): void {
      if (!mapped) return;
      mapped = false;
      libc.munmap(p, len);
    },
  };
}

const SYS_membarrier = 324;
const MEMBARRIER_CMD_GLOBAL = 1;

/**
 * membarrier(MEMBARRIER_CMD_GLOBAL): returns once every CPU has passed an RCU grace period, so
 * every BPF program that started before the call has ended (netfilter runs them under RCU). Runs
 * on libuv's thread pool: a grace period takes milliseconds.
 */
export function graceAsync(): Promise<void> {
  return new Promise((resolve, reject) => {
    blocking.syscall.async(
      SYS_membarrier,
      MEMBARRIER_CMD_GLOBAL,
      0,
      (err: unknown, r: string | number) => {
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else if (Number(r) < 0) reject(new SysError('membarrier', ffi.errno()));
        else resolve();
      },
    );
  });
}

const CLOCK_REALTIME = 0;
const CLOCK_TAI = 11;

function clockNs(id: number): bigint {
  const ts = Buffer.alloc(16);
  check('clock_gettime', libc.clock_gettime(id, ts));
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

/** How the kernel's wall clock and time zone relate to CLOCK_TAI, now. */
export function wallClock(): WallClock {
  const real = clockNs(CLOCK_REALTIME);
  const tai = clockNs(CLOCK_TAI);
  const tv = Buffer.alloc(16);
  const tz = Buffer.alloc(8);
  check(
    'gettimeofday',
    libc.gettimeofday(tv as unknown as Parameters<typeof libc.gettimeofday>[0], tz),
  );
  // The offset is whole seconds; the two reads are apart by nanoseconds.
  return { realMinusTai: Math.round(Number(real - tai) / 1e9), minutesWest: tz.readInt32LE(0) };
}

/** setns(2) on the calling thread. */
export function setns(fd: number, nstype: number): void {
  check('setns', libc.setns(fd, nstype));
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
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12, 0);
  check('getsockopt(SO_PEERCRED)', libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, len));
  return { pid: ucred.readInt32LE(0), uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
}

const SO_NETNS_COOKIE = 71;

/** SO_NETNS_COOKIE of a socket made in the calling thread's network namespace. */
export function netnsCookie(): bigint {
  const fd = check('socket', libc.socket(2, 2, 0));
  try {
    const v = Buffer.alloc(8);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(8, 0);
    check('getsockopt(SO_NETNS_COOKIE)', libc.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, v, len));
    return v.readBigUInt64LE(0);
  } finally {
    libc.close(fd);
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
  const fd = check('socket(SOCK_RAW)', libc.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  // The kernel's own replies go to broadcast sources too (nothing checks the reply's route).
  const on = Buffer.alloc(4);
  on.writeUInt32LE(1, 0);
  if (libc.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, on, 4) < 0) {
    const errno = ffi.errno();
    libc.close(fd);
    throw new SysError('setsockopt(SO_BROADCAST)', errno);
  }
  return fd;
}

/** sendto(2) of one IP packet on a raw socket. */
export function sendPacket(fd: number, packet: Buffer, to: string): void {
  const sa = sockaddrIn(to);
  check('sendto', Number(libc.sendto(fd, packet, packet.length, 0, sa, sa.length)));
}

const SO_COOKIE = 57;

/** SO_COOKIE: the socket's cookie (what BPF sees as its sk's skc_cookie). */
export function socketCookie(fd: number): bigint {
  const v = Buffer.alloc(8);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(8, 0);
  check('getsockopt(SO_COOKIE)', libc.getsockopt(fd, SOL_SOCKET, SO_COOKIE, v, len));
  return v.readBigUInt64LE(0);
}

/** SO_MARK: the mark the socket's packets carry. */
export function setMark(fd: number, mark: number): void {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(mark >>> 0, 0);
  check('setsockopt(SO_MARK)', libc.setsockopt(fd, SOL_SOCKET, SO_MARK, v, 4));
}

export function closeFd(fd: number): void {
  libc.close(fd);
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
    const fd = check('socket(SOCK_DGRAM)', libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    try {
      const r = op(fd);
      return [r, r < 0 ? ffi.errno() : 0];
    } finally {
      libc.close(fd);
    }
  };
  const port = Buffer.from(sa);
  port.writeUInt16BE(9, 2);
  const [c, errno] = probe((fd) => libc.connect(fd, port, port.length));
  if (c < 0 && errno === EACCES) return 'broadcast';
  const [b] = probe((fd) => libc.bind(fd, sa, sa.length));
  return b === 0 ? 'local' : 'unicast';
}
