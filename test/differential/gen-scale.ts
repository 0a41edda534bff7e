// Case kinds at scale for the differential harness, beside gen.ts's small ones:
//  - big: 2,000 to 2,400 ClassBench rules (bench/data: prefix pairs, port ranges, protocols) over
//    the built-in chains, and packets built from the rules' own fields (inside their boxes, on
//    their edges, just outside), plus headers of ClassBench's own trace;
//  - jumps: up to 1,000 user chains whose rules jump, goto and RETURN into later chains (a DAG:
//    the kernel refuses a loop with ELOOP), nesting as deep as the chains go, and packets aimed
//    at a chain by solving the conditions of a path of jumps that reaches it.
// A case is a function of one fast-check integer, expanded by a seeded PRNG: the same on every
// replay, and cheap to draw at thousands of rules.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { caseAt, LOCAL, portOf, type Builtin, type Case, type RuleSpec } from './gen.js';
import { icmpMsg, ip4, ip4str, ipv4, tcpSeg, udpSeg } from './packets.js';
import { ROOT, type Packet, type Port } from './topology.js';
import { mulberry32 } from '../helpers/random.js';

export type Kind = 'small' | 'big' | 'jumps';
export const KINDS: readonly Kind[] = ['small', 'big', 'jumps'];

/** Packets per case when the caller does not say: big and jumps cases cost a long restore each,
 *  so they carry more packets. */
export const DEFAULT_PACKETS: Readonly<Record<Kind, number>> = { small: 60, big: 400, jumps: 300 };

/** Case `index` of the run with `seed` and `kind`: the same on every replay. */
export function caseOf(kind: Kind, seed: number, index: number, packets: number): Case {
  if (kind === 'small') return caseAt(seed, index, packets);
  const [s] = fc.sample(fc.noBias(fc.integer()), { seed: (seed + index * 7919) | 0, numRuns: 1 });
  if (s === undefined) throw new Error('fast-check gave no sample');
  return kind === 'big' ? bigCase(s, packets) : jumpsCase(s, index, packets);
}

/** mulberry32: small, seeded, the same on every platform. */
class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------- conditions

type Field = 'src' | 'dst' | 'proto' | 'sport' | 'dport' | 'ttl' | 'len';

/** One clause of a rule as an interval of a packet field (a prefix is an interval too). */
interface Cond {
  readonly field: Field;
  readonly lo: number;
  readonly hi: number;
  readonly neg: boolean;
  /** The clause as iptables takes it, without its `!`. */
  readonly text: string;
}

const ORDER: readonly Field[] = ['src', 'dst', 'proto', 'sport', 'dport', 'ttl', 'len'];
const PROTO_NAME: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

function prefixCond(field: 'src' | 'dst', addr: number, len: number, neg = false): Cond {
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  const lo = (addr & mask) >>> 0;
  const hi = (lo | ~mask) >>> 0;
  return { field, lo, hi, neg, text: `${field === 'src' ? '-s' : '-d'} ${ip4str(lo)}/${len}` };
}

const protoCond = (p: number, neg = false): Cond => ({
  field: 'proto',
  lo: p,
  hi: p,
  neg,
  text: `-p ${PROTO_NAME[p] ?? p}`,
});

const portCond = (field: 'sport' | 'dport', lo: number, hi: number, neg = false): Cond => ({
  field,
  lo,
  hi,
  neg,
  text: `--${field} ${lo === hi ? lo : `${lo}:${hi}`}`,
});

const lenCond = (lo: number, hi: number, neg = false): Cond => ({
  field: 'len',
  lo,
  hi,
  neg,
  text: `--length ${lo}:${hi}`,
});

function ttlCond(op: 'eq' | 'lt' | 'gt', v: number, neg = false): Cond {
  const [lo, hi] = op === 'eq' ? [v, v] : op === 'lt' ? [0, v - 1] : [v + 1, 255];
  return { field: 'ttl', lo, hi, neg: op === 'eq' && neg, text: `--ttl-${op} ${v}` };
}

/** A rule's clauses in the order iptables wants them (ports after their -p, matches last). */
function render(conds: readonly Cond[]): string {
  return [...conds]
    .sort((a, b) => ORDER.indexOf(a.field) - ORDER.indexOf(b.field))
    .map((c) => {
      const n = c.neg ? '! ' : '';
      if (c.field === 'ttl') return `-m ttl ${n}${c.text}`;
      if (c.field === 'len') return `-m length ${n}${c.text}`;
      return `${n}${c.text}`;
    })
    .join(' ');
}

const holds = (c: Cond, v: number): boolean => (v >= c.lo && v <= c.hi) !== c.neg;

// ---------------------------------------------------------------- packets

/** The fields of one packet the conditions talk about, and where it enters. */
interface Pkt {
  src: number;
  dst: number;
  proto: number;
  sport: number;
  dport: number;
  ttl: number;
  len: number;
  port: Port;
  flags: number;
}

const L4_HDR: Readonly<Record<number, number>> = { 6: 20, 17: 8, 1: 8 };

function build(p: Pkt, id: number): Packet {
  const hdr = 20 + (L4_HDR[p.proto] ?? 0);
  const data = Buffer.alloc(Math.max(0, p.len - hdr), 0x61);
  const f = { src: p.src, dst: p.dst, ttl: p.ttl, id, df: false, tos: 0, fragoff: 0, mf: false };
  let ip: Buffer;
  if (p.proto === 6) {
    const seg = tcpSeg(p.src, p.dst, {
      sport: p.sport,
      dport: p.dport,
      seq: 7,
      ack: p.flags & 0x10 ? 9 : 0,
      flags: p.flags,
      options: Buffer.alloc(0),
      data,
    });
    ip = ipv4({ ...f, proto: 6 }, seg);
  } else if (p.proto === 17) {
    ip = ipv4({ ...f, proto: 17 }, udpSeg(p.src, p.dst, p.sport, p.dport, data));
  } else if (p.proto === 1) {
    ip = ipv4({ ...f, proto: 1 }, icmpMsg(8, 0, 0x00010001 + id, data));
  } else {
    ip = ipv4({ ...f, proto: p.proto }, data.length ? data : Buffer.from('x'));
  }
  return { port: p.port, ip };
}

const fieldOf = (p: Pkt, f: Field): number => p[f];

/** A value in [lo, hi]: one of its edges or anywhere inside. */
function inside(r: Rand, lo: number, hi: number): number {
  const k = r.next();
  if (k < 0.2) return lo;
  if (k < 0.4) return hi;
  return lo + Math.floor(r.next() * (hi - lo + 1));
}

/** Just outside [lo, hi] within [0, max], or inside when the interval fills it. */
function outside(r: Rand, lo: number, hi: number, max: number): number {
  const below = lo > 0 ? lo - 1 : undefined;
  const above = hi < max ? hi + 1 : undefined;
  if (below === undefined) return above ?? lo;
  if (above === undefined) return below;
  return r.chance(0.5) ? below : above;
}

const MAX: Readonly<Record<Field, number>> = {
  src: 0xffffffff,
  dst: 0xffffffff,
  proto: 255,
  sport: 65535,
  dport: 65535,
  ttl: 255,
  len: 1400,
};

// ---------------------------------------------------------------- big: ClassBench

const SETS = ['acl1_10k', 'fw1_10k', 'ipc1_10k'] as const;

interface CbRule {
  readonly conds: readonly Cond[];
}

const loaded = new Map<string, { rules: CbRule[]; trace: number[][] }>();

function parseRule(line: string): CbRule {
  const t = line.split(' ');
  const conds: Cond[] = [];
  for (let i = 0; i < t.length; i++) {
    const v = t[i + 1] ?? '';
    const [a = '', b = a] = v.split(':');
    switch (t[i]) {
      case '-s':
      case '-d': {
        const [addr = '', len = '32'] = v.split('/');
        conds.push(prefixCond(t[i] === '-s' ? 'src' : 'dst', ip4(addr), Number(len)));
        break;
      }
      case '-p':
        conds.push(protoCond(v === 'tcp' ? 6 : v === 'udp' ? 17 : v === 'icmp' ? 1 : Number(v)));
        break;
      case '--sport':
      case '--dport':
        conds.push(portCond(t[i] === '--sport' ? 'sport' : 'dport', Number(a), Number(b)));
        break;
      default:
    }
  }
  return { conds };
}

function classbench(set: string): { rules: CbRule[]; trace: number[][] } {
  const have = loaded.get(set);
  if (have) return have;
  const read = (f: string): string[] =>
    gunzipSync(readFileSync(join(ROOT, 'bench', 'data', f)))
      .toString('utf8')
      .split('\n');
  const rules = read(`${set}.rules.gz`)
    .filter((l) => l.startsWith('-A INPUT '))
    .map(parseRule);
  const trace = read(`${set}.trace.gz`)
    .filter((l) => /^\d/.test(l))
    .slice(0, 4000)
    .map((l) => l.split('\t').map(Number));
  const out = { rules, trace };
  loaded.set(set, out);
  return out;
}

/** Where a packet of `chain` enters: INPUT and FORWARD from either side, OUTPUT from the router. */
function entry(r: Rand, chain: Builtin, src: number): Port {
  if (chain === 'OUTPUT') return 'local';
  // rp_filter is off: any port takes any source; mostly the one that routes back to it.
  return r.chance(0.7) ? portOf(src) : r.pick(['in0', 'in1', 'out0', 'out1'] as const);
}

/** A packet inside `conds` on every field but perhaps one, which is just outside. */
function aimed(r: Rand, conds: readonly Cond[], chain: Builtin): Pkt {
  const p: Pkt = {
    src: r.int(0, 0xffffffff),
    dst: r.int(0, 0xffffffff),
    proto: r.pick([6, 6, 17, 1]),
    sport: r.int(0, 65535),
    dport: r.int(0, 65535),
    ttl: 64,
    len: r.int(40, 200),
    port: 'in0',
    flags: r.pick([0x02, 0x02, 0x10, 0x12, 0x04]),
  };
  const miss = r.chance(0.3) ? r.pick(conds) : undefined;
  for (const c of conds) {
    const v = c === miss ? outside(r, c.lo, c.hi, MAX[c.field]) : inside(r, c.lo, c.hi);
    p[c.field] = v;
  }
  if (chain === 'INPUT') p.dst = ip4(r.pick(LOCAL));
  p.port = entry(r, chain, p.src);
  return p;
}

/** ClassBench rules over the built-ins (INPUT's with a local destination instead of theirs). */
function bigCase(seed: number, packets: number): Case {
  const r = new Rand(seed);
  const set = classbench(r.pick(SETS));
  const n = r.int(2000, 2400);
  const picked: { chain: Builtin; conds: readonly Cond[]; target: string }[] = [];
  // n of the set's rules, in the set's order.
  for (let i = 0, need = n; i < set.rules.length && need > 0; i++) {
    if (!r.chance(need / (set.rules.length - i))) continue;
    need--;
    const rule = set.rules[i] as CbRule;
    const k = r.next();
    const chain: Builtin = k < 0.6 ? 'FORWARD' : k < 0.85 ? 'OUTPUT' : 'INPUT';
    const conds =
      chain === 'INPUT'
        ? [
            ...rule.conds.filter((c) => c.field !== 'dst'),
            prefixCond('dst', ip4(r.pick(LOCAL)), 32),
          ]
        : rule.conds;
    // Mostly verdicts as in the set; counting rules and RETURNs (the policy, in a built-in).
    const target = r.pick([
      '-j ACCEPT',
      '-j DROP',
      '-j ACCEPT',
      '-j DROP',
      '-j ACCEPT',
      '',
      '-j RETURN',
    ]);
    picked.push({ chain, conds, target });
  }
  const policy = (): 'ACCEPT' | 'DROP' => r.pick(['ACCEPT', 'DROP'] as const);
  const rules: RuleSpec[] = picked.map((x) => ({
    chain: x.chain,
    args: `${render(x.conds)} ${x.target}`.trim(),
  }));
  const out: Packet[] = [];
  for (let i = 0; i < packets; i++) {
    if (r.chance(0.15)) {
      // A header of the set's trace, forwarded or sent by the router.
      const [src = 0, dst = 0, sport = 0, dport = 0, proto = 6] = r.pick(set.trace);
      const chain: Builtin = r.chance(0.7) ? 'FORWARD' : 'OUTPUT';
      const p: Pkt = { src, dst, proto, sport, dport, ttl: 64, len: 60, port: 'in0', flags: 2 };
      p.port = entry(r, chain, src);
      out.push(build(p, i + 1));
      continue;
    }
    const x = r.pick(picked);
    out.push(build(aimed(r, x.conds, x.chain), i + 1));
  }
  return {
    ruleset: {
      policies: { INPUT: policy(), FORWARD: policy(), OUTPUT: policy() },
      chains: [],
      rules,
    },
    packets: out,
  };
}

// ---------------------------------------------------------------- jumps: a DAG of chains

/** Steps one packet may cost at most, counting every rule of every chain it could enter. The
 *  kernel has no bound, ours drops after bpf_loop's 8M: far above this. */
const BUDGET = 30_000;

interface JRule {
  readonly chain: string;
  readonly conds: readonly Cond[];
  readonly target: string;
  /** The chain jumped or gone to. */
  readonly to?: string;
}

const SENDERS = ['192.168.1.10', '192.168.0.0', '172.16.5.1', '10.2.3.4', '8.8.8.8'].map(ip4);
const FARS = ['10.9.0.5', '10.9.200.1', '10.10.0.7', '10.8.1.1', '10.11.0.9'].map(ip4);
const LOCALS = LOCAL.map(ip4);

/** Random clauses for a rule outside a chain's dispatch (any field, maybe inverted). */
function looseConds(r: Rand, min: number): Cond[] {
  const out: Cond[] = [];
  const k = r.int(min, 2);
  for (let i = 0; i < k; i++) {
    const neg = r.chance(0.25);
    const kind = r.int(0, 4);
    // iptables takes one -s, one -d and one -p per rule.
    if (out.some((c) => c.field === (['src', 'dst'] as const)[kind])) continue;
    switch (kind) {
      case 0:
        out.push(prefixCond('src', r.pick(SENDERS), r.pick([8, 12, 16, 24, 32]), neg));
        break;
      case 1:
        out.push(prefixCond('dst', r.pick([...FARS, ...LOCALS]), r.pick([8, 14, 16, 24]), neg));
        break;
      case 2:
        out.push(ttlCond(r.pick(['eq', 'lt', 'gt'] as const), r.pick([32, 63, 64, 65, 128]), neg));
        break;
      case 3: {
        const a = r.int(20, 300);
        out.push(lenCond(a, a + r.int(0, 400), neg));
        break;
      }
      default: {
        if (out.some((c) => c.field === 'proto')) break;
        const a = r.int(0, 65535);
        const b = Math.min(65535, a + r.int(0, 5000));
        const f = r.pick(['sport', 'dport'] as const);
        out.push(protoCond(r.pick([6, 17])), portCond(f, a, b, neg));
      }
    }
  }
  return out;
}

/**
 * One case's partitions: each cuts one field (a protocol's source or destination port, the
 * source or destination address, the length) into pieces. Every chain dispatches on one of them,
 * so a packet lies in at most one piece of a chain's dispatch and its walk is a path, not a tree:
 * dense jumps without an exponential walk.
 */
function partitions(r: Rand): Cond[][][] {
  const cut = (k: number, lo: number, hi: number): [number, number][] => {
    const inner = [
      ...new Set(Array.from({ length: k - 1 }, () => r.int(lo + 1, Math.min(hi, 1400)))),
    ];
    const edges = [lo, ...inner.sort((a, b) => a - b), hi + 1];
    return edges.slice(1).map((e, i) => [edges[i] as number, e - 1]);
  };
  // Each partition is complete: its last piece is everything the others leave out, so every
  // packet goes on from a chain whose dispatch has all its pieces.
  const ports = (proto: number, field: 'sport' | 'dport'): Cond[][] => [
    ...cut(r.int(2, 6), 0, 65535).map(([a, b]) => [protoCond(proto), portCond(field, a, b)]),
    [protoCond(proto, true)],
  ];
  const subs = (field: 'src' | 'dst', base: string, len: number, q: number): Cond[][] => [
    ...Array.from({ length: 2 ** q }, (_, i) => [
      prefixCond(field, (ip4(base) + i * 2 ** (32 - len - q)) >>> 0, len + q),
    ]),
    [prefixCond(field, ip4(base), len, true)],
  ];
  return [
    ports(6, 'dport'),
    ports(17, 'dport'),
    ports(6, 'sport'),
    ports(17, 'sport'),
    // 10.8/14 holds the far side (10.9, 10.10) and what the default route sends back.
    subs('dst', '10.8.0.0', 14, 2),
    subs('src', '192.168.0.0', 16, r.int(1, 3)),
    cut(r.int(2, 5), 20, 65535).map(([a, b]) => [lenCond(a, b)]),
  ];
}

/**
 * `n` user chains c0..c(n-1), built from the last: each gets a dispatch (pieces of one partition,
 * each jumping or going to a later chain, the next one most often, so paths nest hundreds deep)
 * and loose rules (conditional RETURNs and verdicts, counting rules, jumps whose cost fits). A
 * chain's cost bounds the steps of a walk through it: its rules, plus the dearest of its dispatch
 * targets, plus every loose jump's target.
 */
function jumpsCase(seed: number, index: number, packets: number): Case {
  const r = new Rand(seed);
  // Every even case has the full 1,000 chains; the others fewer.
  const n = index % 2 === 0 ? 1000 : r.int(20, 999);
  const names = Array.from({ length: n }, (_, i) => `c${i}`);
  const parts = partitions(r);
  // How often a loose rule stops a walk (RETURN, then the verdicts) and a dispatch lacks pieces:
  // some cases nest hundreds deep, others end walks early and spread packets wider.
  // By index, so that any six cases in a row hold every mix with 1,000 chains and without.
  const stop = [0.005, 0.1, 0.3][Math.floor(index / 2) % 3] as number;
  // How often a loose rule jumps: each such jump adds its target's whole cost to the chain's.
  const loosely = r.pick([0.03, 0.2]);
  // How often a jump goes anywhere later rather than near: rarely, and paths nest hundreds deep.
  const far = r.pick([0.005, 0.05]);
  const cost = new Map<string, number>();
  const costOf = (c: string): number => cost.get(c) ?? 0;
  const target = (from: number, room: number): string | undefined => {
    for (let tries = 0; tries < 4 && from + 1 < n; tries++) {
      const k = r.next();
      const j = k < 0.55 ? from + 1 : k < 1 - far ? from + r.int(2, 5) : r.int(from + 1, n - 1);
      const name = names[Math.min(j, n - 1)] as string;
      if (costOf(name) <= room) return name;
    }
    return undefined;
  };
  const goOrJump = (to: string, jump: number): string => `${r.chance(jump) ? '-j' : '-g'} ${to}`;
  const byChain = new Map<string, JRule[]>();
  for (let i = n - 1; i >= 0; i--) {
    const chain = names[i] as string;
    const loose = r.int(0, 3);
    const part = r.pick(parts);
    // Mostly the whole partition, so every packet of the dispatch's protocol goes on.
    const pieces = r.chance(1 - stop) ? part : part.filter(() => r.chance(0.6));
    let spent = 1 + loose + pieces.length;
    let dear = 0;
    const rules: JRule[] = [];
    for (const conds of pieces) {
      const to = target(i, BUDGET - spent);
      if (to === undefined) continue;
      dear = Math.max(dear, costOf(to));
      rules.push({ chain, conds, target: goOrJump(to, 0.75), to });
    }
    spent += dear;
    for (let k = 0; k < loose; k++) {
      const x = r.next();
      if (x >= 1 - loosely) {
        // Within half the budget: a dispatch above must still find this chain affordable, or
        // its pieces would go missing and walks end here.
        const to = target(i, BUDGET / 2 - spent);
        if (to !== undefined) {
          spent += costOf(to);
          const t = goOrJump(to, 0.7);
          // An unconditional goto would end the chain for every packet.
          const conds = looseConds(r, t.startsWith('-g') ? 1 : 0);
          rules.splice(r.int(0, rules.length), 0, { chain, conds, target: t, to });
          continue;
        }
      }
      const t =
        x < stop ? '-j RETURN' : x < 1.4 * stop ? '-j ACCEPT' : x < 1.8 * stop ? '-j DROP' : '';
      const conds = looseConds(r, t === '' ? 0 : 1);
      rules.splice(r.int(0, rules.length), 0, { chain, conds, target: t });
    }
    byChain.set(chain, rules);
    cost.set(chain, spent);
  }
  // The built-ins enter the first chains through a dispatch of their own and a counted jump.
  const builtins: JRule[] = [];
  for (const chain of ['INPUT', 'FORWARD', 'OUTPUT'] as const) {
    for (const conds of r.pick(parts)) {
      const to = names[r.int(0, Math.min(n - 1, 4))] as string;
      builtins.push({ chain, conds, target: goOrJump(to, 0.8), to });
    }
    builtins.push({ chain, conds: looseConds(r, 0), target: `-j ${names[0]}`, to: names[0] });
  }
  const rules = [...builtins, ...names.flatMap((c) => byChain.get(c) ?? [])];
  const policies = {
    INPUT: r.pick(['ACCEPT', 'DROP'] as const),
    FORWARD: r.pick(['ACCEPT', 'DROP'] as const),
    OUTPUT: r.pick(['ACCEPT', 'DROP'] as const),
  };
  const chains = new Map<string, readonly JRule[]>();
  for (const x of rules) chains.set(x.chain, [...(chains.get(x.chain) ?? []), x]);
  // Packets: of a few candidates each time, the one whose walk enters the most chains no earlier
  // packet entered (the deepest on a tie), and some as they come.
  const seen = new Set<string>();
  const out: Packet[] = [];
  let deep = 0;
  for (let i = 0; i < packets; i++) {
    const tries = r.chance(0.85) ? 8 : 1;
    let best: [Pkt, number, readonly string[]] | undefined;
    for (let t = 0; t < tries; t++) {
      const p = lanePacket(r, parts);
      const w = walk(p, chains);
      const score = w.entered.filter((c) => !seen.has(c)).length + w.deepest / n;
      if (!best || score > best[1]) best = [p, score, w.entered];
      deep = Math.max(deep, w.depth);
    }
    if (!best) continue;
    for (const c of best[2]) seen.add(c);
    out.push(build(best[0], i + 1));
  }
  return {
    ruleset: {
      policies,
      chains: names,
      rules: rules.map((x) => ({ chain: x.chain, args: `${render(x.conds)} ${x.target}`.trim() })),
    },
    packets: out,
    nesting: deep,
  };
}

const chainOf = (p: Pkt): Builtin =>
  p.port === 'local' ? 'OUTPUT' : LOCALS.includes(p.dst) ? 'INPUT' : 'FORWARD';

/** A packet whose fields fall in random pieces of the partitions, entering any built-in. */
function lanePacket(r: Rand, parts: readonly Cond[][][]): Pkt {
  const chain = r.pick(['INPUT', 'FORWARD', 'FORWARD', 'OUTPUT'] as const);
  const piece = (field: Field): Cond | undefined => {
    const ps = parts.filter((p) => p[0]?.some((c) => c.field === field));
    const c = ps.length ? r.pick(r.pick(ps)).find((x) => x.field === field) : undefined;
    return c;
  };
  const value = (field: Field, fallback: number): number => {
    const c = piece(field);
    return c && !c.neg ? inside(r, c.lo, c.hi) : fallback;
  };
  let dst = chain === 'INPUT' ? r.pick(LOCALS) : value('dst', r.pick(FARS));
  if (chain === 'FORWARD' && LOCALS.includes(dst)) dst = r.pick(FARS);
  const src = chain === 'OUTPUT' && r.chance(0.5) ? r.pick(LOCALS) : value('src', r.pick(SENDERS));
  const proto = r.pick([6, 6, 17, 17, 1]);
  const p: Pkt = {
    src,
    dst,
    proto,
    sport: value('sport', r.int(0, 65535)),
    dport: value('dport', r.int(0, 65535)),
    ttl: r.pick([64, 64, 64, 32, 128]),
    len: Math.max(20 + (L4_HDR[proto] ?? 0), value('len', r.int(40, 600))),
    port: 'local',
    flags: r.pick([0x02, 0x02, 0x10]),
  };
  p.port = entry(r, chain, p.src);
  return p;
}

/**
 * The chains the packet's walk enters and the highest index among them, by ipt_do_table's rules
 * over the clauses this generator writes (every one an interval test, so this is exact for
 * them). Aiming only: what is compared is the kernel's walk, not this one.
 */
function walk(
  p: Pkt,
  chains: ReadonlyMap<string, readonly JRule[]>,
): { entered: string[]; deepest: number; depth: number } {
  const stack: [string, number][] = [];
  let [chain, at]: [string, number] = [chainOf(p), 0];
  const entered: string[] = [];
  let deepest = -1;
  let depth = 0;
  const match = (x: JRule): boolean => x.conds.every((c) => holds(c, fieldOf(p, c.field)));
  for (let steps = 0; steps < 2 * BUDGET; steps++) {
    const rule = (chains.get(chain) ?? [])[at];
    if (rule === undefined || (rule.target === '-j RETURN' && match(rule))) {
      const back = stack.pop();
      if (!back) break;
      [chain, at] = back;
    } else if (!match(rule)) at++;
    else if (rule.target === '-j ACCEPT' || rule.target === '-j DROP') break;
    else if (rule.to !== undefined) {
      if (rule.target.startsWith('-j')) stack.push([chain, at + 1]);
      depth = Math.max(depth, stack.length);
      [chain, at] = [rule.to, 0];
      entered.push(rule.to);
      deepest = Math.max(deepest, Number(rule.to.slice(1)));
    } else at++;
  }
  return { entered, deepest, depth };
}
