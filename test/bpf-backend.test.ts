// The backend's guarantees that need no traffic: a verifier rejection is a clear error carrying
// the verifier's log, and the ruleset in the dispatcher's slot does not change.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Exit, Mov, R0, R1, R8, assemble } from '../src/bpf/asm/index.js';
import { BpfBackend, loadTable, readCounters } from '../src/bpf/backend.js';
import { LocalCompute } from '../src/bpf/engine/compute.js';
import { BpfError, close, mapLookup, objGet, progLoad, u32 } from '../src/bpf/syscall.js';
import type { Extension } from '../src/translate/ext/types.js';
import { EINVAL, XtError } from '../src/translate/errno.js';
import type { Rule, Table } from '../src/translate/ir.js';
import { cookieOf } from '../src/sys/netns.js';
import { KernelTables } from './helpers/kernel-table.js';
import { filterTable } from './helpers/twins.js';

const PINS = `/sys/fs/bpf/bpfilter-bk-${process.pid}`;
const NS = `bk-ns-${process.pid}`;
let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('bk');
});
afterAll(() => {
  kt.close();
  execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  rmSync(PINS, { recursive: true, force: true });
});

describe('verifier rejections', () => {
  it('progLoad throws BpfError with the errno and the verifier log', () => {
    const bad = assemble([Mov.reg(R0, R8), Exit()]).bytes;
    try {
      progLoad({ type: 32, expectedAttachType: 45, name: 'bad', insns: bad });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BpfError);
      expect((e as BpfError).errno).toBe(13); // EACCES
      expect((e as BpfError).log).toContain('R8 !read_ok');
    }
  });

  it('a refused ruleset is EINVAL with the verifier words, and the slot keeps the old program', async () => {
    const compute = new LocalCompute();
    const backend = new BpfBackend({ pinRoot: PINS, compute });
    // Not kt's namespace: the kernel's own filter table holds priority 0 there.
    execFileSync('ip', ['netns', 'add', NS]);
    const path = `/run/netns/${NS}`;
    const netns = { id: String(cookieOf(path)), path };
    const good = kt.table(
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 10.1.1.1 -j DROP\nCOMMIT\n',
    );
    await backend.apply(netns, compute.adopt(`${netns.id}/filter`, good));
    const slot = objGet(join(PINS, netns.id, 'filter', 'INPUT_slot'));
    const before = mapLookup(slot, u32(0), 4).readUInt32LE(0);
    expect(before).toBeGreaterThan(0);

    // A table needing a new program (tcp), with tcp's evaluator wrong (reads a register it never
    // wrote).
    const withTcp = kt.table(
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n',
    );
    const rule = withTcp.chains[0]?.rules[0] as Rule;
    const tcp = rule.matches[0]?.extension as Extension<unknown>;
    const engine = tcp.engine as NonNullable<Extension<unknown>['engine']>;
    const broken: Extension<unknown> = {
      ...tcp,
      engine: { ...engine, evaluate: () => [Mov.reg(R1, R8)] },
    };
    const bad: Table = {
      ...withTcp,
      chains: withTcp.chains.map((c, k) =>
        k === 0
          ? { ...c, rules: [{ ...rule, matches: [{ ...rule.matches[0]!, extension: broken }] }] }
          : c,
      ),
    };
    try {
      await backend.apply(netns, compute.adopt(`${netns.id}/filter`, bad));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(XtError);
      expect((e as XtError).errno).toBe(EINVAL);
      expect((e as XtError).message).toContain('R8 !read_ok');
    }
    expect(mapLookup(slot, u32(0), 4).readUInt32LE(0)).toBe(before);
    close(slot);
  });

  it("a hook priority the kernel's own filter table holds is EBUSY, said plainly", async () => {
    const compute = new LocalCompute();
    const backend = new BpfBackend({ pinRoot: PINS, compute });
    const path = `/run/netns/${kt.ns}`;
    const netns = { id: String(cookieOf(path)), path };
    const table = kt.table(
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n',
    );
    await expect(backend.apply(netns, compute.adopt(`${netns.id}/filter`, table))).rejects.toThrow(
      /priority 0 is taken/,
    );
  });
});

describe('counters', () => {
  it('each CPU has its run of slots; a read sums them, from any start, as map lookups see them', async () => {
    const { mapCreate, mapUpdate, MapType, MAP_F_MMAPABLE, possibleCpus } =
      await import('../src/bpf/syscall.js');
    const slots = 5000;
    const cpus = possibleCpus();
    const fd = mapCreate({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 16,
      maxEntries: cpus * slots,
      name: 'bk_cnt',
      flags: MAP_F_MMAPABLE,
    });
    try {
      for (const i of [0, 1, 4095, 4096, 4999]) {
        for (let c = 0; c < cpus; c++) {
          const v = Buffer.alloc(16);
          v.writeBigUInt64LE(BigInt(i + c), 0);
          v.writeBigUInt64LE(BigInt(1000 * i), 8);
          mapUpdate(fd, u32(c * slots + i), v);
        }
      }
      const all = readCounters(fd, slots);
      expect(all).toHaveLength(slots);
      const sum = (i: number): bigint => BigInt(cpus * i + (cpus * (cpus - 1)) / 2);
      for (const i of [0, 1, 4095, 4096, 4999]) {
        expect(all[i]).toEqual({ pcnt: sum(i), bcnt: BigInt(cpus * 1000 * i) });
        // What the kernel holds for the last CPU's slot, read by syscall.
        const last = mapLookup(fd, u32((cpus - 1) * slots + i), 16);
        expect(last.readBigUInt64LE(0)).toBe(BigInt(i + cpus - 1));
      }
      expect(all[2]).toEqual({ pcnt: 0n, bcnt: 0n });
      // A range from a key on: the second half of a double-buffered map.
      expect(readCounters(fd, 904, 4096)).toEqual(all.slice(4096));
    } finally {
      close(fd);
    }
  });
});

describe('map operations', () => {
  it('a prog array slot can be filled and emptied; lookups of an empty slot are ENOENT', async () => {
    const { mapCreate, mapDelete, MapType } = await import('../src/bpf/syscall.js');
    const slot = mapCreate({
      type: MapType.PROG_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      name: 'bk_slot',
    });
    const prog = progLoad({
      type: 32,
      expectedAttachType: 45,
      name: 'bk_accept',
      insns: assemble([Mov.imm(R0, 1), Exit()]).bytes,
    });
    try {
      const { mapUpdate } = await import('../src/bpf/syscall.js');
      mapUpdate(slot, u32(0), u32(prog));
      expect(mapLookup(slot, u32(0), 4).readUInt32LE(0)).toBeGreaterThan(0);
      mapDelete(slot, u32(0));
      expect(() => mapLookup(slot, u32(0), 4)).toThrow(/errno 2/);
    } finally {
      close(prog);
      close(slot);
    }
  });
});

describe('mappings', () => {
  // The rule data maps are mapped only while a generation is written into them, so the pages
  // of a big ruleset do not count in the helper's RSS; the header and counters stay mapped.
  const bpfMappings = (): number =>
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('anon_inode:bpf-map')).length;

  it('a loaded table keeps only its header and counters mapped', () => {
    const before = bpfMappings();
    const rules = Array.from(
      { length: 300 },
      (_, i) => `-A INPUT -s 10.1.${i >> 8}.${i & 255} -j DROP`,
    );
    const r = loadTable(kt.table(filterTable(rules.join('\n'))));
    try {
      expect(bpfMappings() - before).toBe(2);
      expect(r.progs[1]).toBeGreaterThan(0);
    } finally {
      r.instance.close();
    }
    expect(bpfMappings()).toBe(before);
  });
});
