// Debian's libbpf.so.1 (1.1), through the helper's addon (src/sys/native.ts), which links it;
// libbpf 1.x returns -errno. Its opts structs are laid out by hand below and checked against
// /usr/include/bpf/bpf.h by test/bpf-libbpf.test.ts. What 1.1 lacks (netfilter links) goes
// through bpf(2) in syscall.ts.
import { addressOf } from '../sys/libc.js';
import { sys } from '../sys/native.js';

/** Field offsets of the opts structs (x86-64), as bpf.h declares them. */
export const PROG_LOAD_OPTS = {
  size: 104,
  expected_attach_type: 12,
  prog_btf_fd: 16,
  func_info: 56,
  func_info_cnt: 64,
  func_info_rec_size: 68,
  log_level: 88,
  log_size: 92,
  log_buf: 96,
} as const;
export const MAP_CREATE_OPTS = {
  size: 48,
  btf_fd: 8,
  btf_key_type_id: 12,
  btf_value_type_id: 16,
  map_flags: 28,
} as const;
export const BTF_LOAD_OPTS = { size: 24, log_buf: 8, log_level: 16, log_size: 20 } as const;
export const TEST_RUN_OPTS = {
  size: 80,
  data_in: 8,
  data_size_in: 24,
  ctx_in: 32,
  ctx_size_in: 48,
  retval: 56,
  repeat: 60,
  duration: 64,
} as const;

export interface ProgLoadArgs {
  readonly type: number;
  readonly name: string;
  readonly insns: Buffer;
  readonly expectedAttachType: number;
  readonly btf?: { readonly fd: number; readonly funcInfo: Buffer };
  readonly log: Buffer;
  /** BPF_LOG_* bits: 1 traces every instruction, 4 only the verdict and its statistics. */
  readonly logLevel: number;
}

/** bpf_prog_load(); returns the fd or -errno. */
export function progLoad(a: ProgLoadArgs): number {
  return sys.progLoad(a.type, a.name, a.insns, progLoadOpts(a));
}

/**
 * bpf_prog_load() on libuv's thread pool: the verifier may take a while, and the daemon's
 * thread must keep answering meanwhile. The closure keeps the buffers the call reads alive.
 */
export function progLoadAsync(a: ProgLoadArgs): Promise<number> {
  const o = progLoadOpts(a);
  return new Promise((resolve) => {
    sys.progLoadAsync(a.type, a.name, a.insns, o, (r) => {
      void a;
      resolve(r);
    });
  });
}

function progLoadOpts(a: ProgLoadArgs): Buffer {
  const o = Buffer.alloc(PROG_LOAD_OPTS.size);
  o.writeBigUInt64LE(BigInt(PROG_LOAD_OPTS.size), 0);
  o.writeUInt32LE(a.expectedAttachType, PROG_LOAD_OPTS.expected_attach_type);
  if (a.btf) {
    o.writeUInt32LE(a.btf.fd, PROG_LOAD_OPTS.prog_btf_fd);
    o.writeBigUInt64LE(addressOf(a.btf.funcInfo), PROG_LOAD_OPTS.func_info);
    o.writeUInt32LE(a.btf.funcInfo.length / 8, PROG_LOAD_OPTS.func_info_cnt);
    o.writeUInt32LE(8, PROG_LOAD_OPTS.func_info_rec_size);
  }
  o.writeUInt32LE(a.logLevel, PROG_LOAD_OPTS.log_level);
  o.writeUInt32LE(a.log.length, PROG_LOAD_OPTS.log_size);
  o.writeBigUInt64LE(addressOf(a.log), PROG_LOAD_OPTS.log_buf);
  return o;
}

export function mapCreate(
  type: number,
  name: string,
  keySize: number,
  valueSize: number,
  maxEntries: number,
  btf?: { fd: number; keyTypeId: number; valueTypeId: number },
  flags = 0,
): number {
  const o = Buffer.alloc(MAP_CREATE_OPTS.size);
  o.writeBigUInt64LE(BigInt(MAP_CREATE_OPTS.size), 0);
  o.writeUInt32LE(flags, MAP_CREATE_OPTS.map_flags);
  if (btf) {
    o.writeUInt32LE(btf.fd, MAP_CREATE_OPTS.btf_fd);
    o.writeUInt32LE(btf.keyTypeId, MAP_CREATE_OPTS.btf_key_type_id);
    o.writeUInt32LE(btf.valueTypeId, MAP_CREATE_OPTS.btf_value_type_id);
  }
  return sys.mapCreate(type, name, keySize, valueSize, maxEntries, o);
}

export function btfLoad(blob: Buffer, log: Buffer): number {
  const o = Buffer.alloc(BTF_LOAD_OPTS.size);
  o.writeBigUInt64LE(BigInt(BTF_LOAD_OPTS.size), 0);
  o.writeBigUInt64LE(addressOf(log), BTF_LOAD_OPTS.log_buf);
  o.writeUInt32LE(log.length, BTF_LOAD_OPTS.log_size);
  o.writeUInt32LE(1, BTF_LOAD_OPTS.log_level);
  return sys.btfLoad(blob, o);
}

export const mapLookup = (fd: number, key: Buffer, value: Buffer): number =>
  sys.mapLookup(fd, key, value, 0);
export const mapUpdate = (fd: number, key: Buffer, value: Buffer, flags = 0): number =>
  sys.mapUpdate(fd, key, value, flags);
export const mapLookupFlags = (fd: number, key: Buffer, value: Buffer, flags: number): number =>
  sys.mapLookup(fd, key, value, flags);
export const mapNextKey = (fd: number, key: Buffer | null, next: Buffer): number =>
  sys.mapNextKey(fd, key, next);
export const mapDelete = (fd: number, key: Buffer): number => sys.mapDelete(fd, key);

/**
 * One bpf_map_lookup_batch() call: up to `max` entries after `cursor` (null: from the start).
 * Returns [result, entries read, next cursor]; the result is -ENOENT once the map is exhausted.
 */
export function mapLookupBatch(
  fd: number,
  cursor: Buffer | null,
  keySize: number,
  max: number,
  keys: Buffer,
  values: Buffer,
): [number, number, Buffer] {
  const next = Buffer.alloc(keySize);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(max, 0);
  const r = sys.mapLookupBatch(fd, cursor, next, keys, values, count);
  return [r, count.readUInt32LE(0), next];
}

export const objPin = (fd: number, path: string): number => sys.objPin(fd, path);
export const objGet = (path: string): number => sys.objGet(path);

/**
 * bpf_prog_test_run_opts `repeat` times; returns [result, retval, mean ns per run (the kernel's
 * duration)].
 */
export function testRun(
  fd: number,
  data: Buffer,
  ctx?: Buffer,
  repeat = 1,
): [number, number, number] {
  const o = Buffer.alloc(TEST_RUN_OPTS.size);
  o.writeBigUInt64LE(BigInt(TEST_RUN_OPTS.size), 0);
  o.writeBigUInt64LE(addressOf(data), TEST_RUN_OPTS.data_in);
  o.writeUInt32LE(data.length, TEST_RUN_OPTS.data_size_in);
  if (ctx) {
    o.writeBigUInt64LE(addressOf(ctx), TEST_RUN_OPTS.ctx_in);
    o.writeUInt32LE(ctx.length, TEST_RUN_OPTS.ctx_size_in);
  }
  o.writeUInt32LE(repeat, TEST_RUN_OPTS.repeat);
  const r = sys.progTestRun(fd, o);
  return [r, o.readUInt32LE(TEST_RUN_OPTS.retval), o.readUInt32LE(TEST_RUN_OPTS.duration)];
}
