// The ring reader against the kernel's ring buffer protocol: records written by BPF programs
// into a one-page ring, so positions wrap many times and records straddle the ring's end (the
// kernel maps the data twice; the reader relies on it), with discarded records in between.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RingReader } from '../src/bpf/ringbuf.js';
import { close, mapCreate, MapType } from '../src/bpf/syscall.js';
import { pageSize } from '../src/sys/libc.js';
import { ipv4, udp } from './helpers/packets.js';
import { ringWriter } from './helpers/ring-writer.js';
import { runPacket } from './helpers/run.js';

const LOCAL_OUT = 3;

const SIZES = [8, 56, 200, 1000];
let ring: number;
let writers: number[];
let discarder: number;
beforeAll(() => {
  ring = mapCreate({
    type: MapType.RINGBUF,
    keySize: 0,
    valueSize: 0,
    maxEntries: pageSize(),
    name: 'test_rb',
  });
  writers = SIZES.map((s, i) => ringWriter(ring, s, i + 1));
  discarder = ringWriter(ring, 64, 0x7f, true);
});
afterAll(() => {
  for (const fd of [...writers, discarder, ring]) close(fd);
});

const write = (prog: number): number => runPacket(prog, ipv4(17, udp(1, 2)), LOCAL_OUT);

describe('ring reader', () => {
  it('reads every submitted record in order across hundreds of wraps, skipping discarded', () => {
    const got: Buffer[] = [];
    const reader = new RingReader((e) => {
      throw e;
    });
    reader.add(ring, (r) => got.push(r));
    const sent: [number, number][] = [];
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    let bytes = 0;
    let straddled = 0;
    try {
      for (let i = 0; i < 3000; i++) {
        const k = rand(SIZES.length + 1);
        const prog = k === SIZES.length ? discarder : (writers[k] as number);
        // Drained now and then, and when full: the space read comes back to the writers.
        if (write(prog) === 0) {
          while (reader.drain() > 0);
          expect(write(prog)).toBe(1);
        }
        const len = k < SIZES.length ? (SIZES[k] as number) : 64;
        if ((bytes % pageSize()) + 8 + len > pageSize()) straddled++;
        bytes += len + 8;
        if (k < SIZES.length) sent.push([len, k + 1]);
        if (rand(4) === 0) while (reader.drain() > 0);
      }
      while (reader.drain() > 0);
    } finally {
      reader.close();
    }
    expect(bytes / pageSize()).toBeGreaterThan(100);
    expect(straddled).toBeGreaterThan(50);
    expect(got.map((r) => [r.length, r[0]])).toEqual(sent);
    for (const r of got) expect(r.every((b, j) => b === (j % 8 === 0 ? r[0] : 0))).toBe(true);
  });

  it('a full ring refuses records until the reader gives the space back', () => {
    const reader = new RingReader((e) => {
      throw e;
    });
    let n = 0;
    reader.add(ring, () => n++);
    try {
      const big = writers[SIZES.indexOf(1000)] as number;
      const fit = Math.floor(pageSize() / 1008);
      for (let i = 0; i < fit; i++) expect(write(big)).toBe(1);
      expect(write(big)).toBe(0);
      while (reader.drain() > 0);
      expect(n).toBe(fit);
      expect(write(big)).toBe(1);
      while (reader.drain() > 0);
      expect(n).toBe(fit + 1);
    } finally {
      reader.close();
    }
  });

  it('a removed ring hands over what was pending; what comes later waits for the next reader', () => {
    const reader = new RingReader((e) => {
      throw e;
    });
    const got: number[] = [];
    reader.add(ring, (r) => got.push(r.length));
    for (let i = 0; i < 3; i++) write(writers[1] as number);
    reader.remove(ring);
    expect(got).toEqual([56, 56, 56]);
    write(writers[1] as number);
    expect(reader.drain()).toBe(0);
    reader.close();
    // What the removed ring held stays in it for the next reader.
    const next = new RingReader((e) => {
      throw e;
    });
    next.add(ring, (r) => got.push(r.length));
    while (next.drain() > 0);
    next.close();
    expect(got).toEqual([56, 56, 56, 56]);
  });
});
