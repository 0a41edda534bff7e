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
