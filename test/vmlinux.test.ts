// The offsets codegen takes from the running kernel's BTF, checked against the same kernel's
// headers compiled by gcc from bpftool's vmlinux.h dump.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { vmlinuxBtf } from '../src/bpf/vmlinux.js';

const FIELDS: [string, string][] = [
  ['nf_hook_state', 'in'],
  ['nf_hook_state', 'out'],
  ['nf_hook_state', 'hook'],
  ['net_device', 'name'],
  ['sk_buff', 'len'],
  ['sk_buff', 'mark'],
  ['sk_buff', '_nfct'],
  ['nf_conn', 'status'],
  ['bpf_nf_ctx', 'skb'],
];

it('member offsets equal offsetof() over bpftool’s vmlinux.h; kfunc ids are FUNC ids', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmlinux-'));
  try {
    const header = execFileSync(
      'bpftool',
      ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'],
      {
        maxBuffer: 1 << 28,
      },
    );
    writeFileSync(join(dir, 'vmlinux.h'), header);
    const lines = FIELDS.map(
      ([s, f]) => `printf("%lu\\n", (unsigned long)__builtin_offsetof(struct ${s}, ${f}));`,
    );
    writeFileSync(
      join(dir, 'off.c'),
      `#include "vmlinux.h"\nint printf(const char *, ...);\nint main(void){${lines.join('')}return 0;}\n`,
    );
    execFileSync('gcc', ['-w', '-o', join(dir, 'off'), join(dir, 'off.c')]);
    const want = execFileSync(join(dir, 'off'), { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    const btf = vmlinuxBtf();
    expect(FIELDS.map(([s, f]) => btf.memberOffset(s, f))).toEqual(want);
    const raw = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], {
      maxBuffer: 1 << 28,
      encoding: 'utf8',
    });
    const id = /^\[(\d+)\] FUNC 'bpf_dynptr_from_skb'/m.exec(raw)?.[1];
    expect(btf.funcId('bpf_dynptr_from_skb')).toBe(Number(id));
    expect(() => btf.funcId('no_such_function_here')).toThrow(/no function/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
