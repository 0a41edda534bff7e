// Spawning the built helper and driving it like the kernel side does.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReply, serializeRequest, type MboxRequest } from '../../src/ipc/mbox.js';
import { addressOf } from '../../src/sys/libc.js';
import { ZERO_COUNTERS, type Table } from '../../src/translate/ir.js';
import { serializeReplace } from '../../src/translate/serializer.js';
import { initialTable, tableToBlob } from '../../src/translate/table.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'make build' (make test does)`);
  if (!existsSync(join(ROOT, 'native', 'build', 'shim.so')))
    throw new Error('native/build/shim.so is missing: run make');
}

/** The helper as the kernel module runs it: requests on stdin, replies on stdout. */
export class UmhClient {
  readonly child: ChildProcess;
  private buf = Buffer.alloc(0);
  private waiters: ((b: Buffer) => void)[] = [];
  readonly stderr: string[] = [];

  /**
   * `args` are the helper's options: store-only unless a test means to attach BPF, and a state
   * directory of its own so no run inherits another's tables.
   */
  constructor(
    args: string[] = ['--store-only', '--state-dir', mkdtempSync(join(tmpdir(), 'umh-state-'))],
  ) {
    this.child = spawn(process.execPath, [CLI, 'umh', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 4 && this.waiters.length) {
        const w = this.waiters.shift();
        const reply = this.buf.subarray(0, 4);
        this.buf = this.buf.subarray(4);
        w?.(reply);
      }
    });
    this.child.stderr?.on('data', (c: Buffer) => this.stderr.push(c.toString()));
  }

  /** Sends raw bytes (possibly a request in pieces). */
  send(bytes: Buffer): void {
    this.child.stdin?.write(bytes);
  }

  reply(): Promise<number> {
    return new Promise((resolve) => this.waiters.push((b) => resolve(parseReply(b))));
  }

  async request(req: MboxRequest): Promise<number> {
    const r = this.reply();
    this.send(serializeRequest(req));
    return r;
  }

  close(): Promise<number | null> {
    return new Promise((resolve) => {
      this.child.on('exit', (code) => resolve(code));
      this.child.stdin?.end();
    });
  }
}

export function netnsAdd(name: string): void {
  execFileSync('ip', ['netns', 'add', name]);
}

export function netnsDel(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** The arguments of a test's own BPF daemon: its socket, pins and saved tables, apart. */
export function daemonArgs(
  sock: string,
  pins: string,
  stateDir: string,
  extra: readonly string[] = [],
): string[] {
  return ['daemon', '--socket', sock, '--pin-root', pins, '--state-dir', stateDir, ...extra];
}

const name32 = (s: string): Buffer => {
  const b = Buffer.alloc(32);
  b.write(s, 'latin1');
  return b;
};

/** A filter table with `rules` rules in INPUT, each `-p tcp -j DROP`. */
export function withDropRule(rules = 1): Table {
  const base = initialTable('filter');
  const input = base.chains[0];
  if (!input || input.kind !== 'builtin') throw new Error('no INPUT');
  const rule = {
    ip: {
      src: 0,
      srcMask: 0,
      dst: 0,
      dstMask: 0,
      inIface: { name: '', mask: new Uint8Array(16) },
      outIface: { name: '', mask: new Uint8Array(16) },
      proto: 6,
      flags: 0,
      invflags: 0,
    },
    nfcache: 0,
    matches: [],
    target: { kind: 'verdict', verdict: 'DROP' } as const,
    counters: ZERO_COUNTERS,
    slack: 0,
  };
  const all = Array.from({ length: rules }, () => rule);
  return { ...base, chains: [{ ...input, rules: all }, ...base.chains.slice(1)] };
}

export function replaceBuf(table: Table, numCounters: number, counters: Buffer): Buffer {
  const enc = tableToBlob(table);
  return serializeReplace({
    name: name32(table.name),
    validHooks: table.validHooks,
    numEntries: enc.numEntries,
    size: enc.size,
    hookEntry: enc.hookEntry,
    underflow: enc.underflow,
    numCounters,
    counters: addressOf(counters),
    entries: enc.entries,
  });
}
