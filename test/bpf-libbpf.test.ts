// The opts structs we hand libbpf, checked field by field against /usr/include/bpf/bpf.h, and
// what the kernel accepts of the long jumps the assembler makes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  BTF_LOAD_OPTS,
  MAP_CREATE_OPTS,
  PROG_LOAD_OPTS,
  TEST_RUN_OPTS,
} from '../src/bpf/libbpf.js';
import {
  Exit,
  JEq,
  Mov,
  R0,
  R2,
  assemble,
  formatInsn,
  relax,
  withLabel,
} from '../src/bpf/asm/index.js';
import { close, progLoad, testRun } from '../src/bpf/syscall.js';

const LAYOUTS: Record<string, Readonly<Record<string, number>>> = {
  bpf_prog_load_opts: PROG_LOAD_OPTS,
  bpf_map_create_opts: MAP_CREATE_OPTS,
  bpf_btf_load_opts: BTF_LOAD_OPTS,
  bpf_test_run_opts: TEST_RUN_OPTS,
};

it('our offsets equal offsetof()/sizeof() from libbpf-dev’s bpf.h', () => {
  const dir = mkdtempSync(join(tmpdir(), 'libbpf-layout-'));
  try {
    const lines: string[] = [];
    for (const [struct, fields] of Object.entries(LAYOUTS)) {
      for (const f of Object.keys(fields)) {
        const expr =
          f === 'size' ? `sizeof(struct ${struct})` : `__builtin_offsetof(struct ${struct}, ${f})`;
        lines.push(`printf("${struct}.${f} %zu\\n", (size_t)${expr});`);
      }
    }
    writeFileSync(
      join(dir, 'l.c'),
      `#include <stdio.h>\n#include <bpf/bpf.h>\nint main(void){${lines.join('')}return 0;}\n`,
    );
    execFileSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')]);
    const got = Object.fromEntries(
      execFileSync(join(dir, 'l'), { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string])
        .map(([k, v]) => [k, Number(v)]),
    );
    const ours = Object.fromEntries(
      Object.entries(LAYOUTS).flatMap(([s, fields]) =>
        Object.entries(fields).map(([f, v]) => [`${s}.${f}`, v]),
      ),
    );
    expect(ours).toEqual(got);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('the kernel runs what relax makes of jumps past 32k instructions (gotol)', () => {
  // A netfilter program: if the packet is short take the far path, which returns ACCEPT.
  const filler = Array.from({ length: 40_000 }, () => Mov.imm(R2, 0));
  const prog = relax([
    Mov.imm(R0, 0),
    JEq.imm(R0, 0, 'far'),
    ...filler,
    Exit(),
    withLabel(Mov.imm(R0, 1), 'far'),
    Exit(),
  ]);
  expect(prog.some((i) => formatInsn(i).startsWith('gotol'))).toBe(true);
  const fd = progLoad({
    type: 32,
    expectedAttachType: 45,
    name: 'gotol',
    insns: assemble(prog).bytes,
  });
  try {
    expect(testRun(fd, Buffer.alloc(20))).toBe(1);
  } finally {
    close(fd);
  }
});
