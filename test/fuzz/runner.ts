// The fuzz runner: cases from cases.ts sent by fuzz-client.c to the kernel's iptables (in a
// throwaway netns) and to the real daemon (BPF backend, its own socket, pins and state), every
// answer compared. A disagreement is a different errno, different GET_INFO/GET_ENTRIES bytes
// or old counters after a success, or a table that differs when read back after the case. A
// helper restart is the daemon dying (it is restarted, counted and the case named).
// As a program: `node dist/test/fuzz/runner.js [--seed S] [--cases N] [--case I]` (make fuzz).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { IPT_SO_SET_REPLACE } from '../../src/translate/abi.js';
import { EOPNOTSUPP, errnoName } from '../../src/translate/errno.js';
import { daemonArgs, netnsAdd, netnsDel } from '../ipc/helpers.js';
import { baseBlob, type BaseBlob } from './blob.js';
import {
  caseAt,
  describeOp,
  encodeCase,
  KIND_BOTH,
  KIND_HEALTH,
  KIND_HELPER,
  u32s,
  type Case,
} from './cases.js';

/** The repository (this file runs from test/ under vitest and from dist/test/ as a program). */
const ROOT = ((): string => {
  let d = import.meta.dirname;
  while (!existsSync(join(d, 'package.json'))) d = dirname(d);
  return d;
})();
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const HERE = join(ROOT, 'test', 'fuzz');

const HELPER_LOST = -0x80000000;
const HELPER_DOWN = -0x7fffffff;
const CHECK_ALL = 7;
const BATCH = 256;
/** One in 200 blobs our validator accepts is sent: about one BPF apply per 800 cases. */
export const KEEP = 0.005;
const LOG_MAX = 64 << 20;

export interface FuzzOptions {
  readonly seed: number;
  readonly cases: number;
  /** Share of the blobs our validator accepts that are sent (cases.ts `replace`). */
  readonly keep: number;
  /** Run only this case (a replay), printing every answer. */
  readonly only?: number;
  readonly log?: (line: string) => void;
}

export interface Disagreement {
  readonly index: number;
  readonly report: string;
}

export interface FuzzSummary {
  readonly seed: number;
  readonly cases: number;
  readonly ops: number;
  readonly disagreements: readonly Disagreement[];
  readonly restarts: number;
  /** SET_REPLACEs the kernel took and the helper refused as untranslatable (EOPNOTSUPP). */
  readonly unsupported: number;
  /** Per family, how often the kernel accepted every sockopt of the case. */
  readonly accepted: Readonly<Record<string, number>>;
  /** Kernel errnos over all ops sent to both. */
  readonly kernel: ReadonlyMap<number, number>;
  readonly ms: number;
}

export function summaryLine(s: FuzzSummary): string {
  const acc = Object.entries(s.accepted)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const errs = [...s.kernel]
    .sort((a, b) => b[1] - a[1])
    .map(([e, n]) => `${e === 0 ? 'ok' : errnoName(e)} ${n}`)
    .join(', ');
  const secs = s.ms / 1000;
  return (
    `fuzz: ${s.cases} cases, ${s.disagreements.length} disagreements, ${s.restarts} helper restarts, ` +
    `seed ${s.seed} (${s.ops} sockopts; ${s.unsupported} replaces refused as untranslatable; accepted by both: ${acc}; kernel: ${errs}; ` +
    `${secs.toFixed(1)} s, ${Math.round(s.cases / secs)} cases/s)`
  );
}

/** Bytes from a stream, read exactly. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private want: { n: number; resolve: (b: Buffer) => void } | undefined;
  private ended = false;
  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (c: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
      this.pump();
    });
    stream.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }
  private pump(): void {
    const w = this.want;
    if (w && this.buf.length >= w.n) {
      this.want = undefined;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.resolve(out);
    } else if (w && this.ended) {
      throw new Error('fuzz-client exited');
    }
  }
  read(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.want = { n, resolve };
      this.pump();
    });
  }
}

/** The netns, the daemon and the client; `close` removes them all. */
class Rig {
  readonly tag = `${process.pid}`;
  /** The kernel's table lives in `ns`, the helper's in `helperNs`. */
  readonly ns = `fuzz-${this.tag}`;
  readonly helperNs = `fuzz-helper-${this.tag}`;
  readonly pins = `/sys/fs/bpf/bpfilter-fuzz-${this.tag}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  readonly sock = join(this.dir, 'bpfilter.sock');
  readonly logFile = join(this.dir, 'daemon.log');
  daemon: ChildProcess | undefined;
  client: ChildProcess | undefined;
  reader: Reader | undefined;
  base: BaseBlob | undefined;
  private closing = false;

  async open(): Promise<void> {
    const clientBin = join(this.dir, 'fuzz-client');
    const dump = join(this.dir, 'dump');
    execFileSync('gcc', ['-O2', '-o', clientBin, join(HERE, 'fuzz-client.c')]);
    execFileSync('gcc', ['-o', dump, join(ROOT, 'test', 'helpers', 'cdc-dump-table.c')]);
    const scratch = `fuzz-base-${this.tag}`;
    netnsAdd(scratch);
    try {
      this.base = baseBlob(scratch, dump);
    } finally {
      netnsDel(scratch);
    }
    netnsAdd(this.ns);
    netnsAdd(this.helperNs);
    await this.startDaemon();
    const helperNs = `/run/netns/${this.helperNs}`;
    this.client = spawn('ip', ['netns', 'exec', this.ns, clientBin, this.sock, helperNs], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.client.on('exit', (code, signal) => {
      if (!this.closing) process.stderr.write(`fuzz: fuzz-client exited (${signal ?? code})\n`);
    });
    this.reader = new Reader(this.client.stdout as NodeJS.ReadableStream);
    const blob = this.base.blob;
    this.send(Buffer.concat([u32s([0xffffffff, blob.length]), blob]));
    await this.reader.read(4);
    await this.reset();
  }

  /** Both sides back to the base table; throws unless both took it. */
  async reset(): Promise<void> {
    this.send(u32s([0xfffffffe]));
    const bits = (await this.reader?.read(4))?.readUInt32LE(0) ?? 0;
    if ((bits & 4) === 0) throw new Error(`could not reset both tables to the base (${bits})`);
  }

  async startDaemon(): Promise<void> {
    rmSync(this.sock, { force: true });
    const fd = openSync(this.logFile, 'a');
    this.daemon = spawn(
      process.execPath,
      [CLI, ...daemonArgs(this.sock, this.pins, join(this.dir, 'state'))],
      { stdio: ['ignore', 'ignore', fd] },
    );
    closeSync(fd);
    for (let i = 0; i < 200 && !existsSync(this.sock); i++) await sleep(50);
    if (!existsSync(this.sock)) throw new Error(`daemon did not start: ${this.logTail()}`);
  }

  async restartDaemon(): Promise<string> {
    const tail = this.logTail();
    this.daemon?.kill('SIGKILL');
    await this.startDaemon();
    await this.reset();
    return tail;
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '';
    }
  }

  /** The daemon logs a line per request: keep its log from filling the disk. */
  trimLog(): void {
    if (existsSync(this.logFile) && statSync(this.logFile).size > LOG_MAX)
      truncateSync(this.logFile, 0);
  }

  send(b: Buffer): void {
    this.client?.stdin?.write(b);
  }

  close(): void {
    this.closing = true;
    const keep = process.env.FUZZ_LOG;
    if (keep && existsSync(this.logFile)) copyFileSync(this.logFile, keep);
    this.client?.kill();
    this.daemon?.kill();
    netnsDel(this.ns);
    netnsDel(this.helperNs);
    rmSync(this.pins, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Answer {
  readonly kernel: number;
  readonly helper: number;
  readonly equal: boolean;
}

function errText(e: number): string {
  return e === 0 ? '0' : `${errnoName(e)} (${e})`;
}

function helperText(h: number): string {
  if (h === HELPER_LOST) return 'connection lost';
  if (h === HELPER_DOWN) return 'unreachable';
  return h <= 0 ? errText(-h) : `${h}`;
}

/**
 * A replace the kernel took and the helper refused with EOPNOTSUPP: a target or match the
 * translator does not run in BPF (docs/translator.md, "Not translated"), counted apart.
 */
function untranslatable(o: Case['ops'][number], a: Answer | undefined): boolean {
  return (
    a !== undefined &&
    o.isSet &&
    o.cmd === IPT_SO_SET_REPLACE &&
    a.kernel === 0 &&
    a.helper === -EOPNOTSUPP
  );
}

/** Why this case disagrees, or undefined. */
function verdict(
  c: Case,
  answers: readonly Answer[],
  checked: boolean,
  bits: number,
): string | undefined {
  const out: string[] = [];
  c.ops.forEach((o, i) => {
    const a = answers[i];
    if (!a) return;
    if (o.kind === KIND_BOTH) {
      if (untranslatable(o, a)) return;
      if (a.helper !== -a.kernel)
        out.push(`op ${i}: kernel ${errText(a.kernel)}, helper ${helperText(a.helper)}`);
      else if (!a.equal) out.push(`op ${i}: both 0, but the bytes returned differ`);
    } else if (o.kind === KIND_HELPER && a.helper !== -(o.expect ?? 0)) {
      out.push(`op ${i}: helper ${helperText(a.helper)}, expected ${errText(o.expect ?? 0)}`);
    } else if (o.kind === KIND_HEALTH && a.helper !== 0) {
      out.push(`op ${i}: health check answered ${helperText(a.helper)}`);
    }
  });
  // The kernel holds the table the helper refused: only the reset must work.
  const want = c.ops.some((o, i) => untranslatable(o, answers[i])) ? 4 : CHECK_ALL;
  if (checked && (bits & want) !== want) {
    if ((bits & 1) === 0) out.push('after the case: GET_INFO differs');
    if ((bits & 2) === 0) out.push('after the case: GET_ENTRIES differs');
    if ((bits & 4) === 0) out.push('after the case: the reset to the base table failed');
  }
  return out.length ? out.join('; ') : undefined;
}

function report(
  seed: number,
  keep: number,
  index: number,
  c: Case,
  answers: readonly Answer[],
  why: string,
): string {
  const lines = [
    `case ${index} (${c.family}): ${why}`,
    ...c.ops.map((o, i) => {
      const a = answers[i];
      const got = a
        ? ` -> kernel ${a.kernel < 0 ? '-' : errText(a.kernel)}, helper ${helperText(a.helper)}`
        : '';
      return `  op ${i}: ${describeOp(o)}${got}`;
    }),
    `  replay: make fuzz SEED=${seed} CASE=${index}${keep === KEEP ? '' : ` KEEP=${keep}`}`,
  ];
  return lines.join('\n');
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const rig = new Rig();
  const started = Date.now();
  const disagreements: Disagreement[] = [];
  const accepted: Record<string, number> = {};
  const kernel = new Map<number, number>();
  let restarts = 0;
  let unsupported = 0;
  let ops = 0;
  let done = 0;
  try {
    await rig.open();
    const base = rig.base as BaseBlob;
    const reader = rig.reader as Reader;
    const first = opts.only ?? 0;
    const end = opts.only !== undefined ? opts.only + 1 : opts.cases;
    let lastTick = Date.now();
    for (let at = first; at < end;) {
      const batch: { index: number; c: Case }[] = [];
      for (let i = at; i < Math.min(end, at + BATCH); i++)
        batch.push({ index: i, c: caseAt(opts.seed, i, base, opts.keep) });
      rig.send(Buffer.concat(batch.map((b) => encodeCase(b.c))));
      let lostAt: number | undefined;
      for (const { index, c } of batch) {
        const raw = await reader.read(12 * c.ops.length + 8);
        const answers: Answer[] = c.ops.map((_, i) => ({
          kernel: raw.readInt32LE(12 * i),
          helper: raw.readInt32LE(12 * i + 4),
          equal: raw.readUInt32LE(12 * i + 8) === 1,
        }));
        const checked = raw.readUInt32LE(12 * c.ops.length) === 1;
        const bits = raw.readUInt32LE(12 * c.ops.length + 4);
        if (lostAt !== undefined) continue;
        if (answers.some((a) => a.helper === HELPER_LOST || a.helper === HELPER_DOWN)) {
          lostAt = index;
          continue;
        }
        done++;
        ops += c.ops.length;
        for (const [i, o] of c.ops.entries()) {
          const k = answers[i]?.kernel ?? -1;
          if (o.kind === KIND_BOTH) kernel.set(k, (kernel.get(k) ?? 0) + 1);
          if (untranslatable(o, answers[i])) unsupported++;
        }
        if (c.ops.every((o, i) => o.kind === KIND_BOTH && answers[i]?.kernel === 0))
          accepted[c.family] = (accepted[c.family] ?? 0) + 1;
        const why = verdict(c, answers, checked, bits);
        if (opts.only !== undefined) {
          log(report(opts.seed, opts.keep, index, c, answers, why ?? 'agree'));
          log(`the helper's log:\n${rig.logTail()}`);
        }
        if (why !== undefined) {
          const r = report(opts.seed, opts.keep, index, c, answers, why);
          disagreements.push({ index, report: r });
          if (disagreements.length <= 20 && opts.only === undefined) log(r);
        }
      }
      if (lostAt !== undefined) {
        restarts++;
        const tail = await rig.restartDaemon();
        const c = caseAt(opts.seed, lostAt, base, opts.keep);
        log(`helper died at case ${lostAt} (${c.family}); restarted. Its last log lines:\n${tail}`);
        log(report(opts.seed, opts.keep, lostAt, c, [], 'the helper died'));
        at = lostAt + 1;
      } else {
        at += batch.length;
      }
      if (Date.now() - lastTick > 10_000) {
        lastTick = Date.now();
        rig.trimLog();
        const rate = Math.round(done / ((Date.now() - started) / 1000));
        log(
          `fuzz: ${done}/${end - first} cases, ${disagreements.length} disagreements, ${restarts} helper restarts (${rate} cases/s)`,
        );
      }
    }
  } finally {
    rig.close();
  }
  return {
    seed: opts.seed,
    cases: done,
    ops,
    disagreements,
    restarts,
    unsupported,
    accepted,
    kernel,
    ms: Date.now() - started,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const seedArg = arg('--seed') ?? process.env.FUZZ_SEED;
  const seed =
    seedArg !== undefined && seedArg !== ''
      ? Number(seedArg) >>> 0
      : (Date.now() ^ (process.pid << 16)) >>> 0;
  const only = arg('--case');
  const s = await runFuzz({
    seed,
    cases: Number(arg('--cases') ?? 1_000_000),
    keep: Number(arg('--keep') ?? KEEP),
    only: only !== undefined && only !== '' ? Number(only) : undefined,
  });
  // Disagreements by kind (numbers left out), each with its first case.
  const kinds = new Map<string, { n: number; first: number }>();
  for (const d of s.disagreements) {
    const k = (d.report.split('\n')[0] ?? '').replace(/^case \d+ /, '');
    const v = kinds.get(k) ?? { n: 0, first: d.index };
    v.n++;
    kinds.set(k, v);
  }
  for (const [k, v] of kinds) process.stdout.write(`  ${v.n}× ${k} (first: case ${v.first})\n`);
  process.stdout.write(`${summaryLine(s)}\n`);
  return s.disagreements.length || s.restarts ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`fuzz: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
