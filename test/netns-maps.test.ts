// Namespace maps (engine/netns.ts) in the backend: created for the first ruleset that needs
// them, pinned beside the namespace's objects, the same map for every later ruleset (a data-only
// replace and one that loads new programs alike), a keeper started once, and all of it gone
// with the namespace.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfBackend } from '../src/bpf/backend.js';
import { LocalCompute } from '../src/bpf/engine/compute.js';
import { close, objGet, objId } from '../src/bpf/syscall.js';
import { cookieOf } from '../src/sys/netns.js';
import { KernelTables } from './helpers/kernel-table.js';
import { netnsAdd, netnsDel } from './ipc/helpers.js';
import { filterTable } from './helpers/twins.js';

const tag = process.pid % 100000;
const PINS = `/sys/fs/bpf/bpfilter-nm-${tag}`;
const NS = `nm-${tag}`;

afterAll(() => {
  netnsDel(NS);
  rmSync(PINS, { recursive: true, force: true });
});

const idOf = (pin: string): number => {
  const fd = objGet(pin);
  try {
    return objId(fd);
  } finally {
    close(fd);
  }
};

describe('namespace maps in the backend', () => {
  it('outlive replaces, are kept by one keeper each and go with the namespace', async () => {
    const kt = new KernelTables('nm');
    const first = kt.table(filterTable('-A INPUT -m addrtype --dst-type LOCAL'));
    const same = kt.table(filterTable('-A INPUT -m addrtype --src-type LOCAL\n-A INPUT -j ACCEPT'));
    const more = kt.table(
      filterTable('-A INPUT -m addrtype --dst-type LOCAL\n-A INPUT -m recent --set --name X'),
    );
    kt.close();
    const started: string[] = [];
    let stopped = 0;
    const compute = new LocalCompute();
    const backend = new BpfBackend({
      compute,
      pinRoot: PINS,
      keeper: (_netns, desc) => {
        started.push(desc.map);
        return () => void stopped++;
      },
    });
    netnsAdd(NS);
    const ref = { id: String(cookieOf(`/run/netns/${NS}`)), path: `/run/netns/${NS}` };
    const dir = join(PINS, ref.id, 'filter');
    const held = (t: typeof first) => compute.adopt(`${ref.id}/filter`, t);
    await backend.apply(ref, held(first));
    const pin = join(dir, 'ns_addrtypes');
    const id = idOf(pin);
    await backend.apply(ref, held(same));
    await backend.apply(ref, held(more));
    expect(idOf(pin)).toBe(id);
    expect(existsSync(join(dir, 'ns_recent'))).toBe(true);
    expect(started).toEqual(['addrtypes', 'recent']);
    expect(backend.netnsTable(ref.id, 'recent', 'X')).toBeDefined();
    netnsDel(NS);
    expect(backend.collect(() => false)).toEqual([ref.id]);
    expect(stopped).toBe(2);
    expect(existsSync(join(PINS, ref.id))).toBe(false);
    backend.close();
  });
});
