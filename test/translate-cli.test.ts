// Offline translation: translateSave on a 200-rule save file (examples/router-200.rules) gives
// per hook the plan and the BPF with every instruction under the rule it implements, and the
// built CLI (`bpfilter translate`) prints it as text and JSON; rules codegen refuses are named.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatInsn } from '../src/bpf/asm/index.js';
import { loadRuleset, release } from '../src/bpf/backend.js';
import { compileTable } from '../src/bpf/codegen/index.js';
import { netfilterFlavor } from '../src/bpf/codegen/nf.js';
import { parseSave } from '../src/translate/save.js';
import {
  formatTranslation,
  TranslateError,
  translateSave,
  type ListedHook,
  type ListedInsn,
  type Translation,
} from '../src/translate/offline.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const EXAMPLE = join(ROOT, 'examples', 'router-200.rules');
const TEXT = readFileSync(EXAMPLE, 'utf8');
const flavor = netfilterFlavor();

/** The -A lines of a save text with their line numbers. */
function ruleLines(text: string): Map<number, string> {
  const out = new Map<number, string>();
  text.split('\n').forEach((l, k) => {
    if (l.startsWith('-A ')) out.set(k + 1, l);
  });
  return out;
}

function allInsns(h: ListedHook): ListedInsn[] {
  return [...h.prologue, ...h.dispatch, ...h.entries.flatMap((e) => e.insns), ...h.epilogue];
}

function cli(
  args: readonly string[],
  input?: string,
): { status: number; out: string; err: string } {
  const r = spawnSync('node', [CLI, 'translate', ...args], { input, encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function refusal(text: string): TranslateError {
  try {
    translateSave(text, flavor);
  } catch (e) {
    if (e instanceof TranslateError) return e;
    throw e;
  }
  throw new Error('translated');
}

const SMALL = (rules: string): string =>
  `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rules}\nCOMMIT\n`;

describe('translateSave', () => {
  const t: Translation = translateSave(TEXT, flavor);
  const lines = ruleLines(TEXT);

  it('has the 200 rules', () => {
    expect(lines.size).toBe(200);
  });

  it('gives one program per hook, with a bpf_loop walk where chains are jumped to', () => {
    expect(t.table).toBe('filter');
    expect(t.hooks.map((h) => [h.hook, h.chain, h.callback])).toEqual([
      ['INPUT', 'INPUT', true],
      ['FORWARD', 'FORWARD', true],
      ['OUTPUT', 'OUTPUT', false],
    ]);
    expect(t.maxDepth).toBe(1);
  });

  it('lists every rule under its own save line, each reachable entry once per hook', () => {
    const seen = new Set<number>();
    for (const h of t.hooks) {
      const indexes = h.entries.map((e) => e.index);
      expect(new Set(indexes).size).toBe(indexes.length);
      for (const e of h.entries) {
        if (e.rule === undefined) continue;
        expect(e.line).toBeDefined();
        expect(e.text).toBe(lines.get(e.line as number));
        expect(e.source).toBe(`${e.chain} rule ${e.rule}`);
        expect(e.text.startsWith(`-A ${e.chain} `)).toBe(true);
        seen.add(e.line as number);
      }
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([...lines.keys()]);
  });

  it("puts each entry's code under it: labelled e<index>, contiguous pcs, the whole program", () => {
    for (const h of t.hooks) {
      for (const e of h.entries) {
        expect(e.insns.length).toBeGreaterThan(0);
        expect(e.insns[0]?.labels).toContain(`e${e.index}`);
        // Every rule counts its packets: its own counter slot is the key.
        const key = new RegExp(`^\\*\\(u32 \\*\\)\\(r10 -\\d+\\) = ${e.index}$`);
        expect(e.insns.some((i) => key.test(i.text))).toBe(true);
      }
      const insns = allInsns(h);
      expect(insns[0]?.pc).toBe(0);
      for (let k = 1; k < insns.length; k++) {
        const step = (insns[k]?.pc ?? 0) - (insns[k - 1]?.pc ?? 0);
        expect(
          step === 1 ||
            (step === 2 && / ll$|= map\[|= map_value\[|= func /.test(insns[k - 1]?.text ?? '')),
        ).toBe(true);
      }
      const last = insns[insns.length - 1];
      expect(last?.text).toBe('exit');
      expect((last?.pc ?? 0) + 1).toBe(h.slots);
      if (h.callback) expect(h.dispatch[0]?.labels).toContain('walk');
      else expect(h.dispatch).toEqual([]);
    }
  });

  it('is what the helper loads: the backend compiles the same code and the verifier takes it', () => {
    const table = parseSave(TEXT).tables[0]?.table;
    if (table === undefined) throw new Error('no table');
    const compiled = compileTable(table, flavor);
    expect(compiled.programs.map((p) => p.insns.map(formatInsn))).toEqual(
      t.hooks.map((h) => allInsns(h).map((i) => i.text)),
    );
    const loaded = loadRuleset(table, flavor);
    try {
      expect(loaded.progs.filter((fd) => fd !== undefined)).toHaveLength(3);
    } finally {
      release(loaded);
    }
  });

  it('states what each entry does', () => {
    const input = t.hooks[0] as ListedHook;
    const jump = input.entries.find((e) => e.text === '-A INPUT -j blocklist');
    expect(jump?.action).toMatch(/^jump e\d+ \(blocklist rule 1\)$/);
    const ret = input.entries.find((e) => e.text === '-A blocklist -j RETURN');
    expect(ret?.action).toBe('RETURN');
    expect(input.entries.find((e) => e.source === 'INPUT policy')?.text).toBe(':INPUT DROP');
  });

  it('formats headers with the rule, its line and its action', () => {
    const text = formatTranslation(t);
    expect(text).toContain(
      '# INPUT rule 3 (line 29): -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n#   → ACCEPT\ne2:\n',
    );
    expect(text).toMatch(/^## hook FORWARD: chain FORWARD, entry e\d+, underflow e\d+, \d+ insns/m);
  });

  it('names each rule codegen refuses, with its line, and translates nothing', () => {
    const e = refusal(
      SMALL(
        '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p udp -j QUEUE\n-A OUTPUT -j QUEUE',
      ),
    );
    expect(e.refusals).toEqual([
      {
        hook: 'INPUT',
        source: 'INPUT rule 2',
        chain: 'INPUT',
        rule: 2,
        line: 6,
        text: '-A INPUT -p udp -j QUEUE',
        reason: 'QUEUE has no BPF equivalent',
      },
      {
        hook: 'OUTPUT',
        source: 'OUTPUT rule 1',
        chain: 'OUTPUT',
        rule: 1,
        line: 7,
        text: '-A OUTPUT -j QUEUE',
        reason: 'QUEUE has no BPF equivalent',
      },
    ]);
    expect(e.message).toContain('line 7: OUTPUT rule 1 (-A OUTPUT -j QUEUE): QUEUE has no BPF');
  });

  it('reports a refusal no single rule explains (jump nesting) for the hook', () => {
    const names = Array.from({ length: 50 }, (_, k) => `c${String(k).padStart(2, '0')}`);
    const text = `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${names
      .map((n) => `:${n} - [0:0]\n`)
      .join('')}-A INPUT -j c00\n${names
      .slice(0, -1)
      .map((n, k) => `-A ${n} -p tcp -j ${names[k + 1]}\n`)
      .join('')}COMMIT\n`;
    const e = refusal(text);
    expect(e.refusals).toEqual([
      {
        hook: 'INPUT',
        source: 'INPUT',
        reason: 'jumps nest 50 deep; the jump stack on the BPF stack holds 48',
      },
    ]);
  });

  it('lists other tables as skipped', () => {
    const t = translateSave(`*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n${SMALL('')}`, flavor);
    expect(t.skipped).toEqual([{ name: 'raw', line: 1 }]);
    expect(formatTranslation(t)).toContain(
      '# table raw (line 1) skipped: only filter is translated\n',
    );
  });

  it('refuses what SET_REPLACE would refuse, with the line', () => {
    const e = refusal(SMALL('-A INPUT -p udp -m tcp --dport 22 -j ACCEPT'));
    expect(e.line).toBe(5);
    expect(e.message).toMatch(/^line 5: EINVAL: match "tcp" needs "-p 6" without "!"/);
  });
});

describe('bpfilter translate (built CLI)', () => {
  it('prints the annotated listing of a 200-rule file', () => {
    const r = cli([EXAMPLE]);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^# table filter: 3 hooks, jump depth 1\n/);
    const headers = new Set(r.out.match(/^# \S+ rule \d+ \(line \d+\): -A .*$/gm));
    expect(headers.size).toBe(200);
    for (const hook of ['INPUT', 'FORWARD', 'OUTPUT']) {
      expect(r.out).toMatch(new RegExp(`^## hook ${hook}: `, 'm'));
    }
    expect(r.out).toContain('# INPUT rule 1 (line 27): -A INPUT -i lo -j ACCEPT\n');
  });

  it('--json reads stdin and gives hooks → entries → instructions', () => {
    const r = cli(['--json'], TEXT);
    expect(r.status).toBe(0);
    const t = JSON.parse(r.out) as Translation;
    expect(t).toEqual(JSON.parse(JSON.stringify(translateSave(TEXT, flavor))));
    const first = t.hooks[0]?.entries[0];
    expect(first).toMatchObject({
      index: 0,
      chain: 'INPUT',
      rule: 1,
      line: 27,
      text: '-A INPUT -i lo -j ACCEPT',
      action: 'ACCEPT',
    });
    expect(first?.insns[0]).toMatchObject({ labels: ['e0'] });
  });

  it('exits 1 naming the refused rule; --json gives an error object', () => {
    const text = SMALL('-A INPUT -j QUEUE');
    const r = cli(['-'], text);
    expect(r.status).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      'bpfilter translate: cannot translate:\nline 5: INPUT rule 1 (-A INPUT -j QUEUE): QUEUE has no BPF equivalent\n',
    );
    const j = cli(['--json'], text);
    expect(j.status).toBe(1);
    const { error } = JSON.parse(j.out) as { error: { refusals: { line: number }[] } };
    expect(error.refusals.map((x) => x.line)).toEqual([5]);
  });

  it('exits 1 on text iptables-restore refuses, naming line and option', () => {
    const r = cli([], SMALL('-A INPUT -p tcp --dport 70000 -j ACCEPT'));
    expect(r.status).toBe(1);
    expect(r.err).toBe(
      'bpfilter translate: line 5: match "tcp": --dport: invalid port/service "70000"\n',
    );
    const j = cli(['--json'], SMALL('-A INPUT -p tcp --dport 70000 -j ACCEPT'));
    expect(JSON.parse(j.out)).toEqual({
      error: {
        message: 'line 5: match "tcp": --dport: invalid port/service "70000"',
        line: 5,
        refusals: [],
      },
    });
  });
});
