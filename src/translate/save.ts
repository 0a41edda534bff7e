// iptables-save text → IR table, as iptables-legacy-restore builds it: the same ipt_ip fields,
// the same extensions at the same revisions with iptables' defaults (each extension parses its
// own options: `parse` in ext/<name>.ts), user chains in libiptc's order (sorted by name), and a
// rule without -j falling through to the next entry. The result goes through checkReplace, so
// text the kernel would refuse is refused here too.
import { IPT_F_FRAG, IPT_F_GOTO, IPT_INV_PROTO } from './abi.js';
import { XtError } from './errno.js';
import {
  OptionError,
  parseAddrMask,
  parseInterface,
  parseProtocol,
  UnknownOption,
} from './ext/args.js';
import { MATCHES, TARGETS } from './ext/registry.js';
import type { Extension, SaveOption } from './ext/types.js';
import {
  type BuiltinChain,
  type Chain,
  type ExtensionUse,
  type JumpTarget,
  type Policy,
  type Rule,
  type RuleIp,
  type RuleTarget,
  type Table,
  type UserChain,
  type XtCounters,
  ZERO_COUNTERS,
} from './ir.js';
import { initialTable, replaceBlob } from './table.js';
import { checkReplace } from './validate.js';

/** A save file the translator refuses, with the line (1-based) it refuses. */
export class SaveError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'SaveError';
  }
}

/** Where a rule of the table came from. */
export interface SavedRule {
  readonly chain: string;
  /** 1-based position in its chain, as iptables numbers rules. */
  readonly rule: number;
  readonly line: number;
  /** The rule as written, without a counters prefix: `-A INPUT -p tcp --dport 22 -j ACCEPT`. */
  readonly text: string;
}

export interface SavedTable {
  /** The table as checkReplace returns it (hookMask set). */
  readonly table: Table;
  readonly rules: readonly SavedRule[];
}

interface Token {
  readonly text: string;
  /** Quoted tokens are always values, even when they start with `-` or are `!`. */
  readonly quoted: boolean;
}

/** iptables-restore's add_param_to_argv: whitespace splits, double or single quotes group. */
export function tokenize(line: string, lineNo: number): Token[] {
  const out: Token[] = [];
  let cur = '';
  let quote: string | undefined;
  let quoted = false;
  let inToken = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote !== undefined) {
      if (c === '\\' && (line[i + 1] === quote || line[i + 1] === '\\')) {
        cur += line[++i] as string;
      } else if (c === quote) {
        quote = undefined;
      } else {
        cur += c;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
      quoted = true;
      inToken = true;
    } else if (c === ' ' || c === '\t') {
      if (inToken) out.push({ text: cur, quoted });
      [cur, quoted, inToken] = ['', false, false];
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (quote !== undefined) throw new SaveError(lineNo, 'unterminated quote');
  if (inToken) out.push({ text: cur, quoted });
  return out;
}

const COUNTERS = /^\[(\d+):(\d+)\]$/;

function parseCounters(s: string, lineNo: number): XtCounters {
  const m = COUNTERS.exec(s);
  if (m === null) throw new SaveError(lineNo, `bad counters "${s}"`);
  return { pcnt: BigInt(m[1] ?? 0), bcnt: BigInt(m[2] ?? 0) };
}

const VERDICTS = new Set(['ACCEPT', 'DROP', 'QUEUE', 'RETURN']);
/** XT_EXTENSION_MAXNAMELEN - 1: the longest chain name libiptc takes. */
const MAX_CHAIN_NAME = 28;

interface PendingRule {
  readonly chain: string;
  readonly line: number;
  readonly text: string;
  readonly tokens: readonly Token[];
  readonly counters: XtCounters;
}

interface TableBlock {
  readonly name: string;
  readonly line: number;
  readonly policies: Map<string, { policy: Policy; counters: XtCounters }>;
  readonly userChains: Set<string>;
  readonly rules: PendingRule[];
}

/** A table of the text other than filter: passed over, unchecked. */
export interface SkippedTable {
  readonly name: string;
  readonly line: number;
}

export interface SaveFile {
  /** The filter tables, each checked as SET_REPLACE would check it. */
  readonly tables: readonly SavedTable[];
  /** Other tables (nat, mangle, ...): the helper has none of them, so they are only listed. */
  readonly skipped: readonly SkippedTable[];
}

/** The tables of an iptables-save text. */
export function parseSave(text: string): SaveFile {
  const tables: SavedTable[] = [];
  const skipped: SkippedTable[] = [];
  let block: TableBlock | undefined;
  let skipping: SkippedTable | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, k) => {
    const lineNo = k + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const open = block ?? skipping;
    if (line.startsWith('*')) {
      if (open !== undefined) throw new SaveError(lineNo, `table "${open.name}" lacks COMMIT`);
      const name = line.slice(1);
      if (name === 'filter') {
        block = { name, line: lineNo, policies: new Map(), userChains: new Set(), rules: [] };
      } else {
        skipping = { name, line: lineNo };
      }
      return;
    }
    if (open === undefined) throw new SaveError(lineNo, 'no table (a "*filter" line) before it');
    if (line === 'COMMIT') {
      if (block !== undefined) tables.push(buildTable(block));
      if (skipping !== undefined) skipped.push(skipping);
      [block, skipping] = [undefined, undefined];
      return;
    }
    if (block === undefined) return;
    if (line.startsWith(':')) {
      declareChain(block, line.slice(1), lineNo);
      return;
    }
    let counters = ZERO_COUNTERS;
    let rest = line;
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      counters = parseCounters(line.slice(0, end + 1), lineNo);
      rest = line.slice(end + 1).trim();
    }
    const tokens = tokenize(rest, lineNo);
    const [cmd, chain, ...args] = tokens;
    if (cmd?.text === '-A' || cmd?.text === '--append') {
      if (chain === undefined) throw new SaveError(lineNo, '-A without a chain');
      block.rules.push({ chain: chain.text, line: lineNo, text: rest, tokens: args, counters });
    } else if (cmd?.text === '-N' || cmd?.text === '--new-chain') {
      declareChain(block, `${chain?.text ?? ''} -`, lineNo);
    } else if (cmd?.text === '-P' || cmd?.text === '--policy') {
      declareChain(block, `${chain?.text ?? ''} ${args[0]?.text ?? ''}`, lineNo);
    } else {
      throw new SaveError(
        lineNo,
        `"${cmd?.text ?? ''}": only -A, -N and -P commands are supported in a save file`,
      );
    }
  });
  const open = block ?? skipping;
  if (open !== undefined) {
    const last = lines.reduce((n, l, k) => (l.trim() === '' ? n : k + 1), 0);
    throw new SaveError(last, `table "${open.name}" lacks COMMIT`);
  }
  return { tables, skipped };
}

function declareChain(block: TableBlock, decl: string, lineNo: number): void {
  const [name = '', policy = '', counters] = decl.trim().split(/\s+/);
  const builtin = initialTable('filter').chains.some((c) => c.name === name);
  if (builtin) {
    if (policy !== 'ACCEPT' && policy !== 'DROP') {
      throw new SaveError(lineNo, `chain ${name}: policy "${policy}" is not ACCEPT or DROP`);
    }
    const c = counters === undefined ? ZERO_COUNTERS : parseCounters(counters, lineNo);
    block.policies.set(name, { policy, counters: c });
    return;
  }
  if (policy !== '-') throw new SaveError(lineNo, `user chain ${name} cannot have a policy`);
  if (name === '' || name.length > MAX_CHAIN_NAME || name.startsWith('-') || VERDICTS.has(name)) {
    throw new SaveError(lineNo, `invalid chain name "${name}"`);
  }
  if (block.userChains.has(name)) throw new SaveError(lineNo, `chain ${name} already exists`);
  block.userChains.add(name);
}

function buildTable(block: TableBlock): SavedTable {
  const base = initialTable('filter');
  // libiptc keeps user chains sorted by name (strcmp order).
  const users = [...block.userChains].sort((a, b) =>
    Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')),
  );
  const rulesOf = new Map<string, Rule[]>();
  const saved: SavedRule[] = [];
  for (const c of [...base.chains.map((c) => c.name), ...users]) rulesOf.set(c, []);
  const chainNames = new Set(users);
  for (const p of block.rules) {
    const list = rulesOf.get(p.chain);
    if (list === undefined) throw new SaveError(p.line, `no chain "${p.chain}"`);
    try {
      for (const rule of parseRule(p, list.length, chainNames)) {
        checkRule(rule);
        list.push(rule);
        saved.push({ chain: p.chain, rule: list.length, line: p.line, text: p.text });
      }
    } catch (e) {
      if (e instanceof OptionError || e instanceof XtError) throw new SaveError(p.line, e.message);
      throw e;
    }
  }
  const chains: Chain[] = base.chains.map((c) => {
    const b = c as BuiltinChain;
    const pol = block.policies.get(c.name);
    return {
      ...b,
      rules: rulesOf.get(c.name) ?? [],
      ...(pol ? { policy: pol.policy, policyCounters: pol.counters } : {}),
    };
  });
  for (const name of users) {
    const user: UserChain = {
      kind: 'user',
      name,
      rules: rulesOf.get(name) ?? [],
      headCounters: ZERO_COUNTERS,
      returnCounters: ZERO_COUNTERS,
    };
    chains.push(user);
  }
  const table: Table = { ...base, chains };
  return { table: checkTable(table, block.line), rules: saved };
}

/**
 * The extensions' own checks on one rule, so that a refusal names its line; checkTable then
 * runs them again with the hooks each rule is reachable from.
 */
function checkRule(rule: Rule): void {
  const ctx = {
    table: 'filter',
    hookMask: 0,
    proto: rule.ip.proto,
    invProto: (rule.ip.invflags & IPT_INV_PROTO) !== 0,
  };
  const uses =
    rule.target.kind === 'extension' ? [...rule.matches, rule.target.target] : rule.matches;
  for (const u of uses) u.extension.check(u.value, u.revision, ctx);
}

/** The ipt_replace iptables would send for `table`, run through the kernel's checks. */
function checkTable(table: Table, lineNo: number): Table {
  try {
    return checkReplace(replaceBlob(table));
  } catch (e) {
    if (e instanceof XtError) {
      throw new SaveError(
        lineNo,
        `table "${table.name}" is refused by the kernel's checks: ${e.message}`,
      );
    }
    throw e;
  }
}

interface Group {
  readonly extension: Extension<unknown>;
  readonly options: SaveOption[];
  /** Token index where iptables loaded it (orders implicitly loaded matches). */
  at: number;
  /** Loaded for -p rather than by -m: it sits where its first option appeared. */
  readonly implicit?: true;
}

const GENERIC: Readonly<Record<string, string>> = {
  '-s': 's',
  '--source': 's',
  '--src': 's',
  '-d': 'd',
  '--destination': 'd',
  '--dst': 'd',
  '-i': 'i',
  '--in-interface': 'i',
  '-o': 'o',
  '--out-interface': 'o',
  '-p': 'p',
  '--protocol': 'p',
  '-f': 'f',
  '--fragment': 'f',
  '-j': 'j',
  '--jump': 'j',
  '-g': 'g',
  '--goto': 'g',
  '-m': 'm',
  '--match': 'm',
  '-c': 'c',
  '--set-counters': 'c',
};

/** Matches named after the protocol they are implicitly loaded for. */
const PROTOCOL_OF: Readonly<Record<string, number>> = {
  icmp: 1,
  tcp: 6,
  udp: 17,
  dccp: 33,
  esp: 50,
  ah: 51,
  ipcomp: 108,
  sctp: 132,
};

/** IPT_INV_* bit of each invertible generic option. */
const INV_BIT: Readonly<Record<string, number>> = {
  s: 0x08,
  d: 0x10,
  i: 0x01,
  o: 0x02,
  p: 0x40,
  f: 0x20,
};

/**
 * The rules of one -A line: one, or with address lists (`-s a,b -d c`) one per source and
 * destination pair, sources outermost, as iptables appends them.
 */
function parseRule(p: PendingRule, position: number, chains: ReadonlySet<string>): Rule[] {
  const t = p.tokens;
  const seen = new Map<string, { value: string; invert: boolean }>();
  const matches: Group[] = [];
  let targetName: string | undefined;
  let target: Group | undefined;
  /** Where extension options go: the last -m or -j, until a generic option intervenes. */
  let current: Group | undefined;
  let counters = p.counters;
  let invert = false;
  let i = 0;
  const optionAt = new Map<SaveOption, number>();
  const value = (opt: string): string => {
    const v = t[i++];
    if (v === undefined) throw new OptionError(`${opt} needs an argument`);
    return v.text;
  };
  while (i < t.length) {
    const tok = t[i++] as Token;
    if (tok.text === '!' && !tok.quoted) {
      if (invert) throw new OptionError('"!" given twice');
      invert = true;
      continue;
    }
    const g = tok.quoted ? undefined : GENERIC[tok.text];
    if (g !== undefined) {
      current = undefined;
      if (invert && INV_BIT[g] === undefined) {
        throw new OptionError(`${tok.text} cannot be inverted with "!"`);
      }
      if (g === 'm') {
        const name = value(tok.text);
        const ext = MATCHES.find((m) => m.name === name);
        if (ext?.parse === undefined) throw new OptionError(`unknown match "${name}"`);
        current = { extension: ext, options: [], at: i };
        matches.push(current);
      } else if (g === 'j' || g === 'g') {
        if (targetName !== undefined) throw new OptionError('more than one -j/-g');
        targetName = value(tok.text);
        const ext = g === 'j' ? TARGETS.find((x) => x.name === targetName) : undefined;
        if (ext?.parse !== undefined) {
          target = { extension: ext, options: [], at: i };
          current = target;
        }
        seen.set(g, { value: targetName, invert: false });
      } else if (g === 'c') {
        const pc = value(tok.text);
        const bc = value(tok.text);
        counters = parseCounters(`[${pc}:${bc}]`, p.line);
      } else {
        if (seen.has(g)) throw new OptionError(`${tok.text} given more than once`);
        seen.set(g, { value: g === 'f' ? '' : value(tok.text), invert });
      }
      invert = false;
      continue;
    }
    if (!tok.quoted && tok.text.startsWith('-') && tok.text.length > 1) {
      const name = tok.text.replace(/^--?/, '');
      const args: string[] = [];
      while (i < t.length) {
        const a = t[i] as Token;
        if (!a.quoted && (a.text === '!' || (a.text.startsWith('-') && a.text.length > 1))) break;
        args.push(a.text);
        i++;
      }
      const option = { name, invert, args };
      optionAt.set(option, i);
      current ??= protoMatch(seen.get('p')?.value, matches, i);
      if (current === undefined) throw new OptionError(`unknown option "${tok.text}"`);
      current.options.push(option);
      invert = false;
      continue;
    }
    throw new OptionError(`unexpected "${tok.text}"`);
  }
  if (invert) throw new OptionError('"!" with nothing after it');

  // iptables' own check on built-in chains (the kernel would accept it and never match).
  if (seen.has('o') && (p.chain === 'INPUT' || p.chain === 'PREROUTING')) {
    throw new OptionError(`can't use -o with ${p.chain}`);
  }
  if (seen.has('i') && (p.chain === 'OUTPUT' || p.chain === 'POSTROUTING')) {
    throw new OptionError(`can't use -i with ${p.chain}`);
  }
  const ip = ruleIp(seen);
  const ctx = { proto: ip.proto, invProto: (ip.invflags & IPT_INV_PROTO) !== 0 };
  // Options a match does not have go to the -p match, as iptables' getopt hands them over: move
  // one and parse everything again until every extension takes all of its options.
  let uses: ExtensionUse[];
  let targetUse: ExtensionUse | undefined;
  for (;;) {
    try {
      uses = matches.map((g) => parseGroup(g, ctx));
      targetUse = target !== undefined ? parseGroup(target, ctx) : undefined;
      break;
    } catch (e) {
      if (!(e instanceof UnknownOption)) throw e;
      const from = [...matches, target].find((g) => g?.options.includes(e.option));
      const to = protoMatch(seen.get('p')?.value, matches, optionAt.get(e.option) ?? 0);
      if (from === undefined || to === undefined || to === from) throw e;
      from.options.splice(from.options.indexOf(e.option), 1);
      to.options.push(e.option);
    }
  }
  const flags = ip.flags | (seen.has('g') ? IPT_F_GOTO : 0);
  const [srcs, dsts] = [addrList(seen, 's'), addrList(seen, 'd')];
  const inverted = seen.get('s')?.invert === true || seen.get('d')?.invert === true;
  if (inverted && srcs.length * dsts.length > 1) {
    throw new OptionError('! not allowed with multiple source or destination addresses');
  }
  const pairs = srcs.flatMap((s) => dsts.map((d) => [s, d] as const));
  return pairs.map(([s, d], k) => ({
    ip: { ...ip, flags, src: s.addr, srcMask: s.mask, dst: d.addr, dstMask: d.mask },
    nfcache: 0,
    matches: uses,
    target: ruleTarget(targetName, seen.has('g'), targetUse, chains, {
      chain: p.chain,
      index: position + k + 1,
    }),
    counters,
    slack: 0,
  }));
}

/** -s/-d as a list of address/mask pairs, each address stored under its mask as iptables does. */
function addrList(
  seen: ReadonlyMap<string, { value: string; invert: boolean }>,
  g: 's' | 'd',
): { addr: number; mask: number }[] {
  const v = seen.get(g)?.value;
  if (v === undefined) return [{ addr: 0, mask: 0 }];
  return v.split(',').map((item) => {
    const a = parseAddrMask(item, `-${g}`);
    return { addr: (a.addr & a.mask) >>> 0, mask: a.mask };
  });
}

/**
 * The match named after -p (by protocol name, also when -p gave the number), which iptables loads
 * when an option no loaded match claims comes at token `at`: an existing one, or a new one placed
 * among `matches` where that option appeared. Undefined when -p names no such match.
 */
function protoMatch(proto: string | undefined, matches: Group[], at: number): Group | undefined {
  if (proto === undefined) return undefined;
  const n = parseProtocol(proto, '-p');
  const ext = MATCHES.find((m) => m.parse !== undefined && PROTOCOL_OF[m.name] === n);
  if (ext === undefined) return undefined;
  const existing = matches.find((m) => m.extension === ext);
  if (existing !== undefined && (existing.implicit !== true || existing.at <= at)) return existing;
  // New, or implicit and now claimed by an option seen earlier: it goes where that option was.
  const g: Group = existing ?? { extension: ext, options: [], at, implicit: true };
  if (existing !== undefined) matches.splice(matches.indexOf(existing), 1);
  g.at = at;
  const after = matches.findIndex((m) => m.at > at);
  matches.splice(after === -1 ? matches.length : after, 0, g);
  return g;
}

function parseGroup(g: Group, ctx: { proto: number; invProto: boolean }): ExtensionUse {
  const parse = g.extension.parse;
  if (parse === undefined) throw new OptionError(`"${g.extension.name}" takes no options`);
  return parse.call(g.extension, g.options, ctx);
}

function ruleTarget(
  name: string | undefined,
  isGoto: boolean,
  extension: ExtensionUse | undefined,
  chains: ReadonlySet<string>,
  next: JumpTarget,
): RuleTarget {
  // No -j: libiptc writes a jump to the next entry (IPTCC_R_FALLTHROUGH).
  if (name === undefined) return { kind: 'jump', ...next };
  if (!isGoto && VERDICTS.has(name)) {
    return { kind: 'verdict', verdict: name as 'ACCEPT' | 'DROP' | 'QUEUE' | 'RETURN' };
  }
  if (extension !== undefined) return { kind: 'extension', target: extension };
  if (!chains.has(name)) {
    throw new OptionError(`-${isGoto ? 'g' : 'j'} ${name}: no such target or user chain`);
  }
  return { kind: isGoto ? 'goto' : 'jump', chain: name, index: 0 };
}

/** ipt_ip without the addresses (addrList gives those). */
function ruleIp(seen: ReadonlyMap<string, { value: string; invert: boolean }>): RuleIp {
  let invflags = 0;
  for (const [g, v] of seen) if (v.invert) invflags |= INV_BIT[g] ?? 0;
  const p = seen.get('p');
  const proto = p === undefined ? 0 : parseProtocol(p.value, '-p');
  if (proto === 0 && p?.invert === true) {
    throw new OptionError('! -p all: the rule would never match');
  }
  return {
    src: 0,
    srcMask: 0,
    dst: 0,
    dstMask: 0,
    inIface: parseInterface(seen.get('i')?.value ?? '', '-i'),
    outIface: parseInterface(seen.get('o')?.value ?? '', '-o'),
    proto,
    flags: seen.has('f') ? IPT_F_FRAG : 0,
    invflags,
  };
}
