// Structural mutations of a real iptables blob (offsets, sizes, verdicts, jumps, revisions,
// hooks, underflows, entry count, proto) sent to both the kernel's SET_REPLACE and checkReplace:
// the errno must be the same, and when the kernel accepts, our IR must re-encode to the bytes
// the kernel's GET_ENTRIES/GET_INFO return. Seeded, so a failure reproduces.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { XtError } from '../src/translate/errno.js';
import { encodeGetinfo, tableToBlob } from '../src/translate/table.js';
import { checkReplace } from '../src/translate/validate.js';
import { baseBlob, DELTAS, FIELDS, mutate, PICKS } from './fuzz/blob.js';

const NS = `cdc-fuzz-${process.pid}`;
let dir = '';
let set = '';
let dump = '';
let base: Buffer = Buffer.alloc(0);
let offsets: readonly number[] = [];

function sh(args: string[], input?: Buffer | string): string {
  return execFileSync('ip', ['netns', 'exec', NS, ...args], { input, encoding: 'utf8' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdc-fuzz-'));
  set = join(dir, 'set');
  dump = join(dir, 'dump');
  execFileSync('gcc', ['-o', set, join(import.meta.dirname, 'helpers', 'cdc-set-replace.c')]);
  execFileSync('gcc', ['-o', dump, join(import.meta.dirname, 'helpers', 'cdc-dump-table.c')]);
  execFileSync('ip', ['netns', 'add', NS]);
  ({ blob: base, offsets } = baseBlob(NS, dump));
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mutation = fc.tuple(
  fc.nat(FIELDS - 1),
  fc.nat(PICKS - 1),
  fc.nat(PICKS - 1),
  fc.constantFrom(...DELTAS),
);

function ours(b: Buffer): number {
  try {
    checkReplace(b);
    return 0;
  } catch (e) {
    if (e instanceof XtError) return e.errno;
    throw e;
  }
}

// A fresh seed each run (printed); VALIDATE_SEED=<n> replays one.
const SEED = Number(process.env.VALIDATE_SEED ?? Date.now() % 2 ** 31);
const RUNS = 2000;

it(`${RUNS} mutated blobs: same errno as the kernel, same GET_ENTRIES when accepted`, () => {
  const seen = new Map<number, number>();
  let cases = 0;
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 2 }), (muts) => {
      const b = Buffer.from(base);
      for (const m of muts) mutate(b, offsets, m);
      const kernel = Number(sh([set, 'auto'], b));
      cases++;
      seen.set(kernel, (seen.get(kernel) ?? 0) + 1);
      expect(ours(b)).toBe(kernel);
      if (kernel === 0) {
        const [info, entries] = sh([dump, 'filter']).split('\n');
        const table = checkReplace(b);
        expect(tableToBlob(table).entries.toString('hex')).toBe(entries);
        expect(encodeGetinfo(table).toString('hex')).toBe(info);
      }
    }),
    { numRuns: RUNS, seed: SEED },
  );
  console.log(
    `validate-differential: ${cases} cases, 0 disagreements, seed ${SEED} ` +
      `(kernel answers: ${[...seen].map(([errno, n]) => `${errno}×${n}`).join(' ')})`,
  );
  // The run must exercise both sides: accepted blobs and several distinct refusals.
  expect(seen.get(0) ?? 0).toBeGreaterThan(20);
  expect(seen.size).toBeGreaterThanOrEqual(3);
}, 300_000);
