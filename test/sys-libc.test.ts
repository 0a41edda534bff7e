import { describe, expect, it } from 'vitest';
import { addressOf, bpfSyscall, processVmRead, processVmWrite, SysError } from '../src/sys/libc.js';

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
