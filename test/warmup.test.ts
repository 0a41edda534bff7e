// A compute worker's warm-up (warmup.ts): its synthetic table takes every pass a restore and an
// -A take, it leaves nothing behind in the compiler, and it gives way to the first request.
import { describe, expect, it } from 'vitest';
import { planFor } from '../src/bpf/engine/compile.js';
import { Compiler, WorkerCompute, type WarmReport } from '../src/bpf/engine/compute.js';
import { warmRules, warmUpSteps, WARM_RULES } from '../src/bpf/engine/warmup.js';
import { parseSave } from '../src/translate/save.js';
import { replaceBlob } from '../src/translate/table.js';
import { requireBuild } from './ipc/helpers.js';

const ENTRY = new URL('../dist/src/bpf/engine/compute-worker.js', import.meta.url);

function tableOf(text: string) {
  const t = parseSave(text).tables[0]?.table;
  if (t === undefined) throw new Error('no table');
  return t;
}

describe('the compute warm-up', () => {
  it('is a table the engine takes whole, with the extensions rulesets use most', () => {
    const table = tableOf(warmRules(WARM_RULES));
    const rules = table.chains.reduce((n, c) => n + c.rules.length, 0);
    expect(rules).toBeGreaterThanOrEqual(WARM_RULES);
    const p = planFor(table, 250);
    expect(p.kinds.matches.map((k) => k.name)).toEqual(
      expect.arrayContaining(['conntrack', 'icmp', 'iface', 'multiport', 'tcp', 'udp']),
    );
    expect(p.kinds.targets.map((k) => k.name)).toEqual(['LOG', 'REJECT']);
    // Jumps into the user chains, so push and RETURN are planned too.
    expect(p.plan.entries.some((e) => e.action.kind === 'jump' && e.action.push)).toBe(true);
    expect(p.plan.entries.some((e) => e.action.kind === 'return')).toBe(true);
  });

  it('leaves the compiler holding nothing, and its answers unchanged', () => {
    const c = new Compiler();
    const steps = warmUpSteps(c, 600);
    for (const s of steps) s();
    expect(c.kept()).toEqual({ tables: 0, memos: 0, trees: 0 });
    const blob = replaceBlob(
      tableOf(
        '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n',
      ),
    );
    const fresh = new Compiler();
    const [a, b] = [c.check('1/filter', blob), fresh.check('1/filter', blob)];
    expect(a.view).toEqual(b.view);
    expect(c.plan(a.handle, 250)).toEqual(fresh.plan(b.handle, 250));
    expect(c.classify(a.handle)).toEqual(fresh.classify(b.handle));
  });

  it('on a worker: runs whole when left alone, and stops at the first request', async () => {
    requireBuild();
    const first = (got: readonly WarmReport[]): Promise<WarmReport> =>
      new Promise((resolve) => {
        const wait = setInterval(() => {
          if (got[0] === undefined) return;
          clearInterval(wait);
          resolve(got[0]);
        }, 10);
      });
    const alone: WarmReport[] = [];
    const asked: WarmReport[] = [];
    const fatal: Error[] = [];
    const a = new WorkerCompute({
      size: 1,
      entry: ENTRY,
      onFatal: (e) => fatal.push(e),
      onWarm: (_, r) => alone.push(r),
    });
    const b = new WorkerCompute({
      size: 1,
      entry: ENTRY,
      onFatal: (e) => fatal.push(e),
      onWarm: (_, r) => asked.push(r),
    });
    try {
      const ref = await b.fresh('1/filter', 'filter');
      expect(ref.view.name).toBe('filter');
      const [whole, cut] = await Promise.all([first(alone), first(asked)]);
      expect(whole).toMatchObject({ ran: true });
      expect(whole.error).toBeUndefined();
      expect(cut).toMatchObject({ ran: false });
      expect(cut.error).toBeUndefined();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect(fatal).toEqual([]);
  }, 60_000);
});
