import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planTable, type Action } from '../src/translate/plan.js';
import { entryCount } from '../src/translate/ir.js';
import { initialTable } from '../src/translate/table.js';
import { KernelTables } from './helpers/kernel-table.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('pln');
});
afterAll(() => kt.close());

const actions = (p: ReturnType<typeof planTable>): string[] =>
  p.entries.map((e) => `${e.index} ${e.source}: ${describe_(e.action)}`);
function describe_(a: Action): string {
  switch (a.kind) {
    case 'verdict':
      return a.verdict;
    case 'jump':
      return `${a.push ? 'call' : 'goto'} ${a.to}`;
    case 'extension':
      return a.target.extension.name;
    default:
      return a.kind;
  }
}

describe('planTable', () => {
  it('the fresh filter table: three policies and the end', () => {
    const p = planTable(initialTable('filter'));
    expect(actions(p)).toEqual([
      '0 INPUT policy: ACCEPT',
      '1 FORWARD policy: ACCEPT',
      '2 OUTPUT policy: ACCEPT',
      '3 table end: error',
    ]);
    expect(p.hooks.map((h) => [h.chain, h.entry, h.underflow])).toEqual([
      ['INPUT', 0, 0],
      ['FORWARD', 1, 1],
      ['OUTPUT', 2, 2],
    ]);
    expect(p.maxDepth).toBe(0);
  });

  it('jumps, gotos and returns resolve to the entries the kernel jumps to, with counter indices', () => {
    const table = kt.table(`*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:a - [0:0]
:b - [0:0]
-A INPUT -p tcp -j a
-A INPUT -p udp -g b
-A INPUT -j LOG
-A a -s 10.0.0.0/8 -j RETURN
-A a -j b
-A b -p tcp --dport 22 -j ACCEPT
COMMIT
`);
    const p = planTable(table);
    expect(p.entries.length).toBe(entryCount(table));
    expect(actions(p)).toEqual([
      '0 INPUT rule 1: call 7',
      '1 INPUT rule 2: goto 11',
      '2 INPUT rule 3: LOG',
      '3 INPUT policy: DROP',
      '4 FORWARD policy: ACCEPT',
      '5 OUTPUT policy: ACCEPT',
      '6 a head: error',
      '7 a rule 1: return',
      '8 a rule 2: call 11',
      '9 a return: return',
      '10 b head: error',
      '11 b rule 1: ACCEPT',
      '12 b return: return',
      '13 table end: error',
    ]);
    // hooks 0/4/5, underflows 3/4/5, jump targets 7/11, resume points after the calls 1/9
    expect(p.entryPoints).toEqual([0, 1, 3, 4, 5, 7, 9, 11]);
    expect(p.maxDepth).toBe(2);
  });
});

describe('planTable on deeper shapes', () => {
  it('a jump to the next entry does not push (ipt_do_table compares with ipt_next_entry)', () => {
    const t = new KernelTables('pln2');
    try {
      const p = planTable(
        t.table(`*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:x - [0:0]
-A OUTPUT -j x
-A x -j ACCEPT
COMMIT
`),
      );
      // OUTPUT rule 1 at 2, OUTPUT policy 3, x head 4, x rule 1 at 5: a real call
      expect(p.entries[2]?.action).toEqual({ kind: 'jump', to: 5, push: true });
      const chains = Array.from({ length: 32 }, (_, i) => `c${i}`);
      const deep = [
        '*filter',
        ':INPUT ACCEPT [0:0]',
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ...chains.map((c) => `:${c} - [0:0]`),
        '-A INPUT -j c0',
        ...chains.slice(1).map((c, i) => `-A c${i} -p tcp -j ${c}`),
        '-A c31 -j DROP',
        'COMMIT',
        '',
      ].join('\n');
      expect(planTable(t.table(deep)).maxDepth).toBe(32);
    } finally {
      t.close();
    }
  });
});
