// The work entries' owner words (engine.ts claim) and what the helper reads of them
// (instance.ts quiesce): a packet holds its entry with an odd word and moves it on by two, a
// held entry is never shared, and quiesce waits for exactly the entries held when it looked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable } from '../src/bpf/backend.js';
import { MAPS, Stat, WORK_PER_CPU } from '../src/bpf/codegen/layout.js';
import { S, workSize } from '../src/bpf/codegen/state.js';
import type { EngineInstance } from '../src/bpf/engine/instance.js';
import { possibleCpus } from '../src/bpf/syscall.js';
import { mmapShared, type Mapping } from '../src/sys/libc.js';
import { KernelTables } from './helpers/kernel-table.js';
import { ipv4, udp } from './helpers/packets.js';
import { runPacket } from './helpers/run.js';
import { ACCEPT, DROP, filter } from './helpers/engine-run.js';

const INPUT = 1;
let kt: KernelTables;
let inst: EngineInstance;
let prog: number;
let mapping: Mapping;
let owners: number[];
let words: Uint32Array;

beforeAll(() => {
  kt = new KernelTables('qui');
  const r = loadTable(kt.table(filter('-A INPUT -p udp -m udp --dport 9 -j ACCEPT', 'DROP')));
  inst = r.instance;
  prog = r.progs[INPUT] as number;
  const stride = (workSize(inst.spec.poolDepth) + 7) & ~7;
  const entries = possibleCpus() * WORK_PER_CPU;
  mapping = mmapShared(inst.fd(MAPS.WORK), Math.ceil((entries * stride) / 4096) * 4096);
  const b = mapping.bytes;
  words = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
  owners = Array.from({ length: entries }, (_, e) => (e * stride + S.OWNER) >> 2);
});

afterAll(() => {
  mapping.unmap();
  inst.close();
  kt.close();
});

const packet = (): Buffer => ipv4(17, udp(1000, 9, Buffer.alloc(8)));
const owner = (e: number): number => Atomics.load(words, owners[e] as number);
const setOwner = (e: number, v: number): number => Atomics.store(words, owners[e] as number, v);
const settled = async (p: Promise<void>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('work entry owners', () => {
  it('a packet claims a free entry and gives it back: its word moves on by two', () => {
    const before = owners.map((_, e) => owner(e));
    expect(before.every((v) => v % 2 === 0)).toBe(true);
    expect(runPacket(prog, packet(), INPUT)).toBe(ACCEPT);
    const after = owners.map((_, e) => owner(e));
    const moved = after.map((v, e) => v - (before[e] as number)).filter((d) => d !== 0);
    expect(moved).toEqual([2]);
  });

  it('an entry held (odd) is never claimed again; none free drops the packet', () => {
    const was = owners.map((_, e) => owner(e));
    const stat = (): bigint => inst.stats()[Stat.NO_WORK] ?? 0n;
    const before = stat();
    owners.forEach((_, e) => setOwner(e, (was[e] as number) + 1));
    try {
      expect(runPacket(prog, packet(), INPUT)).toBe(DROP);
      expect(stat()).toBe(before + 1n);
      expect(owners.map((_, e) => owner(e))).toEqual(was.map((v) => v + 1));
    } finally {
      owners.forEach((_, e) => setOwner(e, (was[e] as number) + 2));
    }
    expect(runPacket(prog, packet(), INPUT)).toBe(ACCEPT);
  });

  it('quiesce waits for the entries held when it looked, and for no later claim', async () => {
    expect(await settled(inst.quiesce(), 1000)).toBe(true);
    const [a, b] = [0, owners.length - 1];
    const va = owner(a);
    setOwner(a, va + 1);
    // Longer than this test takes: a grace period must not end it on a slow machine.
    const q = inst.quiesce(60_000);
    expect(await settled(q, 10)).toBe(false);
    // Claimed after the look: a packet that reads the new header.
    const vb = owner(b);
    setOwner(b, vb + 1);
    setOwner(a, va + 2);
    expect(await settled(q, 5)).toBe(true);
    setOwner(b, vb + 2);
  });

  it('an entry held past its time ends in a grace period, not a wait forever', async () => {
    const v = owner(0);
    setOwner(0, v + 1);
    try {
      const t = performance.now();
      expect(await settled(inst.quiesce(), 5000)).toBe(true);
      expect(performance.now() - t).toBeGreaterThanOrEqual(20);
    } finally {
      setOwner(0, v + 2);
    }
  });
});
