// The helper's resident memory: VmRSS of the daemon just started and holding each ruleset (after
// its restore and -A commands), and its peak (VmHWM), sampled in apply.ts's rounds.
import { num, printTable, spread } from './common.js';
import type { ApplyResult } from './apply.js';

export function printRss(results: readonly ApplyResult[]): void {
  printTable(
    'Helper RSS (MB, /proc/PID/status), one fresh daemon per round',
    ['ruleset', 'rules', 'idle min', 'median', 'holding min', 'median', 'peak max'],
    results.map((r) => {
      const [idle, held] = [spread(r.memory.idle), spread(r.memory.held)];
      return [
        r.file,
        String(r.rules),
        num(idle.min),
        num(idle.median),
        num(held.min),
        num(held.median),
        num(Math.max(...r.memory.peak)),
      ];
    }),
  );
}
