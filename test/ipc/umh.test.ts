// The umh transport over real pipes, as the kernel module drives it: the test process is the
// "caller" whose optval buffers the helper reads and writes with process_vm_readv/writev.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeRequest } from '../../src/ipc/mbox.js';
import { LIMITS } from '../../src/ipc/service.js';
import { addressOf } from '../../src/sys/libc.js';
import {
  IPT_SO_GET_ENTRIES,
  IPT_SO_GET_INFO,
  IPT_SO_GET_REVISION_MATCH,
  IPT_SO_GET_REVISION_TARGET,
  IPT_SO_SET_ADD_COUNTERS,
  IPT_SO_SET_REPLACE,
} from '../../src/translate/abi.js';
import {
  EAGAIN,
  EFAULT,
  EINVAL,
  ENOENT,
  ENOMEM,
  EPROTONOSUPPORT,
  ESRCH,
} from '../../src/translate/errno.js';
import { findExtension } from '../../src/translate/ext/registry.js';
import { entryCount } from '../../src/translate/ir.js';
import { encodeGetinfo, initialTable, tableToBlob } from '../../src/translate/table.js';
import {
  netnsAdd,
  netnsDel,
  replaceBuf,
  requireBuild,
  UmhClient,
  withDropRule,
} from './helpers.js';

const NS = `ipc-umh-${process.pid}`;
let tool = '';

/** What the kernel's own SET_REPLACE answers for `blob` (num_counters set to its entry count). */
function kernelErrno(blob: Buffer): number {
  return Number(
    execFileSync('ip', ['netns', 'exec', NS, tool, 'auto'], {
      input: blob,
      encoding: 'utf8',
    }).trim(),
  );
}

function getinfoBuf(table: string): Buffer {
  const b = Buffer.alloc(84);
  b.write(table, 'latin1');
  return b;
}

function getEntriesBuf(table: string, size: number): Buffer {
  const b = Buffer.alloc(40 + size);
  b.write(table, 'latin1');
  b.writeUInt32LE(size, 32);
  return b;
}

function revisionBuf(name: string, revision: number): Buffer {
  const b = Buffer.alloc(30);
  b.write(name, 'latin1');
  b.writeUInt8(revision, 29);
  return b;
}

describe('bpfilter umh over pipes', () => {
  let umh: UmhClient;
  const pid = process.pid;
  const get = (buf: Buffer, cmd: number, len = buf.length) =>
    umh.request({ addr: addressOf(buf), len, isSet: false, cmd, pid });
  const set = (buf: Buffer, cmd: number, len = buf.length) =>
    umh.request({ addr: addressOf(buf), len, isSet: true, cmd, pid });

  beforeAll(() => {
    requireBuild();
    const dir = mkdtempSync(join(tmpdir(), 'ipc-umh-'));
    tool = join(dir, 'set-replace');
    execFileSync('gcc', [
      '-o',
      tool,
      join(import.meta.dirname, '..', 'helpers', 'cdc-set-replace.c'),
    ]);
    netnsAdd(NS);
    umh = new UmhClient();
  });
  afterAll(async () => {
    netnsDel(NS);
    if (tool) rmSync(join(tool, '..'), { recursive: true, force: true });
    if (umh.child.exitCode === null) await umh.close();
  });

  it('answers the all-zero health check with 0', async () => {
    expect(await umh.request({ addr: 0n, len: 0, isSet: false, cmd: 0, pid: 0 })).toBe(0);
  });

  it('GET_INFO writes the fresh netns filter table into the caller', async () => {
    const buf = getinfoBuf('filter');
    expect(await get(buf, IPT_SO_GET_INFO)).toBe(0);
    expect(buf.toString('hex')).toBe(encodeGetinfo(initialTable('filter')).toString('hex'));
  });

  it('GET_INFO: len other than 84 → EINVAL, unknown table → ENOENT, bad address → EFAULT', async () => {
    const buf = getinfoBuf('filter');
    expect(await get(buf, IPT_SO_GET_INFO, 83)).toBe(-EINVAL);
    expect(await get(getinfoBuf('nat'), IPT_SO_GET_INFO)).toBe(-ENOENT);
    expect(await umh.request({ addr: 8n, len: 84, isSet: false, cmd: IPT_SO_GET_INFO, pid })).toBe(
      -EFAULT,
    );
  });

  it('a request from a pid that is gone → ESRCH, and the helper keeps serving', async () => {
    const child = spawn('true');
    const gone = child.pid as number;
    await new Promise((r) => child.on('exit', r));
    expect(
      await umh.request({ addr: 0x1000n, len: 84, isSet: false, cmd: IPT_SO_GET_INFO, pid: gone }),
    ).toBe(-ESRCH);
    expect(await get(getinfoBuf('filter'), IPT_SO_GET_INFO)).toBe(0);
  });

  it('a request split across writes is still one request', async () => {
    const buf = getinfoBuf('filter');
    const bytes = serializeRequest({
      addr: addressOf(buf),
      len: 84,
      isSet: false,
      cmd: IPT_SO_GET_INFO,
      pid,
    });
    const r = umh.reply();
    umh.send(bytes.subarray(0, 7));
    await new Promise((res) => setTimeout(res, 20));
    umh.send(bytes.subarray(7));
    expect(await r).toBe(0);
    expect(buf.readUInt32LE(80)).toBe(tableToBlob(initialTable('filter')).size);
  });

  it('SET_REPLACE installs a table, hands back the old counters; GET_ENTRIES returns it', async () => {
    const before = initialTable('filter');
    const next = withDropRule();
    const old = Buffer.alloc(16 * entryCount(before), 0xaa);
    expect(await set(replaceBuf(next, entryCount(before), old), IPT_SO_SET_REPLACE)).toBe(0);
    expect(old.equals(Buffer.alloc(old.length))).toBe(true); // fresh table: all old counters 0

    const size = tableToBlob(next).size;
    const out = getEntriesBuf('filter', size);
    expect(await get(out, IPT_SO_GET_ENTRIES)).toBe(0);
    expect(out.subarray(40).toString('hex')).toBe(tableToBlob(next).entries.toString('hex'));
    expect(await get(getEntriesBuf('filter', size - 8), IPT_SO_GET_ENTRIES)).toBe(-EAGAIN);
    expect(await get(getEntriesBuf('filter', size), IPT_SO_GET_ENTRIES, 39)).toBe(-EINVAL);
  });

  it('SET_ADD_COUNTERS adds to the entries; the next SET_REPLACE returns them as old counters', async () => {
    const table = withDropRule();
    const n = entryCount(table);
    const add = Buffer.alloc(40 + 16 * n);
    add.write('filter', 'latin1');
    add.writeUInt32LE(n, 32);
    add.writeBigUInt64LE(7n, 40); // entry 0 (the DROP rule): 7 packets, 700 bytes
    add.writeBigUInt64LE(700n, 48);
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS)).toBe(0);
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, add.length - 16)).toBe(-EINVAL);

    const old = Buffer.alloc(16 * n);
    expect(await set(replaceBuf(table, n, old), IPT_SO_SET_REPLACE)).toBe(0);
    expect(old.readBigUInt64LE(0)).toBe(7n);
    expect(old.readBigUInt64LE(8)).toBe(700n);
  });

  it('a bad SET_REPLACE gets the kernel errno and the table stays as it was', async () => {
    const table = withDropRule();
    const n = entryCount(table);
    const counters = Buffer.alloc(16 * n);
    const good = replaceBuf(table, n, counters);
    expect(await set(replaceBuf(table, n + 1, counters), IPT_SO_SET_REPLACE)).toBe(-EAGAIN); // stale count
    const jumpTo = (offset: number): Buffer => {
      const b = Buffer.from(good);
      b.writeUInt32LE(offset, 96 + 112 + 32); // the DROP rule's verdict becomes a jump
      return b;
    };
    const bad = [
      good.subarray(0, 95),
      good.subarray(0, good.length - 1),
      jumpTo(0),
      jumpTo(8),
      jumpTo(156),
    ];
    for (const blob of bad) {
      const errno = kernelErrno(blob);
      expect(errno).toBeGreaterThan(0);
      expect(await set(blob, IPT_SO_SET_REPLACE)).toBe(-errno);
    }
    const out = getEntriesBuf('filter', tableToBlob(table).size);
    expect(await get(out, IPT_SO_GET_ENTRIES)).toBe(0);
    expect(
      out.subarray(40, 40 + 112 + 40).equals(tableToBlob(table).entries.subarray(0, 152)),
    ).toBe(true);
  });

  it("a table past the helper's limits → ENOMEM before its entries are read", async () => {
    const table = withDropRule();
    const n = entryCount(table);
    const counters = Buffer.alloc(16 * n);
    const good = replaceBuf(table, n, counters);
    // Only the header is in the caller's memory: the optlen claims what was never allocated,
    // so a helper that read on would answer EFAULT.
    const header = (size: number, entries: number): Buffer => {
      const b = Buffer.from(good.subarray(0, 96));
      b.writeUInt32LE(entries, 36);
      b.writeUInt32LE(size, 40);
      return b;
    };
    const big = header(LIMITS.tableBytes + 1, n);
    expect(await set(big, IPT_SO_SET_REPLACE, 96 + LIMITS.tableBytes + 1)).toBe(-ENOMEM);
    const many = header(good.length - 96, LIMITS.entries + 1);
    expect(await set(many, IPT_SO_SET_REPLACE, good.length)).toBe(-ENOMEM);
    // More counters than any table has: the kernel copies them in and then finds the count
    // wrong (EINVAL), or no such table (ENOENT); so does the helper, without holding them.
    const past = 40 + 16 * (LIMITS.entries + 1);
    const add = Buffer.alloc(past);
    add.write('filter', 'latin1');
    add.writeUInt32LE(LIMITS.entries + 1, 32);
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, past)).toBe(-EINVAL);
    add.write('nosuch\0', 'latin1');
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, past)).toBe(-ENOENT);
    // Within them, entries the caller does not have are EFAULT, on a big table's read from
    // libuv's thread pool too.
    const absent = header(2 << 20, n);
    expect(await set(absent, IPT_SO_SET_REPLACE, 96 + (2 << 20))).toBe(-EFAULT);
    // And the same header reaches the checks (the good table still applies).
    expect(await set(good, IPT_SO_SET_REPLACE)).toBe(0);
  });

  // Each of these was a disagreement with the kernel make fuzz found (docs/fuzz.md).
  it('optlen > INT_MAX, counters past 2^64, a long ADD_COUNTERS, short headers: as the kernel', async () => {
    const table = withDropRule();
    const n = entryCount(table);
    const size = tableToBlob(table).size;
    const add = Buffer.alloc(40 + 16 * (n + 1));
    add.write('filter', 'latin1');
    add.writeUInt32LE(n, 32);
    add.writeBigUInt64LE((1n << 64n) - 1n, 40);
    add.writeBigUInt64LE(1n << 63n, 48);
    const exact = 40 + 16 * n;
    // The syscalls refuse a negative int optlen.
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, 0x80000000)).toBe(-EINVAL);
    expect(await get(getinfoBuf('filter'), IPT_SO_GET_INFO, 0xffffffff)).toBe(-EINVAL);
    const huge = getEntriesBuf('filter', 0);
    huge.writeUInt32LE(0x7fffffff, 32);
    expect(await get(huge, IPT_SO_GET_ENTRIES, 40 + 0x7fffffff)).toBe(-EINVAL);
    // xt_copy_counters wants exactly num_counters entries.
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, exact + 16)).toBe(-EINVAL);
    // u64 counters wrap: (2^64 - 1) * 2 and 2^63 * 2.
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, exact)).toBe(0);
    expect(await set(add, IPT_SO_SET_ADD_COUNTERS, exact)).toBe(0);
    const out = getEntriesBuf('filter', size);
    expect(await get(out, IPT_SO_GET_ENTRIES)).toBe(0);
    expect(out.readBigUInt64LE(40 + 96)).toBe((1n << 64n) - 2n);
    expect(out.readBigUInt64LE(40 + 104)).toBe(0n);
    // Too short for their header: EINVAL before optval is read (here: nothing is mapped).
    const nowhere = { addr: 0x10n, pid, isSet: true };
    expect(await umh.request({ ...nowhere, len: 95, cmd: IPT_SO_SET_REPLACE })).toBe(-EINVAL);
    expect(await umh.request({ ...nowhere, len: 40, cmd: IPT_SO_SET_ADD_COUNTERS })).toBe(-EINVAL);
    expect(await umh.request({ ...nowhere, len: 96, cmd: IPT_SO_SET_REPLACE })).toBe(-EFAULT);
  });

  it('GET_REVISION: registered revisions → 0, unknown → ENOENT, too new → EPROTONOSUPPORT', async () => {
    const tcp = findExtension('match', 'tcp', 0);
    expect(await get(revisionBuf(tcp.name, 0), IPT_SO_GET_REVISION_MATCH)).toBe(0);
    expect(await get(revisionBuf('REJECT', 0), IPT_SO_GET_REVISION_TARGET)).toBe(0);
    expect(await get(revisionBuf('nosuchmatch', 0), IPT_SO_GET_REVISION_MATCH)).toBe(-ENOENT);
    expect(await get(revisionBuf('tcp', 9), IPT_SO_GET_REVISION_MATCH)).toBe(-EPROTONOSUPPORT);
    expect(await get(revisionBuf('tcp', 0), IPT_SO_GET_REVISION_MATCH, 29)).toBe(-EINVAL);
  });

  it('unknown sockopts → EINVAL; the helper logs one line per command and exits 0 on EOF', async () => {
    expect(await umh.request({ addr: 0x1000n, len: 4, isSet: true, cmd: 99, pid })).toBe(-EINVAL);
    expect(await umh.close()).toBe(0);
    const lines = umh.stderr
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      lines.some(
        (l) => l.cmd === 'SET_REPLACE' && l.result === 'EAGAIN' && typeof l.us === 'number',
      ),
    ).toBe(true);
  });
});
