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

const NS = `cdc-fuzz-${process.pid}`;
const RULES = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:logdrop - [0:0]
:web - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web" -j web
-A INPUT -p udp --dport 53 -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -m limit --limit 5/sec -j ACCEPT
-A INPUT -m ttl --ttl-gt 64 -m mark --mark 0x10/0xff -j logdrop
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A FORWARD -g web
-A web -s 1.2.3.4 -j RETURN
-A web -j ACCEPT
-A logdrop -j LOG --log-prefix "drop: "
-A logdrop -j DROP
COMMIT
`;
let dir = '';
let set = '';
let dump = '';
let base = Buffer.alloc(0);
const offsets: number[] = [];

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
  sh(['iptables-legacy-restore'], RULES);
  const [infoHex, entriesHex] = sh([dump, 'filter']).split('\n');
  const info = Buffer.from(infoHex ?? '', 'hex');
  const entries = Buffer.from(entriesHex ?? '', 'hex');
  const hdr = Buffer.alloc(96);
  info.copy(hdr, 0, 0, 36);
  hdr.writeUInt32LE(info.readUInt32LE(76), 36);
  hdr.writeUInt32LE(info.readUInt32LE(80), 40);
  info.copy(hdr, 44, 36, 76);
  hdr.writeUInt32LE(1, 84);
  base = Buffer.concat([hdr, entries]);
  for (let o = 0; o < entries.length; o += entries.readUInt16LE(o + 90)) offsets.push(o);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One structural mutation: [field, entry pick, value pick, delta pick]. */
const mutation = fc.tuple(
  fc.nat(9),
  fc.nat(1000),
  fc.nat(1000),
  fc.constantFrom(8, -8, 4, 16, -16, 1),
);

function apply(b: Buffer, [field, ep, vp, delta]: [number, number, number, number]): void {
  const e = 96 + (offsets[ep % offsets.length] ?? 0);
  const to = b.readUInt16LE(e + 88);
  const someEntry = offsets[vp % offsets.length] ?? 0;
  switch (field) {
    case 0:
      return void b.writeUInt16LE((to + delta) & 0xffff, e + 88);
    case 1:
      return void b.writeUInt16LE((b.readUInt16LE(e + 90) + delta) & 0xffff, e + 90);
    case 2:
      return void b.writeInt32LE(someEntry + (vp % 4 === 0 ? delta : 0), e + to + 32);
    case 3:
      return void b.writeInt32LE(-1 - (vp % 6), e + to + 32);
    case 4:
      if (to > 112) b.writeUInt16LE((b.readUInt16LE(e + 112) + delta) & 0xffff, e + 112);
      return;
    case 5:
      return void b.writeUInt16LE((b.readUInt16LE(e + to) + delta) & 0xffff, e + to);
    case 6:
      return void b.writeUInt8(vp % 4, (to > 112 && vp % 2 ? e + 112 : e + to) + 31);
    case 7:
      return void b.writeUInt32LE(someEntry, 44 + 4 * (ep % 10));
    case 8:
      return void b.writeUInt32LE((b.readUInt32LE(36) + (vp % 2 ? 1 : -1)) >>> 0, 36);
    default:
      b.writeUInt16LE(vp % 7, e + 80);
      b.writeUInt8(vp % 2 ? 0x40 : 0, e + 83);
  }
}

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
      for (const m of muts) apply(b, m);
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
