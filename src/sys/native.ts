// The helper's own Node-API addon (native/sys.c → native/build/sys.node): its system calls and
// libbpf's. Every call returns its result (>= 0) or -errno; callers turn that into SysError.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Bytes = Uint8Array;
type Done = (r: number) => void;

export interface SysAddon {
  addressOf(buf: Bytes): bigint;
  bpf(cmd: number, attr: Bytes): number;
  processVmReadv(pid: number, remote: bigint, local: Bytes): number;
  processVmWritev(pid: number, remote: bigint, data: Bytes): number;
  processVmReadvAsync(pid: number, remote: bigint, local: Bytes, done: Done): void;
  membarrierAsync(done: Done): void;
  /** `events` holds 12-byte struct epoll_event records; as many as fit are waited for. */
  epollWaitAsync(epfd: number, events: Bytes, timeoutMs: number, done: Done): void;
  /** `path`.tmp written with `data` (created with `mode`) and renamed over `path`, on the pool. */
  writeFileAtomicAsync(path: string, data: Bytes, mode: number, done: Done): void;
  setns(fd: number, nstype: number): number;
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): number;
  /** The option's length as the kernel wrote it. */
  getsockopt(fd: number, level: number, name: number, value: Bytes): number;
  setsockopt(fd: number, level: number, name: number, value: Bytes): number;
  bind(fd: number, sockaddr: Bytes): number;
  connect(fd: number, sockaddr: Bytes): number;
  sendto(fd: number, data: Bytes, flags: number, to: Bytes | null): number;
  recv(fd: number, buf: Bytes, flags: number): number;
  epollCreate1(flags: number): number;
  epollCtl(epfd: number, op: number, fd: number, event: Bytes | null): number;
  /** Nanoseconds, or -errno as a number. */
  clockGettime(id: number): bigint | number;
  timezoneMinutesWest(): number;
  /** A MAP_SHARED mapping, or -errno; munmap detaches it. */
  mmap(fd: number, len: number, prot: number, offset: number): ArrayBuffer | number;
  pageSize(): number;
  /** malloc_trim(0): 1 when memory went back to the system. */
  mallocTrim(): number;
  munmap(mapping: ArrayBuffer): number;
  /** libbpf's calls, with the opts structs src/bpf/libbpf.ts lays out; license GPL. */
  progLoad(type: number, name: string, insns: Bytes, opts: Bytes): number;
  progLoadAsync(type: number, name: string, insns: Bytes, opts: Bytes, done: Done): void;
  mapCreate(
    type: number,
    name: string,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: Bytes,
  ): number;
  btfLoad(blob: Bytes, opts: Bytes): number;
  objPin(fd: number, path: string): number;
  objGet(path: string): number;
  progTestRun(fd: number, opts: Bytes): number;
  mapLookup(fd: number, key: Bytes | null, value: Bytes, flags: number): number;
  mapUpdate(fd: number, key: Bytes | null, value: Bytes, flags: number): number;
  mapDelete(fd: number, key: Bytes): number;
  mapNextKey(fd: number, key: Bytes | null, next: Bytes): number;
  mapLookupBatch(
    fd: number,
    inBatch: Bytes | null,
    outBatch: Bytes,
    keys: Bytes,
    values: Bytes,
    count: Bytes,
  ): number;
}

// Built as native/build/sys.node at the tree's root: three levels above dist/src/sys/ (and an
// installed helper's lib/dist/src/sys/, see src/install/install.ts), two above src/sys/ (tests).
const dir = dirname(fileURLToPath(import.meta.url));
const candidates = [join(dir, '..', '..', '..'), join(dir, '..', '..')].map((r) =>
  join(r, 'native', 'build', 'sys.node'),
);

function load(): SysAddon {
  const path = candidates.find(existsSync);
  if (path === undefined) throw new Error(`no native/build/sys.node (run make): ${candidates[0]}`);
  return createRequire(import.meta.url)(path) as SysAddon;
}

export const sys: SysAddon = load();
