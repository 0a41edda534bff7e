// Just enough of bpf(2) for translator tests to load programs and run them on packets.
import { readFileSync } from 'node:fs';
import { addressOf, bpfSyscall, SysError } from '../../src/sys/libc.js';
import type { LinkedProgram } from '../../src/bpf/codegen/index.js';

const BPF_MAP_CREATE = 0;
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_PROG_LOAD = 5;
const BPF_PROG_TEST_RUN = 10;
const BPF_BTF_LOAD = 18;
const MAP_PERCPU_ARRAY = 6;

export const possibleCpus = (): number => {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  return text.split(',').reduce((n, r) => {
    const [a, b] = r.split('-').map(Number);
    return n + ((b ?? a ?? 0) - (a ?? 0) + 1);
  }, 0);
};

export function createCounters(entries: number): number {
  const attr = Buffer.alloc(48);
  attr.writeUInt32LE(MAP_PERCPU_ARRAY, 0);
  attr.writeUInt32LE(4, 4);
  attr.writeUInt32LE(16, 8);
  attr.writeUInt32LE(Math.max(1, entries), 12);
  attr.write('bpfilter_test', 28, 'latin1');
  return bpfSyscall(BPF_MAP_CREATE, attr);
}

export function readCounters(fd: number, index: number): { packets: bigint; bytes: bigint } {
  const cpus = possibleCpus();
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const value = Buffer.alloc(16 * cpus);
  const attr = Buffer.alloc(32);
  attr.writeUInt32LE(fd, 0);
  attr.writeBigUInt64LE(addressOf(key), 8);
  attr.writeBigUInt64LE(addressOf(value), 16);
  bpfSyscall(BPF_MAP_LOOKUP_ELEM, attr);
  let packets = 0n;
  let bytes = 0n;
  for (let c = 0; c < cpus; c++) {
    packets += value.readBigUInt64LE(16 * c);
    bytes += value.readBigUInt64LE(16 * c + 8);
  }
  return { packets, bytes };
}

export function loadNf(p: LinkedProgram): number {
  const insns = p.code.bytes;
  const license = Buffer.from('GPL\0');
  const log = Buffer.alloc(1 << 24);
  const attr = Buffer.alloc(144);
  attr.writeUInt32LE(32, 0);
  attr.writeUInt32LE(insns.length / 8, 4);
  attr.writeBigUInt64LE(addressOf(insns), 8);
  attr.writeBigUInt64LE(addressOf(license), 16);
  attr.writeUInt32LE(1, 24);
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(addressOf(log), 32);
  attr.write('bpfilter_test', 48, 'latin1');
  attr.writeUInt32LE(45, 68);
  let btfBlob: Buffer | undefined;
  if (p.btf) {
    btfBlob = p.btf.btf.blob;
    const battr = Buffer.alloc(32);
    const blog = Buffer.alloc(65536);
    battr.writeBigUInt64LE(addressOf(btfBlob), 0);
    battr.writeBigUInt64LE(addressOf(blog), 8);
    battr.writeUInt32LE(btfBlob.length, 16);
    battr.writeUInt32LE(blog.length, 20);
    battr.writeUInt32LE(1, 24);
    let btfFd: number;
    try {
      btfFd = bpfSyscall(BPF_BTF_LOAD, battr);
    } catch (e) {
      throw new Error(`${String(e)}\n${blog.toString('latin1').replace(/\0.*$/s, '')}`);
    }
    attr.writeUInt32LE(btfFd, 72);
    attr.writeUInt32LE(8, 76);
    attr.writeBigUInt64LE(addressOf(p.btf.funcInfo), 80);
    attr.writeUInt32LE(p.btf.funcInfo.length / 8, 88);
  }
  try {
    return bpfSyscall(BPF_PROG_LOAD, attr);
  } catch (e) {
    const text = log.toString('latin1').replace(/\0.*$/s, '');
    throw new Error(`${e instanceof SysError ? e.message : String(e)}\n${text.slice(-6000)}`);
  } finally {
    void btfBlob;
  }
}

/** Runs the program once on `packet` (from the IP header); hook LOCAL_OUT unless `hook` given. */
export function testRun(fd: number, packet: Buffer, hook?: number): number {
  const attr = Buffer.alloc(80);
  let data = packet;
  let ctx: Buffer | undefined;
  if (hook !== undefined && hook !== 3) {
    // Hooks other than LOCAL_OUT take an Ethernet frame (test-run calls eth_type_trans).
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    data = Buffer.concat([eth, packet]);
  }
  if (hook !== undefined) {
    ctx = Buffer.alloc(48);
    ctx.writeUInt8(hook, 0);
    ctx.writeUInt8(2, 1);
  }
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(data.length, 8);
  attr.writeBigUInt64LE(addressOf(data), 16);
  attr.writeUInt32LE(1, 32);
  if (ctx) {
    attr.writeUInt32LE(ctx.length, 40);
    attr.writeBigUInt64LE(addressOf(ctx), 48);
  }
  bpfSyscall(BPF_PROG_TEST_RUN, attr);
  return attr.readUInt32LE(4);
}
