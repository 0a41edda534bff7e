// Argument checks of GET_INFO, GET_ENTRIES, GET_REVISION and SET_ADD_COUNTERS: our errno against
// the real kernel's, in a fresh netns whose filter table is the initial one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EAGAIN, EINVAL, ENOENT, XtError } from '../src/translate/errno.js';
import { revisionFor } from '../src/translate/ext/registry.js';
import { initialTable, laidOut } from '../src/translate/table.js';
import { viewOf } from '../src/translate/view.js';
import {
  checkAddCounters,
  checkAddCountersAgainst,
  checkGetEntries,
  checkGetEntriesAgainst,
  checkGetInfo,
  checkGetRevision,
} from '../src/translate/validate.js';

const NS = `cdc-opt-${process.pid}`;
let dir = '';
let tool = '';
type Op = 'add' | 'info' | 'entries' | 'revtarget';

const live = initialTable('filter');
const lookup = (name: string) => (name === 'filter' ? live : undefined);
const view = (name: string) => (name === 'filter' ? viewOf(live) : undefined);
const layout = (name: string) => (name === 'filter' ? laidOut(live) : undefined);

function ours(op: Op, buf: Buffer): number {
  try {
    if (op === 'add')
      checkAddCountersAgainst(view(checkAddCounters(buf).name), checkAddCounters(buf));
    if (op === 'info') {
      const name = checkGetInfo(buf);
      if (lookup(name) === undefined) throw new XtError(ENOENT, name);
    }
    if (op === 'entries')
      checkGetEntriesAgainst(layout(checkGetEntries(buf).name), checkGetEntries(buf));
    if (op === 'revtarget') {
      const r = checkGetRevision(buf);
      revisionFor('target', r.name, r.revision);
    }
    return 0;
  } catch (e) {
    if (e instanceof XtError) return e.errno;
    throw e;
  }
}

function req(name: string, len: number, u32at32?: number): Buffer {
  const b = Buffer.alloc(len);
  b.write(name, 0, Math.min(len, 31), 'latin1');
  if (u32at32 !== undefined && len >= 36) b.writeUInt32LE(u32at32, 32);
  return b;
}

const CASES: [string, Op, Buffer, number][] = [
  ['ADD_COUNTERS shorter than its header', 'add', req('filter', 39), EINVAL],
  ['ADD_COUNTERS with num_counters 0', 'add', req('filter', 40, 0), EINVAL],
  ['ADD_COUNTERS with num_counters 0, unknown table', 'add', req('nosuch', 40, 0), EINVAL],
  ['ADD_COUNTERS length not 40 + 16n', 'add', req('filter', 40 + 16, 2), EINVAL],
  ['ADD_COUNTERS for the wrong entry count', 'add', req('filter', 40 + 32, 2), EINVAL],
  ['ADD_COUNTERS for every entry', 'add', req('filter', 40 + 64, 4), 0],
  ['ADD_COUNTERS for an unknown table', 'add', req('nosuch', 40 + 64, 4), ENOENT],
  ['GET_INFO', 'info', req('filter', 84), 0],
  ['GET_INFO one byte short', 'info', req('filter', 83), EINVAL],
  ['GET_INFO one byte long', 'info', req('filter', 85), EINVAL],
  ['GET_INFO of an unknown table', 'info', req('nosuch', 84), ENOENT],
  ['GET_ENTRIES shorter than its header', 'entries', req('filter', 39), EINVAL],
  ['GET_ENTRIES of the right size', 'entries', req('filter', 40 + 632, 632), 0],
  ['GET_ENTRIES with a stale size', 'entries', req('filter', 40 + 600, 600), EAGAIN],
  ['GET_ENTRIES optlen != 40 + size', 'entries', req('filter', 40 + 640, 632), EINVAL],
  ['GET_ENTRIES of an unknown table', 'entries', req('nosuch', 40 + 632, 632), ENOENT],
  ['GET_REVISION_TARGET', 'revtarget', req('ERROR', 30), 0],
  ['GET_REVISION_TARGET one byte long', 'revtarget', req('ERROR', 31), EINVAL],
  ['GET_REVISION_TARGET one byte short', 'revtarget', req('ERROR', 29), EINVAL],
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdc-opt-'));
  tool = join(dir, 'sockopt');
  execFileSync('gcc', ['-Wall', '-o', tool, join(import.meta.dirname, 'helpers', 'cdc-sockopt.c')]);
  execFileSync('ip', ['netns', 'add', NS]);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sockopt argument checks: ours = expected = kernel', () => {
  for (const [name, op, buf, errno] of CASES) {
    it(name, () => {
      const kernel = Number(
        execFileSync('ip', ['netns', 'exec', NS, tool, op], { input: buf, encoding: 'utf8' }),
      );
      expect({ ours: ours(op, buf), kernel }).toEqual({ ours: errno, kernel: errno });
    });
  }
});
