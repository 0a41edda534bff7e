// Loading a compiled table (compile.ts) into a fresh engine instance. The backend keeps
// instances alive across replaces; tests and benchmarks load one table at a time.
import type { Table } from '../../translate/ir.js';
import type { HookPlan } from '../../translate/plan.js';
import { EOPNOTSUPP, XtError } from '../../translate/errno.js';
import { Unsupported } from '../codegen/eval.js';
import type { HookFlavor } from '../codegen/flavor.js';
import { netfilterFlavor } from '../codegen/nf.js';
import { MAPS } from '../codegen/layout.js';
import { compile, image, type Compiled, type Planned } from './compile.js';
import { roomFor, type Capacity, type Kinds } from './image.js';
import { EngineInstance, type InstanceSpec, type SharedMaps } from './instance.js';
import { planTables, tableUses } from './tables.js';

/** A table loaded on its own (tests, benchmarks, `translate`): its programs read half 0. */
export interface LoadedTable {
  readonly compiled: Compiled;
  readonly instance: EngineInstance;
  /** Program fd by hook (sparse). */
  readonly progs: readonly number[];
  readonly counters: number;
}

export function loadTable(
  table: Table,
  flavor: HookFlavor = netfilterFlavor(),
  shared: SharedMaps = {},
): LoadedTable {
  const compiled = compile(table, flavor.hz);
  const programs = programsOf(table.name, compiled);
  const cap = roomFor(compiled.need);
  let instance: EngineInstance;
  try {
    instance = EngineInstance.create(instanceSpec(programs, cap, flavor, shared));
  } catch (e) {
    throw refusal(e, programs.entries);
  }
  const ns = instance.netns();
  const tables = planTables(tableUses(compiled.classified.plan.entries), ns.tables);
  ns.prepare(tables);
  ns.commit(tables);
  const img = image(compiled, cap, 0, flavor.hz, ns.tables);
  instance.write(img);
  instance.switchTo(img);
  const progs: number[] = [];
  for (const [hook, fd] of instance.progs) progs[hook] = fd;
  return { compiled, instance, progs, counters: instance.fd(MAPS.COUNTERS) };
}

/** What an instance's programs are made of: a plan's hooks, kinds and jump depth. */
export interface Programs {
  readonly table: string;
  readonly hooks: readonly HookPlan[];
  readonly kinds: Kinds;
  readonly poolDepth: number;
  /** Plan entries, for the refusal message. */
  readonly entries: number;
}

export function programsOf(table: string, p: Planned): Programs {
  return {
    table,
    hooks: p.plan.hooks,
    kinds: p.kinds,
    poolDepth: p.poolDepth,
    entries: p.plan.entries.length,
  };
}

/** A new instance for `p` (the daemon's: verified off its thread). */
export async function newInstance(
  p: Programs,
  cap: Capacity,
  flavor: HookFlavor,
  shared: SharedMaps,
): Promise<EngineInstance> {
  try {
    return await EngineInstance.createAsync(instanceSpec(p, cap, flavor, shared));
  } catch (e) {
    throw refusal(e, p.entries);
  }
}

function instanceSpec(
  p: Programs,
  cap: Capacity,
  flavor: HookFlavor,
  shared: SharedMaps,
): InstanceSpec {
  return {
    table: p.table,
    hooks: p.hooks,
    kinds: p.kinds,
    cap,
    poolDepth: p.poolDepth,
    flavor,
    shared,
  };
}

/** The verifier's closing statistics (BPF_LOG_STATS), which follow the reason it refused. */
const STATS = /^(verification time|stack depth|processed \d+ insns)/;

/** A load failure as the errno SET_REPLACE answers with and a sentence for the log. */
function refusal(e: unknown, entries: number): unknown {
  if (e instanceof Unsupported) return new XtError(EOPNOTSUPP, e.message);
  const err = e as { op?: unknown; errno?: unknown; log?: unknown };
  if (typeof err.log === 'string' && typeof err.errno === 'number') {
    const tail = err.log
      .split('\n')
      .filter((l) => l !== '' && !STATS.test(l))
      .slice(-4)
      .join(' | ');
    return new XtError(
      22,
      `the kernel refused the engine program (${String(err.op)}, errno ${err.errno}, ${entries} entries): ${tail}`,
    );
  }
  return e;
}
