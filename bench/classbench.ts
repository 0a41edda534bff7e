// The ClassBench sets in bench/data (see its README): iptables-restore rulesets and the traces of
// headers generated from them, gzip-compressed.
//
// A ruleset of N rules is the file's first N `-A` lines, between its own header (the policies,
// all ACCEPT) and COMMIT. The files' last rules are wide prefixes ending in a catch-all, so a
// prefix of the file is not the file with fewer filters: it is what the first N filters decide,
// the rest falling to the ACCEPT policy. N ≤ 10,000 comes from the 10k file and larger N from
// the 100k one; an N past a file's rules (9,801 in acl1 10k, 99,376 in acl1 100k) is the whole
// file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT } from './common.js';

export const SETS = ['acl1', 'fw1', 'ipc1'] as const;
export type SetName = (typeof SETS)[number];

/** The 100k file exists for acl1 only. */
export const BIG: Readonly<Partial<Record<SetName, true>>> = { acl1: true };

/** One trace header: the 5-tuple and the filter ClassBench made it from. */
export interface Header {
  readonly src: number;
  readonly dst: number;
  readonly sport: number;
  readonly dport: number;
  readonly proto: number;
  /** 0-based index of the filter it came from (not always its first match). */
  readonly filter: number;
}

/** Which file of `set` holds a ruleset of `n` rules (and the trace generated with it). */
export function fileOf(set: SetName, n: number): string {
  if (n <= 10_000 || !BIG[set]) return `${set}_10k`;
  return `${set}_100k`;
}

const cache = new Map<string, string>();

function read(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = gunzipSync(readFileSync(join(ROOT, 'bench', 'data', `${name}.gz`))).toString('utf8');
    cache.set(name, text);
  }
  return text;
}

/** The whole rules file of `file` (e.g. "acl1_10k"), as iptables-restore reads it. */
export const rulesText = (file: string): string => read(`${file}.rules`);

/** `-A` lines of a rules file. */
export function ruleCount(file: string): number {
  return rulesText(file)
    .split('\n')
    .filter((l) => l.startsWith('-A ')).length;
}

/** The restore text of the first `n` rules of `set` (see top) and how many rules it has. */
export function ruleset(set: SetName, n: number): { text: string; rules: number } {
  const lines = rulesText(fileOf(set, n)).split('\n');
  const head = lines.filter((l) => l.startsWith('*') || l.startsWith(':'));
  const rules = lines.filter((l) => l.startsWith('-A ')).slice(0, n);
  return { text: [...head, ...rules, 'COMMIT', ''].join('\n'), rules: rules.length };
}

/** The headers of a trace file (e.g. "acl1_10k"). */
export function trace(file: string): Header[] {
  const out: Header[] = [];
  for (const line of read(`${file}.trace`).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split('\t').map(Number);
    if (f.length < 7 || f.some((v) => !Number.isInteger(v))) {
      throw new Error(`${file}.trace: bad line "${line}"`);
    }
    const [src, dst, sport, dport, proto, , filter] = f as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    out.push({ src, dst, sport, dport, proto, filter });
  }
  return out;
}

/** `count` headers spread evenly over the trace (all of them when it has fewer). */
export function sample<T>(all: readonly T[], count: number): T[] {
  if (count >= all.length) return [...all];
  return Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)] as T);
}
