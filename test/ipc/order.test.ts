// Commands on one table stay in the order they arrived, whatever their sizes: a big table is
// read off the event loop, and a small one sent just after it on another connection must still
// be applied after it (the table ends as the second said), with the first's counters handed
// back to the second. A caller that dies right after sending holds nothing up. The caller is
// this test process: the daemon reads its buffers.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReply, serializeRequest, type MboxRequest } from '../../src/ipc/mbox.js';
import { addressOf } from '../../src/sys/libc.js';
import { IPT_SO_GET_INFO, IPT_SO_SET_REPLACE } from '../../src/translate/abi.js';
import { entryCount } from '../../src/translate/ir.js';
import type { DaemonStatus } from '../../src/ipc/status.js';
import { cookieOf } from '../../src/sys/netns.js';
import { ENOENT } from '../../src/translate/errno.js';
import { CLI, replaceBuf, requireBuild, withDropRule } from './helpers.js';

let dir = '';
let sock = '';
let daemon: ChildProcess | undefined;

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function ask(c: Socket, req: MboxRequest): Promise<number> {
  return new Promise((resolve) => {
    c.once('data', (b: Buffer) => resolve(parseReply(b.subarray(0, 4))));
    c.write(serializeRequest(req));
  });
}

/** Entries of the caller's filter table, by GET_INFO. */
async function entries(c: Socket): Promise<number> {
  const info = Buffer.alloc(84);
  info.write('filter', 'latin1');
  const r = { addr: addressOf(info), len: 84, isSet: false, cmd: IPT_SO_GET_INFO };
  expect(await ask(c, { ...r, pid: process.pid })).toBe(0);
  return info.readUInt32LE(76);
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'order-'));
  sock = join(dir, 'bpfilter.sock');
  daemon = spawn(
    process.execPath,
    [CLI, 'daemon', '--store-only', '--socket', sock, '--state-dir', join(dir, 'state')],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 200; i++) {
    try {
      (await open()).end();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('daemon did not listen');
}, 30_000);

afterAll(() => {
  daemon?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('commands on one table', () => {
  it('are applied in arrival order, a big table read off the event loop first', async () => {
    const [a, b] = [await open(), await open()];
    const base = await entries(a);
    // 8,000 rules: 1.2 MiB of entries, past the size read on libuv's thread pool.
    const big = withDropRule(8000);
    const small = withDropRule(1);
    const bigCounters = Buffer.alloc(16 * base);
    const smallCounters = Buffer.alloc(16 * entryCount(big));
    const bigBuf = replaceBuf(big, base, bigCounters);
    const smallBuf = replaceBuf(small, entryCount(big), smallCounters);
    expect(bigBuf.length).toBeGreaterThan(1 << 20);
    const req = (buf: Buffer): MboxRequest => ({
      addr: addressOf(buf),
      len: buf.length,
      isSet: true,
      cmd: IPT_SO_SET_REPLACE,
      pid: process.pid,
    });
    const first = ask(a, req(bigBuf));
    const second = ask(b, req(smallBuf));
    // The second names the first's entry count as num_counters: applied before it, it would be
    // refused with EAGAIN (the live table would still have `base` entries).
    expect(await Promise.all([first, second])).toEqual([0, 0]);
    expect(await entries(a)).toBe(entryCount(small));
    a.end();
    b.end();
  });

  it('a caller that exits right after sending its replace holds nothing up', async () => {
    const c = await open();
    const before = await entries(c);
    const file = join(dir, 'replace.bin');
    writeFileSync(file, replaceBuf(withDropRule(8000), before, Buffer.alloc(16 * before)));
    // The child sends a 1.2 MiB replace from its own memory and exits without waiting: the
    // daemon reads that memory (or finds it gone) after the caller is dead or dying.
    const child = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      `const { addressOf } = await import(${JSON.stringify(join(CLI, '..', 'sys', 'libc.js'))});
       const { serializeRequest } = await import(${JSON.stringify(join(CLI, '..', 'ipc', 'mbox.js'))});
       const buf = (await import('node:fs')).readFileSync(${JSON.stringify(file)});
       const s = (await import('node:net')).connect(${JSON.stringify(sock)}, () => {
         s.write(serializeRequest({ addr: addressOf(buf), len: buf.length, isSet: true,
           cmd: ${IPT_SO_SET_REPLACE}, pid: process.pid }), () => process.exit(0));
       });`,
    ]);
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    // Whether its replace was read in time or not, the table answers the next command, as the
    // old table or as the dead caller's.
    expect([before, entryCount(withDropRule(8000))]).toContain(await entries(c));
    const now = await entries(c);
    const small = replaceBuf(withDropRule(2), now, Buffer.alloc(16 * now));
    const req = { addr: addressOf(small), len: small.length, isSet: true, cmd: IPT_SO_SET_REPLACE };
    expect(await ask(c, { ...req, pid: process.pid })).toBe(0);
    expect(await entries(c)).toBe(entryCount(withDropRule(2)));
    c.end();
  });

  it('replaces naming tables nobody serves are ENOENT and kept under one name in the status', async () => {
    const c = await open();
    const before = await entries(c);
    for (let i = 0; i < 30; i++) {
      const buf = replaceBuf({ ...withDropRule(1), name: `t${i}` }, before, Buffer.alloc(16));
      const req = { addr: addressOf(buf), len: buf.length, isSet: true, cmd: IPT_SO_SET_REPLACE };
      expect(await ask(c, { ...req, pid: process.pid })).toBe(-ENOENT);
    }
    c.end();
    const out = execFileSync(process.execPath, [CLI, 'status', '--socket', sock, '--json'], {
      encoding: 'utf8',
    });
    const me = String(cookieOf('/proc/self/ns/net'));
    const ns = (JSON.parse(out) as DaemonStatus).namespaces.find((n) => n.id === me);
    // One entry for every name the helper does not serve, however many a caller makes up.
    expect(ns?.tables.map((t) => t.name)).toEqual(['', 'filter']);
    expect(ns?.tables[0]?.refusedCount).toBe(30);
    expect(ns?.tables[0]?.refused.at(-1)?.reason).toContain('no table "t29"');
  });
});
