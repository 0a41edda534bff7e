// Extension lookups as the kernel does them: GET_REVISION (revisionFor) and the lookup half of
// SET_REPLACE (findExtension), compared with the real kernel for every registered extension.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EINVAL, ENOENT, EPROTONOSUPPORT, XtError } from '../src/translate/errno.js';
import { error } from '../src/translate/ext/error.js';
import { findExtension, MATCHES, revisionFor, TARGETS } from '../src/translate/ext/registry.js';
import { standard } from '../src/translate/ext/standard.js';
import type { Extension } from '../src/translate/ext/types.js';
import { ZERO_COUNTERS, type Rule, type RuleTarget, type Table } from '../src/translate/ir.js';
import { initialTable, tableToBlob } from '../src/translate/table.js';
import { checkReplace } from '../src/translate/validate.js';

const NS = `cdc-reg-${process.pid}`;
let dir = '';

function errnoOf(f: () => unknown): number {
  try {
    f();
    return 0;
  } catch (e) {
    if (e instanceof XtError) return e.errno;
    throw e;
  }
}

function compile(name: string): string {
  const out = join(dir, name);
  execFileSync('gcc', ['-Wall', '-o', out, join(import.meta.dirname, 'helpers', `${name}.c`)]);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdc-reg-'));
  execFileSync('ip', ['netns', 'add', NS]);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('findExtension / revisionFor', () => {
  it('finds the standard and ERROR targets at revision 0', () => {
    expect(findExtension('target', '', 0)).toBe(standard);
    expect(findExtension('target', 'ERROR', 0)).toBe(error);
    expect(revisionFor('target', 'ERROR', 0)).toBe(0);
  });
  it('unknown name → ENOENT; IPv4 extension at another revision → ENOENT', () => {
    expect(errnoOf(() => findExtension('match', 'nosuch', 0))).toBe(ENOENT);
    expect(errnoOf(() => findExtension('target', '', 1))).toBe(ENOENT);
    expect(errnoOf(() => revisionFor('match', 'nosuch', 0))).toBe(ENOENT);
  });
  it('a name without NUL in 29 bytes → EINVAL', () => {
    expect(errnoOf(() => findExtension('match', 'x'.repeat(29), 0))).toBe(EINVAL);
  });
  it('GET_REVISION of a revision we lack → EPROTONOSUPPORT', () => {
    expect(errnoOf(() => revisionFor('target', 'ERROR', 1))).toBe(EPROTONOSUPPORT);
  });
});

type Ext = Extension<unknown>;
const registered = (): Ext[] => [...MATCHES, ...TARGETS];

describe('registered extensions agree with the kernel', () => {
  it('GET_REVISION for revisions 0..3 of every registered extension (and an unknown one)', () => {
    const rev = compile('cdc-get-revision');
    const queries: [Ext['kind'], string, number][] = [['match', 'nosuch', 0]];
    for (const e of registered()) for (let r = 0; r < 4; r++) queries.push([e.kind, e.name, r]);
    const input = queries.map(([k, n, r]) => `${k} ${n === '' ? '-' : n} ${r}`).join('\n');
    const kernel = execFileSync('ip', ['netns', 'exec', NS, rev], { input, encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    // The kernel's getsockopt answers 0 (not the best revision) when the revision exists.
    const ours = queries.map(([k, n, r]) => {
      const e = errnoOf(() => revisionFor(k, n, r));
      return e === 0 ? 0 : -e;
    });
    expect(ours).toEqual(kernel);
  });

  it('SET_REPLACE with an unsupported revision: same errno (ENOENT or EPROTOTYPE)', () => {
    const set = compile('cdc-set-replace');
    const cases: { kind: Ext['kind']; name: string; revision: number }[] = [];
    for (const e of registered()) {
      if (e.name === '' || e.name === 'ERROR') continue; // their layout checks come first
      for (let r = 0; r < 4; r++)
        if (!e.revisions.includes(r)) cases.push({ kind: e.kind, name: e.name, revision: r });
    }
    for (const c of cases) {
      const buf = replaceWith(c.kind, c.name, c.revision);
      const kernel = Number(
        execFileSync('ip', ['netns', 'exec', NS, set, 'auto'], { input: buf, encoding: 'utf8' }),
      );
      expect({ ...c, errno: errnoOf(() => checkReplace(buf)) }).toEqual({ ...c, errno: kernel });
    }
  });
});

/** A filter table whose INPUT rule uses (name, revision) as its match or target, 8 payload bytes. */
function replaceWith(kind: Ext['kind'], name: string, revision: number): Buffer {
  const fake: Ext = {
    kind,
    name,
    revisions: [revision],
    dataSize: () => 8,
    userSize: () => 8,
    decode: (d) => d,
    encode: () => Buffer.alloc(8),
    check: () => undefined,
    format: () => '',
  };
  const use = { extension: fake, revision, value: null };
  const any = { name: '', mask: new Uint8Array(16) };
  const ip = {
    src: 0,
    srcMask: 0,
    dst: 0,
    dstMask: 0,
    inIface: any,
    outIface: any,
    proto: 0,
    flags: 0,
    invflags: 0,
  };
  const target: RuleTarget =
    kind === 'target' ? { kind: 'extension', target: use } : { kind: 'verdict', verdict: 'ACCEPT' };
  const rule: Rule = {
    ip,
    nfcache: 0,
    matches: kind === 'match' ? [use] : [],
    target,
    counters: ZERO_COUNTERS,
    slack: 0,
  };
  const base = initialTable('filter');
  const t: Table = {
    ...base,
    chains: base.chains.map((c) => (c.name === 'INPUT' ? { ...c, rules: [rule] } : c)),
  };
  const enc = tableToBlob(t);
  const hdr = Buffer.alloc(96);
  hdr.write('filter', 'latin1');
  hdr.writeUInt32LE(t.validHooks, 32);
  hdr.writeUInt32LE(enc.numEntries, 36);
  hdr.writeUInt32LE(enc.size, 40);
  enc.hookEntry.forEach((v, h) => hdr.writeUInt32LE(v, 44 + 4 * h));
  enc.underflow.forEach((v, h) => hdr.writeUInt32LE(v, 64 + 4 * h));
  hdr.writeUInt32LE(1, 84);
  return Buffer.concat([hdr, enc.entries]);
}
