// Table → plan → classifier → image, and loading that into a fresh engine instance. The backend
// keeps instances alive across replaces; tests and benchmarks load one table at a time.
import { classify, type Classified } from '../../translate/classify/blocks.js';
import type { TreeCache } from '../../translate/classify/incremental.js';
import type { Table } from '../../translate/ir.js';
import { planTable, type Plan } from '../../translate/plan.js';
import { EOPNOTSUPP, XtError } from '../../translate/errno.js';
import { Unsupported } from '../codegen/eval.js';
import type { HookFlavor } from '../codegen/flavor.js';
import { netfilterFlavor } from '../codegen/nf.js';
import { MAPS } from '../codegen/layout.js';
import {
  buildImage,
  kindsOf,
  needs,
  refusals,
  roomFor,
  type Capacity,
  type Image,
  type Kinds,
} from './image.js';
import { EngineInstance, poolDepthFor, type InstanceSpec, type SharedMaps } from './instance.js';
import { planTables, type TableSlots } from './netns.js';

/** A table planned: enough to make its programs (kinds, hooks, jump depth), not its maps. */
export interface Planned {
  readonly plan: Plan;
  readonly kinds: Kinds;
  readonly poolDepth: number;
}

export interface Compiled extends Planned {
  readonly classified: Classified;
  readonly need: Capacity;
}

/**
 * The plan of `table` and the programs it takes. What the engine cannot run throws
 * XtError(EOPNOTSUPP) naming every such rule.
 */
export function planFor(table: Table, hz: number | undefined): Planned {
  const plan = planTable(table);
  const refused = refusals({ plan }, hz);
  if (refused.length > 0) {
    const says = refused.map(
      (r) => `${plan.entries[r.entry]?.source ?? `entry ${r.entry}`}: ${r.reason}`,
    );
    throw new XtError(EOPNOTSUPP, says.join('; '));
  }
  return { plan, kinds: kindsOf({ plan }), poolDepth: poolDepthFor(plan.maxDepth) };
}

/**
 * The planned table classified: everything short of the kernel. `trees` carries classifier
 * trees over from the table compiled before (classify/incremental.ts).
 */
export function classified(p: Planned, trees?: TreeCache): Compiled {
  const c = classify(p.plan, trees);
  return { ...p, classified: c, need: needs(c, p.kinds) };
}

export function compile(table: Table, hz: number | undefined, trees?: TreeCache): Compiled {
  return classified(planFor(table, hz), trees);
}

/** The image of `c` for `half` of maps sized `cap`, with the namespace's table slots. */
export function image(
  c: Compiled,
  cap: Capacity,
  half: number,
  flavor: HookFlavor,
  tables?: TableSlots,
): Image {
  return buildImage(c.classified, c.kinds, cap, half, flavor.hz, tables);
}

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
  const cap = roomFor(compiled.need);
  let instance: EngineInstance;
  try {
    instance = EngineInstance.create(instanceSpec(table.name, compiled, cap, flavor, shared));
  } catch (e) {
    throw refusal(e, compiled.classified.plan.entries.length);
  }
  const ns = instance.netns();
  const tables = planTables(compiled.classified.plan.entries, ns.tables);
  ns.prepare(tables);
  ns.commit(tables);
  const img = image(compiled, cap, 0, flavor, ns.tables);
  instance.write(img);
  instance.switchTo(img);
  const progs: number[] = [];
  for (const [hook, fd] of instance.progs) progs[hook] = fd;
  return { compiled, instance, progs, counters: instance.fd(MAPS.COUNTERS) };
}

/** A new instance for `c` (the daemon's: verified off its thread). */
export async function newInstance(
  table: string,
  c: Planned,
  cap: Capacity,
  flavor: HookFlavor,
  shared: SharedMaps,
): Promise<EngineInstance> {
  try {
    return await EngineInstance.createAsync(instanceSpec(table, c, cap, flavor, shared));
  } catch (e) {
    throw refusal(e, c.plan.entries.length);
  }
}

function instanceSpec(
  table: string,
  c: Planned,
  cap: Capacity,
  flavor: HookFlavor,
  shared: SharedMaps,
): InstanceSpec {
  return {
    table,
    hooks: c.plan.hooks,
    kinds: c.kinds,
    cap,
    poolDepth: c.poolDepth,
    flavor,
    shared,
  };
}

/** A load failure as the errno SET_REPLACE answers with and a sentence for the log. */
function refusal(e: unknown, entries: number): unknown {
  if (e instanceof Unsupported) return new XtError(EOPNOTSUPP, e.message);
  const err = e as { op?: unknown; errno?: unknown; log?: unknown };
  if (typeof err.log === 'string' && typeof err.errno === 'number') {
    const tail = err.log.split('\n').slice(-4).join(' | ');
    return new XtError(
      22,
      `the kernel refused the engine program (${String(err.op)}, errno ${err.errno}, ${entries} entries): ${tail}`,
    );
  }
  return e;
}
