// The BPF operations the helper uses: through libbpf where libbpf 1.1 has them (libbpf.ts), by
// bpf(2) with bpf_attr laid out by hand where it does not (netfilter links, object info).
// Errors carry the errno and, for program and BTF loads, the kernel's log.
import { closeSync, readFileSync } from 'node:fs';
import { addressOf, bpfSyscall, SysError } from '../sys/libc.js';
import * as libbpf from './libbpf.js';

const PROG_GET_FD_BY_ID = 13;
const MAP_GET_FD_BY_ID = 14;
const OBJ_GET_INFO_BY_FD = 15;
const LINK_CREATE = 28;

export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERCPU_ARRAY: 6,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  RINGBUF: 27,
} as const;

/** BPF_F_NO_PREALLOC: elements allocated as they are inserted (required for LPM tries). */
export const MAP_F_NO_PREALLOC = 1;
/** BPF_F_LOCK: a lookup or update copies the value under its bpf_spin_lock. */
export const BPF_F_LOCK = 4;

/** BPF_F_MMAPABLE: an array user space maps and writes directly. */
export const MAP_F_MMAPABLE = 1 << 10;

export class BpfError extends Error {
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly log = '',
  ) {
    super(`${op}: errno ${errno}${log ? `\n${log}` : ''}`);
    this.name = 'BpfError';
  }
}

function call(op: string, cmd: number, attr: Buffer): number {
  try {
    return bpfSyscall(cmd, attr);
  } catch (e) {
    if (e instanceof SysError) throw new BpfError(op, e.errno);
    throw e;
  }
}

/** A libbpf result: the fd or value, or -errno turned into BpfError. */
function ok(op: string, r: number, log?: Buffer): number {
  if (r < 0) throw new BpfError(op, -r, log ? cstr(log) : '');
  return r;
}

/** The C string at the start of `b` (a verifier log: a megabyte buffer, a few bytes used). */
const cstr = (b: Buffer): string => {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul === -1 ? b.length : nul);
};

export interface MapSpec {
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly name: string;
  /** BTF describing key and value, required for values holding a bpf_spin_lock. */
  readonly btf?: { readonly fd: number; readonly keyTypeId: number; readonly valueTypeId: number };
  /** BPF_F_* map flags. */
  readonly flags?: number;
}

export function mapCreate(spec: MapSpec): number {
  const name = spec.name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
  return ok(
    `map_create ${name}`,
    libbpf.mapCreate(
      spec.type,
      name,
      spec.keySize,
      spec.valueSize,
      spec.maxEntries,
      spec.btf,
      spec.flags ?? 0,
    ),
  );
}

export function mapLookup(fd: number, key: Buffer, valueSize: number): Buffer {
  const value = Buffer.alloc(valueSize);
  ok('map_lookup_elem', libbpf.mapLookup(fd, key, value));
  return value;
}

export function mapDelete(fd: number, key: Buffer): void {
  ok('map_delete_elem', libbpf.mapDelete(fd, key));
}

/**
 * The values of an array map's u32 keys start..start+n-1, in key order, in as few calls as it
 * takes (the batch cursor is the key before the first one returned).
 */
export function mapValues(fd: number, n: number, valueSize: number, start = 0): Buffer {
  const out = Buffer.alloc(n * valueSize);
  const chunk = Math.min(Math.max(n, 1), 4096);
  const keys = Buffer.alloc(4 * chunk);
  const values = Buffer.alloc(valueSize * chunk);
  let cursor: Buffer | null = start === 0 ? null : u32(start - 1);
  for (let got = 0; got < n;) {
    const [r, count, next] = libbpf.mapLookupBatch(
      fd,
      cursor,
      4,
      Math.min(chunk, n - got),
      keys,
      values,
    );
    if (r < 0 && r !== -2) throw new BpfError('map_lookup_batch', -r);
    for (let k = 0; k < count; k++) {
      const key = keys.readUInt32LE(4 * k) - start;
      if (key >= 0 && key < n)
        values.copy(out, key * valueSize, k * valueSize, (k + 1) * valueSize);
    }
    got += count;
    if (r === -2 || count === 0) break;
    cursor = next;
  }
  return out;
}

export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags = 0): void {
  ok('map_update_elem', libbpf.mapUpdate(fd, key, value, flags));
}

/** A lookup with BPF_F_* flags (BPF_F_LOCK: a copy taken under the value's spin lock). */
export function mapLookupLocked(fd: number, key: Buffer, valueSize: number): Buffer {
  const value = Buffer.alloc(valueSize);
  ok('map_lookup_elem', libbpf.mapLookupFlags(fd, key, value, BPF_F_LOCK));
  return value;
}

/** Every key of a map (hash, LPM trie), as get_next_key walks them. */
export function mapKeys(fd: number, keySize: number): Buffer[] {
  const out: Buffer[] = [];
  let prev: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(keySize);
    if (libbpf.mapNextKey(fd, prev, next) < 0) return out;
    out.push(next);
    prev = next;
  }
}

export const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

let cpus: number | undefined;
/** Possible CPUs: the stride of per-CPU map values. */
export function possibleCpus(): number {
  cpus ??= readFileSync('/sys/devices/system/cpu/possible', 'utf8')
    .trim()
    .split(',')
    .reduce((n, r) => {
      const [a = 0, b = a] = r.split('-').map(Number);
      return n + b - a + 1;
    }, 0);
  return cpus;
}

export function btfLoad(blob: Buffer): number {
  const log = Buffer.alloc(65536);
  return ok('btf_load', libbpf.btfLoad(blob, log), log);
}

export interface ProgSpec {
  readonly type: number;
  readonly expectedAttachType: number;
  readonly name: string;
  readonly insns: Buffer;
  readonly btf?: { readonly fd: number; readonly funcInfo: Buffer };
}

/** Loads a program; a verifier rejection throws BpfError with the whole log. */
export function progLoad(spec: ProgSpec): number {
  return progLoadVerified(spec).fd;
}

export interface Verified {
  readonly fd: number;
  /** Instructions the verifier processed ("processed N insns"). */
  readonly processed: number;
}

/** progLoad, also reporting how much work the verifier did. */
export function progLoadVerified(spec: ProgSpec): Verified {
  const load = new Loading(spec);
  for (;;) {
    const done = load.after(libbpf.progLoad(load.args()));
    if (done) return done;
  }
}

/** progLoadVerified with the verifier's work on libuv's thread pool. */
export async function progLoadVerifiedAsync(spec: ProgSpec): Promise<Verified> {
  const load = new Loading(spec);
  for (;;) {
    const done = load.after(await libbpf.progLoadAsync(load.args()));
    if (done) return done;
  }
}

/**
 * BPF_LOG_STATS alone: the verifier still writes why it refuses a program and the "processed N
 * insns" line, but not the trace of every instruction and its register state that level 1 adds.
 * Writing that trace was three quarters of a load (an engine program: ~190 ms at level 1, ~50 at
 * 4). `bpftool prog load` shows the trace when one is wanted.
 */
const LOG_LEVEL = 4;

/** One program load's attempts: the log grows until the verdict fits, a signal means again. */
class Loading {
  private readonly name: string;
  private logSize = 1 << 20;
  private tries = 0;
  private log = Buffer.alloc(0);

  constructor(private readonly spec: ProgSpec) {
    this.name = spec.name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
  }

  args(): libbpf.ProgLoadArgs {
    this.log = Buffer.alloc(this.logSize);
    return { ...this.spec, name: this.name, log: this.log, logLevel: LOG_LEVEL };
  }

  /** The loaded program, or undefined to try again; throws what the kernel refused. */
  after(r: number): Verified | undefined {
    // ENOSPC: the log did not fit; the verifier's verdict is only known with the whole log.
    if (r === -28 && this.logSize < 1 << 28) {
      this.logSize *= 4;
      return undefined;
    }
    // EAGAIN: a signal reached the thread while the verifier ran (it gives up then); again.
    if (r === -11 && ++this.tries < 20) return undefined;
    const fd = ok(`prog_load ${this.name}`, r, this.log);
    const m = /processed (\d+) insns/.exec(cstr(this.log));
    return { fd, processed: m ? Number(m[1]) : 0 };
  }
}

export function objPin(fd: number, path: string): void {
  ok(`obj_pin ${path}`, libbpf.objPin(fd, path));
}

export function objGet(path: string): number {
  return ok(`obj_get ${path}`, libbpf.objGet(path));
}

/** BPF_LINK_CREATE for a netfilter program: the link attaches in the caller's netns. */
export function linkCreateNetfilter(
  progFd: number,
  pf: number,
  hook: number,
  priority: number,
): number {
  const attr = Buffer.alloc(64);
  attr.writeUInt32LE(progFd, 0);
  attr.writeUInt32LE(0, 4);
  attr.writeUInt32LE(45, 8); // BPF_NETFILTER
  attr.writeUInt32LE(0, 12);
  attr.writeUInt32LE(pf, 16);
  attr.writeUInt32LE(hook, 20);
  attr.writeInt32LE(priority, 24);
  attr.writeUInt32LE(0, 28);
  return call(`link_create netfilter hook ${hook}`, LINK_CREATE, attr);
}

/**
 * BPF_OBJ_GET_INFO_BY_FD: struct bpf_prog_info, bpf_map_info or bpf_link_info, by the fd's kind.
 * `info` may carry input fields (a program's map_ids buffer).
 */
export function objInfo(fd: number, info: Buffer = Buffer.alloc(256)): Buffer {
  const attr = Buffer.alloc(16);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(info.length, 4);
  attr.writeBigUInt64LE(addressOf(info), 8);
  call('obj_get_info_by_fd', OBJ_GET_INFO_BY_FD, attr);
  return info;
}

/** The id of a program, map or link fd (`id` follows `type` in all three infos). */
export function objId(fd: number): number {
  return objInfo(fd).readUInt32LE(4);
}

/** struct bpf_map_info's sizes of a map fd. */
export function mapInfo(fd: number): { keySize: number; valueSize: number; maxEntries: number } {
  const info = objInfo(fd);
  return {
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
  };
}

/** A new fd for the program or map with `id` (BPF_PROG_GET_FD_BY_ID / BPF_MAP_GET_FD_BY_ID). */
export function fdById(kind: 'prog' | 'map', id: number): number {
  const attr = Buffer.alloc(12);
  attr.writeUInt32LE(id, 0);
  return call(
    `${kind}_get_fd_by_id ${id}`,
    kind === 'prog' ? PROG_GET_FD_BY_ID : MAP_GET_FD_BY_ID,
    attr,
  );
}

/** The ids of the maps program `fd` uses (bpf_prog_info nr_map_ids at 52, map_ids at 56). */
export function progMapIds(fd: number): number[] {
  const n = objInfo(fd).readUInt32LE(52);
  const ids = Buffer.alloc(4 * n);
  const info = Buffer.alloc(256);
  info.writeUInt32LE(n, 52);
  info.writeBigUInt64LE(addressOf(ids), 56);
  objInfo(fd, info);
  return Array.from({ length: n }, (_, i) => ids.readUInt32LE(4 * i));
}

/** BPF_PROG_TEST_RUN once; returns the program's return value. */
export function testRun(fd: number, data: Buffer, ctx?: Buffer): number {
  const [r, retval] = libbpf.testRun(fd, data, ctx);
  ok('prog_test_run', r);
  return retval;
}

/** BPF_PROG_TEST_RUN `repeat` times in the kernel; the verdict and the mean ns per run. */
export function testRunTimed(
  fd: number,
  data: Buffer,
  repeat: number,
  ctx?: Buffer,
): { retval: number; ns: number } {
  const [r, retval, ns] = libbpf.testRun(fd, data, ctx, repeat);
  ok('prog_test_run', r);
  return { retval, ns };
}

export function close(fd: number): void {
  closeSync(fd);
}
