import { describe, expect, it } from 'vitest';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { close, mapCreate, MapType, MAP_F_MMAPABLE, mapLookup, u32 } from '../src/bpf/syscall.js';
import {
  addressOf,
  bpfSyscall,
  mmapShared,
  peerCred,
  processVmRead,
  processVmReadAsync,
  processVmWrite,
  SysError,
  writeFileAtomic,
} from '../src/sys/libc.js';
import { cookieOf } from '../src/sys/netns.js';

const errnoOf = async (p: Promise<unknown>): Promise<number | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (e instanceof SysError ? e.errno : undefined),
  );

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** RSS after a full collection, so what JS still holds is not counted. */
const rssKiB = (): number => {
  gc();
  return rssOnly();
};
const rssOnly = (): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

describe('libc bindings', () => {
  it('reads and writes this process through process_vm_readv/writev', () => {
    const b = Buffer.from('hello world');
    expect(processVmRead(process.pid, addressOf(b), 5).toString()).toBe('hello');
    processVmWrite(process.pid, addressOf(b) + 6n, Buffer.from('WORLD'));
    expect(b.toString()).toBe('hello WORLD');
  });

  it('surfaces errno: EFAULT for an unmapped address, EINVAL for an unknown bpf command', () => {
    expect(() => processVmRead(process.pid, 8n, 4)).toThrow(SysError);
    try {
      processVmRead(process.pid, 8n, 4);
    } catch (e) {
      expect((e as SysError).errno).toBe(14);
    }
    try {
      bpfSyscall(9999, Buffer.alloc(8));
      expect.unreachable();
    } catch (e) {
      expect((e as SysError).errno).toBe(22);
    }
  });
});

describe('calls that wait, on the thread pool', () => {
  it('process_vm_readv gives the bytes, or the errno of the pool thread that made the call', async () => {
    const b = Buffer.from('asynchronous');
    expect((await processVmReadAsync(process.pid, addressOf(b), 5)).toString()).toBe('async');
    expect(await errnoOf(processVmReadAsync(process.pid, 8n, 16))).toBe(14);
    // No such process: ESRCH.
    expect(await errnoOf(processVmReadAsync(2 ** 22 + 1, addressOf(b), 4))).toBe(3);
  });

  it('writeFileAtomic replaces a file whole, mode 0600, or fails with the errno and leaves no .tmp', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfilter-atomic-'));
    try {
      const path = join(dir, 'filter.counters');
      writeFileSync(path, 'old contents, longer than the new ones');
      const data = Buffer.alloc(200_000, 7);
      data.write('new', 0);
      await writeFileAtomic(path, data);
      expect(readFileSync(path)).toEqual(data);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await writeFileAtomic(path, new Uint8Array(0));
      expect(readFileSync(path).length).toBe(0);
      // No such directory: ENOENT, from open on the pool thread.
      expect(await errnoOf(writeFileAtomic(join(dir, 'gone', 'x'), data))).toBe(2);
      // A directory where the file should go: rename fails (EISDIR), the .tmp is removed.
      mkdirSync(join(dir, 'taken'));
      expect(await errnoOf(writeFileAtomic(join(dir, 'taken'), data))).toBe(21);
      expect(readdirSync(dir).sort()).toEqual(['filter.counters', 'taken']);
      expect(readFileSync(path).length).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shared mappings', () => {
  it('write through to the map, and read no bytes once unmapped', () => {
    const fd = mapCreate({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 8,
      maxEntries: 512,
      name: 'test_mmap',
      flags: MAP_F_MMAPABLE,
    });
    try {
      const m = mmapShared(fd, 4096);
      m.bytes.writeBigUInt64LE(0x1122334455667788n, 8 * 3);
      expect(mapLookup(fd, u32(3), 8).readBigUInt64LE(0)).toBe(0x1122334455667788n);
      const view = new Uint8Array(m.bytes.buffer);
      m.unmap();
      m.unmap();
      expect(view.length).toBe(0);
      expect(m.bytes.length).toBe(0);
    } finally {
      close(fd);
    }
  });
});

describe('native memory', () => {
  // Each of these calls kept 2-17 KB of native memory for good through ffi (node-ffi-napi#163):
  // 20,000 of them grew the helper by 40-340 MB. Through the addon nothing stays.
  it('stays flat over 20,000 calls of each per-request binding', () => {
    const b = Buffer.alloc(84, 1);
    const at = addressOf(b);
    const calls: Record<string, () => unknown> = {
      processVmRead: () => processVmRead(process.pid, at, 84),
      processVmWrite: () => processVmWrite(process.pid, at, b),
      cookieOf: () => cookieOf('/proc/self/ns/net'),
      peerCred: () => {
        try {
          peerCred(-1);
        } catch {
          // EBADF, as intended: the call is what is measured
        }
      },
    };
    for (const [name, call] of Object.entries(calls)) {
      // The first round grows the heaps to their working size; the second is what is measured.
      for (let i = 0; i < 20_000; i++) call();
      const before = rssKiB();
      for (let i = 0; i < 20_000; i++) call();
      const grew = rssKiB() - before;
      console.log(`${name}: RSS grew ${grew} KiB over 20,000 calls`);
      expect(grew, name).toBeLessThan(8 * 1024);
    }
  });
});

describe('network namespace identity', () => {
  it('a re-created namespace gets a new cookie even when its nsfs inode is reused', async () => {
    const { execFileSync } = await import('node:child_process');
    const { statSync } = await import('node:fs');
    const { cookieOf } = await import('../src/sys/netns.js');
    const name = `sys-ck-${process.pid}`;
    const seen = new Set<bigint>();
    const inodes = new Set<number>();
    try {
      for (let i = 0; i < 3; i++) {
        execFileSync('ip', ['netns', 'add', name]);
        const path = `/run/netns/${name}`;
        inodes.add(statSync(path).ino);
        seen.add(cookieOf(path));
        execFileSync('ip', ['netns', 'del', name]);
      }
    } finally {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        // deleted by the loop
      }
    }
    expect(seen.size).toBe(3);
    expect(cookieOf('/proc/self/ns/net')).toBe(cookieOf('/proc/thread-self/ns/net'));
    console.log(`nsfs inodes seen: ${inodes.size} for 3 namespaces; cookies: ${seen.size}`);
  });
});
