// Table → plan → classifier → image: everything of a replace short of the kernel. Pure (no
// syscall), so it runs on the compute worker (engine/compute.ts) as well as in tests.
import { classify, type Classified } from '../../translate/classify/blocks.js';
import type { TreeCache } from '../../translate/classify/incremental.js';
import type { Table } from '../../translate/ir.js';
import { planTable, type Plan } from '../../translate/plan.js';
import { EOPNOTSUPP, XtError } from '../../translate/errno.js';
import {
  buildImage,
  kindsOf,
  needs,
  planNeeds,
  refusals,
  type PlanNeeds,
  type Capacity,
  type Image,
  type Kinds,
  type RuleWords,
} from './image.js';
import type { TableSlots } from './tables.js';

/** Frames per pool entry for a plan that nests `depth` jumps: a power of two, at least 32. */
export function poolDepthFor(depth: number): number {
  let d = 32;
  while (d < depth + 1) d *= 2;
  return d;
}

/** A table planned: enough to make its programs (kinds, hooks, jump depth), not its maps. */
export interface Planned {
  readonly plan: Plan;
  readonly kinds: Kinds;
  readonly poolDepth: number;
  /** planNeeds of the plan: asked by likelyRoom, needs and the image, computed once. */
  readonly own: PlanNeeds;
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
  const kinds = kindsOf({ plan });
  return { plan, kinds, poolDepth: poolDepthFor(plan.maxDepth), own: planNeeds(plan, kinds) };
}

/**
 * The planned table classified: everything short of the kernel. `trees` carries classifier
 * trees over from the table compiled before (classify/incremental.ts).
 */
export function classified(p: Planned, trees?: TreeCache): Compiled {
  const c = classify(p.plan, trees);
  return { ...p, classified: c, need: needs(c, p.kinds, p.own) };
}

export function compile(table: Table, hz: number | undefined, trees?: TreeCache): Compiled {
  return classified(planFor(table, hz), trees);
}

/** The image of `c` for `half` of maps sized `cap`, with the namespace's table slots. */
export function image(
  c: Compiled,
  cap: Capacity,
  half: number,
  hz: number | undefined,
  tables?: TableSlots,
  words?: RuleWords,
): Image {
  return buildImage(c.classified, c.kinds, cap, half, hz, tables, c.need, words);
}
