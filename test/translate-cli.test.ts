// Offline translation: translateSave on a 200-rule save file (examples/router-200.rules) gives
// the plan, the blocks, every entry's data under its save line and one engine program per hook;
// the built CLI (`bpfilter translate`) prints it as text and JSON; refused rules are named.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTable } from '../src/bpf/backend.js';
import { netfilterFlavor } from '../src/bpf/codegen/nf.js';
import { RULE } from '../src/bpf/codegen/layout.js';
import { parseSave } from '../src/translate/save.js';
import {
  formatTranslation,
  TranslateError,
  translateSave,
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

const HOOK_NAMES = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT'];

describe('translateSave', () => {
  const t: Translation = translateSave(TEXT, flavor);
  const lines = ruleLines(TEXT);

  it('has the 200 rules', () => {
    expect(lines.size).toBe(200);
  });

  it('gives the hooks, the one engine program and the extensions it evaluates', () => {
    expect(t.table).toBe('filter');
    expect(t.hooks.map((h) => [h.hook, h.chain])).toEqual([
      ['INPUT', 'INPUT'],
      ['FORWARD', 'FORWARD'],
      ['OUTPUT', 'OUTPUT'],
    ]);
    // Each hook starts at its chain's first block and falls to its own policy.
    const policies = t.hooks.map((h) => t.entries[h.underflow]?.source);
    expect(policies).toEqual(['INPUT policy', 'FORWARD policy', 'OUTPUT policy']);
    expect(new Set(t.hooks.map((h) => h.block)).size).toBe(3);
    expect(t.maxDepth).toBe(1);
    expect(t.kinds.matches).toContain('tcp');
    expect(t.kinds.matches).toContain('iface');
    const p = t.program;
    expect(p.insns[0]?.pc).toBe(0);
    expect(p.insns[0]?.labels).toContain('main');
    expect(p.insns.some((i) => i.labels?.includes('walk'))).toBe(true);
    expect(p.insns.some((i) => i.labels?.includes('classify'))).toBe(true);
    const last = p.insns[p.insns.length - 1];
    expect((last?.pc ?? 0) + (/ ll$|= map|= func /.test(last?.text ?? '') ? 2 : 1)).toBe(p.slots);
  });

  it('lists every rule under its own save line, with its data, once', () => {
    const seen = new Set<number>();
    expect(t.entries.map((e) => e.index)).toEqual(t.entries.map((_, k) => k));
    for (const e of t.entries) {
      expect(e.record).toHaveLength(2 * RULE.SIZE);
      // The record says which entry it is: the counter slot is the entry's own.
      expect(Buffer.from(e.record, 'hex').readUInt32LE(RULE.ENTRY)).toBe(e.index);
      expect(t.blocks[e.block]?.first).toBeLessThanOrEqual(e.index);
      expect(t.blocks[e.block]?.last).toBeGreaterThanOrEqual(e.index);
      if (e.rule === undefined) continue;
      expect(e.text).toBe(lines.get(e.line as number));
      expect(e.source).toBe(`${e.chain} rule ${e.rule}`);
      seen.add(e.line as number);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([...lines.keys()]);
  });

  it('gives each rule its region and its matches as the engine evaluates them', () => {
    const ssh = t.entries.find((e) => / --dport 22 /.test(e.text) && / -p tcp /.test(e.text));
    expect(ssh?.region.some((b) => b.includes('proto 6') && b.includes('dport 22'))).toBe(true);
    expect(ssh?.matches.map((m) => m.kind)).toContain('tcp');
    const lo = t.entries.find((e) => e.text === '-A INPUT -i lo -j ACCEPT');
    expect(lo?.matches.map((m) => m.kind)).toEqual(['iface']);
    expect(lo?.region).toEqual(['{} (decided at run time)']);
  });

  it('is what the helper loads: the verifier takes the program, run at every hook', () => {
    const table = parseSave(TEXT).tables[0]?.table;
    if (table === undefined) throw new Error('no table');
    const loaded = loadTable(table, flavor);
    try {
      const fds = t.hooks.map((h) => loaded.progs[HOOK_NAMES.indexOf(h.hook)]);
      expect(fds.every((fd) => fd !== undefined && fd === fds[0])).toBe(true);
      expect(loaded.instance.processed).toBeGreaterThan(0);
    } finally {
      loaded.instance.close();
    }
  });

  it('states what each entry does', () => {
    const jump = t.entries.find((e) => e.text === '-A INPUT -j blocklist');
    expect(jump?.action).toMatch(/^jump e\d+ \(blocklist rule 1\)$/);
    const ret = t.entries.find((e) => e.text === '-A blocklist -j RETURN');
    expect(ret?.action).toBe('RETURN');
    expect(t.entries.find((e) => e.source === 'INPUT policy')?.text).toBe(':INPUT DROP');
  });

  it('formats headers with the rule, its line, its action and its data', () => {
    const text = formatTranslation(t);
    expect(text).toMatch(
      new RegExp(
        `^# e2 INPUT rule 3 \\(line 29\\): -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n# {3}→ ACCEPT\n# {3}block b\\d+, region .*\n# {3}record [0-9a-f]{${2 * RULE.SIZE}}\n# {3}match conntrack [0-9a-f]+\n`,
        'm',
      ),
    );
    expect(text).toMatch(/^# {3}FORWARD: chain FORWARD, first block b\d+, underflow rule \d+$/m);
    expect(text).toMatch(/^## program \(every hook\): \d+ insns$/m);
  });

  it('names every rule the engine refuses, with its line, and translates nothing', () => {
    const e = refusal(
      SMALL(
        '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p udp -j QUEUE\n-A OUTPUT -j QUEUE',
      ),
    );
    expect(e.refusals).toEqual([
      {
        source: 'INPUT rule 2',
        chain: 'INPUT',
        rule: 2,
        line: 6,
        text: '-A INPUT -p udp -j QUEUE',
        reason: 'QUEUE has no BPF equivalent',
      },
      {
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

  it('takes jumps nested 50 deep (the old linear walk refused past 48)', () => {
    const names = Array.from({ length: 50 }, (_, k) => `c${String(k).padStart(2, '0')}`);
    const text = `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${names
      .map((n) => `:${n} - [0:0]\n`)
      .join('')}-A INPUT -j c00\n${names
      .slice(0, -1)
      .map((n, k) => `-A ${n} -p tcp -j ${names[k + 1]}\n`)
      .join('')}COMMIT\n`;
    expect(translateSave(text, flavor).maxDepth).toBe(50);
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
    expect(r.out).toMatch(/^# table filter: \d+ entries in \d+ blocks, jump depth 1, extensions: /);
    const headers = new Set(r.out.match(/^# e\d+ \S+ rule \d+ \(line \d+\): -A .*$/gm));
    expect(headers.size).toBe(200);
    for (const hook of ['INPUT', 'FORWARD', 'OUTPUT']) {
      expect(r.out).toMatch(new RegExp(`^# {3}${hook}: chain ${hook}, first block b`, 'm'));
    }
    expect(r.out.match(/^## program /gm)).toHaveLength(1);
    expect(r.out).toContain('# e0 INPUT rule 1 (line 27): -A INPUT -i lo -j ACCEPT\n');
  });

  it('--json reads stdin and gives entries and programs', () => {
    const r = cli(['--json'], TEXT);
    expect(r.status).toBe(0);
    const t = JSON.parse(r.out) as Translation;
    expect(t).toEqual(JSON.parse(JSON.stringify(translateSave(TEXT, flavor))));
    expect(t.entries[0]).toMatchObject({
      index: 0,
      chain: 'INPUT',
      rule: 1,
      line: 27,
      text: '-A INPUT -i lo -j ACCEPT',
      action: 'ACCEPT',
    });
    expect(t.program.insns[0]).toMatchObject({ labels: ['main'] });
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
