// The compute on worker threads answers exactly as the one on the calling thread: the same views,
// program shapes, classifier needs, image bytes and layouts for the same blobs, the same errno
// for a blob either refuses, and nothing for a table it was told to drop. The worker is the
// build's (dist/), the local one this source: the same code, run across a thread or not.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Compiler,
  LocalCompute,
  tableUsesOf,
  WorkerCompute,
  type Compute,
} from '../src/bpf/engine/compute.js';
import { roomFor } from '../src/bpf/engine/image.js';
import { planTables } from '../src/bpf/engine/tables.js';
import { EINVAL, EOPNOTSUPP, XtError } from '../src/translate/errno.js';
import { parseSave } from '../src/translate/save.js';
import { replaceBlob } from '../src/translate/table.js';
import { requireBuild } from './ipc/helpers.js';

const HZ = 250;
let worker: WorkerCompute;
const local = new LocalCompute();
const fatal: Error[] = [];

beforeAll(() => {
  requireBuild();
  worker = new WorkerCompute({
    size: 2,
    entry: new URL('../dist/src/bpf/engine/compute-worker.js', import.meta.url),
    onFatal: (e) => fatal.push(e),
  });
});

afterAll(async () => {
  await worker.close();
  expect(fatal).toEqual([]);
});

function blobOf(rules: readonly string[]): Buffer {
  const text = `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:web - [0:0]\n${rules.join('\n')}\nCOMMIT\n`;
  const table = parseSave(text).tables[0]?.table;
  if (!table) throw new Error('no table');
  return replaceBlob(table);
}

const MIXED = [
  '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A INPUT -p tcp -m tcp --dport 80 -j web',
  '-A INPUT -m recent --name seen --set',
  '-A INPUT -m recent --name seen --rcheck --seconds 60 --hitcount 4 -j DROP',
  '-A INPUT -p udp -m hashlimit --hashlimit-above 10/sec --hashlimit-mode srcip --hashlimit-name h -j DROP',
  '-A INPUT -m time --timestart 08:00 --timestop 18:00 -j LOG --log-prefix "day "',
  '-A INPUT -i eth0 -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT',
  '-A INPUT -p tcp -j REJECT --reject-with tcp-reset',
  '-A web -s 10.0.0.0/8 -j ACCEPT',
  '-A web -j RETURN',
];
const MANY = Array.from(
  { length: 2000 },
  (_, i) =>
    `-A INPUT -s 10.${i >> 8}.${i & 255}.0/24 -p tcp -m tcp --dport ${1000 + i} -j ${i % 3 ? 'DROP' : 'ACCEPT'}`,
);

/** Everything the main thread asks of a compute for one table, as plain data to compare. */
async function everything(c: Compute, key: string, blob: Buffer): Promise<unknown> {
  const ref = await c.check(key, blob);
  const shape = await c.plan(ref.handle, HZ);
  const { need } = await c.classify(ref.handle);
  const tables = planTables(tableUsesOf(shape), new Map()).slots;
  const img = await c.image(ref.handle, roomFor(need), 1, HZ, tables);
  const layout = await c.layout(ref.handle);
  await c.release(ref.handle);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  return {
    view: ref.view,
    shape: { ...shape, tableUses: shape.tableUses.map((u) => ({ ...u, data: hex(u.data) })) },
    kinds: c.kinds(ref.handle, shape).matches.map((k) => k.name),
    need,
    image: {
      ...img,
      blocks: hex(img.blocks),
      nodes: hex(img.nodes),
      lists: hex(img.lists),
      rules: hex(img.rules),
      mrefs: hex(img.mrefs),
      records: [...img.records].map(([k, b]) => [k, hex(b)]),
    },
    layout: { ...layout, entries: hex(layout.entries), offsets: [...layout.offsets] },
  };
}

describe('the compute on worker threads', () => {
  it('answers as the local one, for a table of every engine part and for 2,000 rules', async () => {
    for (const rules of [MIXED, MANY, [...MANY, ...MIXED]]) {
      const blob = blobOf(rules);
      const here = await everything(local, 'n/filter', blob);
      expect(await everything(worker, 'n/filter', blob)).toEqual(here);
    }
    const shape = (await everything(worker, 'n/filter', blobOf(MIXED))) as {
      image: { records: [string, string][] };
      view: { uses: string[] };
    };
    expect(shape.view.uses).toEqual(
      expect.arrayContaining(['conntrack', 'recent', 'hashlimit', 'time', 'LOG', 'REJECT']),
    );
    expect(shape.image.records.map(([k]) => k)).toEqual(expect.arrayContaining(['recent']));
  }, 120_000);

  it('gives the next check of a table the same answer with its memo as without', async () => {
    const key = 'memo/filter';
    await worker.check(key, blobOf(MANY));
    const edited = blobOf([
      ...MANY.slice(0, 700),
      '-A INPUT -s 192.0.2.1 -j DROP',
      ...MANY.slice(700),
    ]);
    const ref = await worker.check(key, edited);
    expect(ref.view).toEqual((await local.check('other/filter', edited)).view);
    expect(ref.view.rules).toBe(MANY.length + 1);
  }, 60_000);

  it("refuses what the local one refuses, with the kernel's errno", async () => {
    const good = blobOf(MIXED);
    const cut = good.subarray(0, good.length - 8);
    const refusal = async (c: Compute, b: Buffer): Promise<unknown> => {
      try {
        await c.check('bad/filter', b);
        return undefined;
      } catch (e) {
        return e instanceof XtError ? { errno: e.errno, message: e.message } : String(e);
      }
    };
    const here = await refusal(local, cut);
    expect(here).toMatchObject({ errno: EINVAL });
    expect(await refusal(worker, cut)).toEqual(here);
    // A rule the engine cannot run is refused at plan time, naming it.
    const queue = await worker.check('q/filter', blobOf(['-A INPUT -j QUEUE']));
    await expect(worker.plan(queue.handle, HZ)).rejects.toMatchObject({
      errno: EOPNOTSUPP,
      message: expect.stringContaining('QUEUE has no BPF equivalent'),
    });
  });

  it('forgets tables released and namespaces gone', async () => {
    const a = await worker.check('gone/filter', blobOf(MIXED));
    const b = await worker.check('kept/filter', blobOf(MIXED));
    await worker.release(b.handle);
    await expect(worker.layout(b.handle)).rejects.toThrow(/no table/);
    await worker.forget('gone');
    await expect(worker.layout(a.handle)).rejects.toThrow(/no table/);
  });
});

describe('the compiler between commands', () => {
  // What it keeps of a table's last command (the entry memo, the classifier trees, the rule
  // records' ipt_ip and box words) must not show in the next table's rule records: after any
  // edits, they are the bytes a compiler that never saw the table writes.
  it('writes the rule records of an edited table as a fresh compiler does', () => {
    const rule = (n: number): string =>
      [
        `-A INPUT -s 10.${n >> 8}.${n & 255}.0/24 -p tcp -m tcp --dport ${n} -j DROP`,
        `-A INPUT -d 192.0.2.${n & 255} -p udp -m udp --sport ${n} -j web`,
        `-A web -i eth${n & 3} -m limit --limit ${1 + (n % 9)}/sec -j ACCEPT`,
        `-A INPUT ! -s 172.16.${n & 255}.0/255.255.0.255 -j LOG --log-prefix "r${n} "`,
        '-A INPUT -f -j DROP',
      ][n % 5] as string;
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.nat({ max: 12 }),
      add: fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 12 }),
    });
    const records = (c: Compiler, key: string, blob: Buffer): [string, string] => {
      const ref = c.check(key, blob);
      c.plan(ref.handle, HZ);
      const { need } = c.classify(ref.handle);
      const img = c.image(ref.handle, roomFor(need), 1, HZ, new Map());
      c.release(ref.handle);
      return [img.rules.toString('hex'), img.mrefs.toString('hex')];
    };
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 4000 }), { maxLength: 40 }),
        fc.array(edit, { minLength: 1, maxLength: 4 }),
        (start, edits) => {
          const kept = new Compiler();
          let rules = start;
          records(kept, 'n/filter', blobOf(rules.map(rule)));
          for (const e of edits) {
            const at = e.at % (rules.length + 1);
            rules = [...rules.slice(0, at), ...e.add, ...rules.slice(at + e.remove)];
            const blob = blobOf(rules.map(rule));
            expect(records(kept, 'n/filter', blob)).toEqual(
              records(new Compiler(), 'n/filter', blob),
            );
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
