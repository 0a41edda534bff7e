// bpf(2) commands the helper uses, with bpf_attr laid out by hand (include/uapi/linux/bpf.h).
// Errors carry the errno and, for program loads, the verifier's log.
import { closeSync, readFileSync } from 'node:fs';
import { addressOf, bpfSyscall, SysError } from '../sys/libc.js';

const MAP_CREATE = 0;
const MAP_LOOKUP_ELEM = 1;
const MAP_UPDATE_ELEM = 2;
const PROG_LOAD = 5;
const OBJ_PIN = 6;
const OBJ_GET = 7;
const PROG_TEST_RUN = 10;
const OBJ_GET_INFO_BY_FD = 15;
const BTF_LOAD = 18;
const LINK_CREATE = 28;

export const MapType = { ARRAY: 2, PROG_ARRAY: 3, PERCPU_ARRAY: 6 } as const;

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

const cstr = (b: Buffer): string => b.toString('latin1').replace(/\0.*$/s, '');

/** bpftool shows at most 15 characters of a name; the kernel allows [A-Za-z0-9_.]. */
function writeName(attr: Buffer, at: number, name: string): void {
  attr.write(name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15), at, 'latin1');
}

export interface MapSpec {
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly name: string;
}

export function mapCreate(spec: MapSpec): number {
  const attr = Buffer.alloc(72);
  attr.writeUInt32LE(spec.type, 0);
  attr.writeUInt32LE(spec.keySize, 4);
  attr.writeUInt32LE(spec.valueSize, 8);
  attr.writeUInt32LE(spec.maxEntries, 12);
  writeName(attr, 28, spec.name);
  return call(`map_create ${spec.name}`, MAP_CREATE, attr);
}

function elemAttr(fd: number, key: Buffer, value: Buffer, flags = 0n): Buffer {
  const attr = Buffer.alloc(32);
  attr.writeUInt32LE(fd, 0);
  attr.writeBigUInt64LE(addressOf(key), 8);
  attr.writeBigUInt64LE(addressOf(value), 16);
  attr.writeBigUInt64LE(flags, 24);
  return attr;
}

export function mapLookup(fd: number, key: Buffer, valueSize: number): Buffer {
  const value = Buffer.alloc(valueSize);
  call('map_lookup_elem', MAP_LOOKUP_ELEM, elemAttr(fd, key, value));
  return value;
}

export function mapUpdate(fd: number, key: Buffer, value: Buffer): void {
  call('map_update_elem', MAP_UPDATE_ELEM, elemAttr(fd, key, value));
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
  const attr = Buffer.alloc(32);
  attr.writeBigUInt64LE(addressOf(blob), 0);
  attr.writeBigUInt64LE(addressOf(log), 8);
  attr.writeUInt32LE(blob.length, 16);
  attr.writeUInt32LE(log.length, 20);
  attr.writeUInt32LE(1, 24);
  try {
    return bpfSyscall(BTF_LOAD, attr);
  } catch (e) {
    if (e instanceof SysError) throw new BpfError('btf_load', e.errno, cstr(log));
    throw e;
  }
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
  const license = Buffer.from('GPL\0');
  for (let logSize = 1 << 20; ; logSize *= 4) {
    const log = Buffer.alloc(logSize);
    const attr = Buffer.alloc(144);
    attr.writeUInt32LE(spec.type, 0);
    attr.writeUInt32LE(spec.insns.length / 8, 4);
    attr.writeBigUInt64LE(addressOf(spec.insns), 8);
    attr.writeBigUInt64LE(addressOf(license), 16);
    attr.writeUInt32LE(1, 24);
    attr.writeUInt32LE(log.length, 28);
    attr.writeBigUInt64LE(addressOf(log), 32);
    writeName(attr, 48, spec.name);
    attr.writeUInt32LE(spec.expectedAttachType, 68);
    if (spec.btf) {
      attr.writeUInt32LE(spec.btf.fd, 72);
      attr.writeUInt32LE(8, 76);
      attr.writeBigUInt64LE(addressOf(spec.btf.funcInfo), 80);
      attr.writeUInt32LE(spec.btf.funcInfo.length / 8, 88);
    }
    try {
      return bpfSyscall(PROG_LOAD, attr);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      // ENOSPC: the log did not fit; the verifier's verdict is only known with the whole log.
      if (e.errno === 28 && logSize < 1 << 28) continue;
      throw new BpfError(`prog_load ${spec.name}`, e.errno, cstr(log));
    }
  }
}

export function objPin(fd: number, path: string): void {
  const p = Buffer.from(`${path}\0`);
  const attr = Buffer.alloc(16);
  attr.writeBigUInt64LE(addressOf(p), 0);
  attr.writeUInt32LE(fd, 8);
  call(`obj_pin ${path}`, OBJ_PIN, attr);
}

export function objGet(path: string): number {
  const p = Buffer.from(`${path}\0`);
  const attr = Buffer.alloc(16);
  attr.writeBigUInt64LE(addressOf(p), 0);
  return call(`obj_get ${path}`, OBJ_GET, attr);
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

/** The id of a program, map or link fd (BPF_OBJ_GET_INFO_BY_FD: `id` follows `type` in all three). */
export function objId(fd: number): number {
  const info = Buffer.alloc(256);
  const attr = Buffer.alloc(16);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(info.length, 4);
  attr.writeBigUInt64LE(addressOf(info), 8);
  call('obj_get_info_by_fd', OBJ_GET_INFO_BY_FD, attr);
  return info.readUInt32LE(4);
}

/** BPF_PROG_TEST_RUN once; returns the program's return value. */
export function testRun(fd: number, data: Buffer, ctx?: Buffer): number {
  const attr = Buffer.alloc(80);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(data.length, 8);
  attr.writeBigUInt64LE(addressOf(data), 16);
  attr.writeUInt32LE(1, 32);
  if (ctx) {
    attr.writeUInt32LE(ctx.length, 40);
    attr.writeBigUInt64LE(addressOf(ctx), 48);
  }
  call('prog_test_run', PROG_TEST_RUN, attr);
  return attr.readUInt32LE(4);
}

export function close(fd: number): void {
  closeSync(fd);
}
