// The helper's resident memory: VmRSS of the daemon just started and holding each ruleset (after
// its restore and -A commands, then settled 3 s later), and its peak (VmHWM), sampled in
// apply.ts's rounds.
import { num, printTable, spread } from './common.js';
import type { ApplyResult } from './apply.js';

export function printRss(results: readonly ApplyResult[]): void {
  printTable(
    'Helper RSS (MB, /proc/PID/status), one fresh daemon per round',
    [
      'ruleset',
      'rules',
      'idle min',
      'median',
      'after -A min',
      'median',
      'settled min',
      'median',
      'peak max',
    ],
    results.map((r) => {
      const idle = spread(r.memory.idle);
      const held = spread(r.memory.held);
      const settled = spread(r.memory.settled);
      return [
        r.file,
        String(r.rules),
        num(idle.min),
        num(idle.median),
        num(held.min),
        num(held.median),
        num(settled.min),
        num(settled.median),
        num(Math.max(...r.memory.peak)),
      ];
    }),
  );
}
