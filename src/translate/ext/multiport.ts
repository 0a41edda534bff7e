// -m multiport: struct xt_multiport_v1 (linux/netfilter/xt_multiport.h), revision 1 (the kernel
// dropped revision 0). Registered per family without .proto: multiport_mt_check itself demands a
// port-carrying -p without `!`, a known mode, count <= 15 and well-formed ranges (pflags[i] != 0
// makes ports[i]..ports[i+1] a range: it needs a following slot within count that is not itself
// a range start, and lo <= hi — multiport_valid_ranges, in the kernels we run on), all EINVAL.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parsePort, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import {
  IPPROTO_DCCP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  payload,
  zeroed,
} from './util.js';
import {
  Add,
  Ja,
  JEq,
  JGe,
  JLe,
  JLt,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  Size,
  ToBe,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4, unlessXor } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';
import {
  L4_SHORT,
  L4_WHOLE,
  box,
  inexact,
  intersect,
  interval,
  range,
  union,
  type Region,
} from '../classify/key.js';

export const XT_MULTIPORT_SOURCE = 0;
export const XT_MULTIPORT_DESTINATION = 1;
export const XT_MULTIPORT_EITHER = 2;
export const XT_MULTI_PORTS = 15;

export interface MultiportMatch {
  /** XT_MULTIPORT_SOURCE / DESTINATION / EITHER. */
  readonly flags: number;
  /** How many of `ports` the kernel reads. */
  readonly count: number;
  /** All 15 slots as stored, so unused slots round-trip too. */
  readonly ports: readonly number[];
  readonly pflags: readonly number[];
  readonly invert: number;
}

const SIZE = 48;
const PFLAGS = 32;
const INVERT = 47;
const PORT_PROTOS: ReadonlySet<number> = new Set([
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  IPPROTO_SCTP,
  IPPROTO_DCCP,
]);

export const multiport: Extension<MultiportMatch> = {
  kind: 'match',
  name: 'multiport',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): MultiportMatch {
    const b = payload(data, SIZE);
    const ports: number[] = [];
    const pflags: number[] = [];
    for (let i = 0; i < XT_MULTI_PORTS; i++) {
      ports.push(b.readUInt16LE(2 + 2 * i));
      pflags.push(b[PFLAGS + i] ?? 0);
    }
    return { flags: b[0] ?? 0, count: b[1] ?? 0, ports, pflags, invert: b[INVERT] ?? 0 };
  },
  encode(v: MultiportMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.flags, 0);
    b.writeUInt8(v.count, 1);
    for (let i = 0; i < XT_MULTI_PORTS; i++) {
      b.writeUInt16LE(v.ports[i] ?? 0, 2 + 2 * i);
      b.writeUInt8(v.pflags[i] ?? 0, PFLAGS + i);
    }
    b.writeUInt8(v.invert, INVERT);
    return b;
  },
  check(v: MultiportMatch, _revision: number, ctx: CheckContext): void {
    if (!PORT_PROTOS.has(ctx.proto) || ctx.invProto) {
      throw new XtError(
        EINVAL,
        `match "multiport" needs -p tcp/udp/udplite/sctp/dccp without "!", rule has ${ctx.invProto ? '! ' : ''}-p ${ctx.proto}`,
      );
    }
    if (v.flags > XT_MULTIPORT_EITHER) {
      throw new XtError(EINVAL, `match "multiport": unknown mode ${v.flags}`);
    }
    if (v.count > XT_MULTI_PORTS) {
      throw new XtError(EINVAL, `match "multiport": ${v.count} ports, at most ${XT_MULTI_PORTS}`);
    }
    const bad = badRange(v);
    if (bad !== -1) {
      throw new XtError(EINVAL, `match "multiport": malformed port range at slot ${bad}`);
    }
  },
  format(v: MultiportMatch): string {
    const opt = ['--sports', '--dports', '--ports'][v.flags] ?? `--mode${v.flags}`;
    const items: string[] = [];
    for (let i = 0; i < v.count; i++) {
      const lo = v.ports[i] ?? 0;
      if ((v.pflags[i] ?? 0) !== 0) items.push(`${lo}:${v.ports[++i] ?? 0}`);
      else items.push(String(lo));
    }
    return `${v.invert !== 0 ? '! ' : ''}${opt} ${items.join(',')}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "multiport"', options, {
      sports: { names: ['sports', 'source-ports'], invert: true },
      dports: { names: ['dports', 'destination-ports'], invert: true },
      ports: { names: ['ports'], invert: true },
    });
    const given = [o.sports, o.dports, o.ports];
    const set = given.filter((x) => x !== undefined);
    const opt = set[0];
    if (opt === undefined || set.length > 1) {
      throw new OptionError('match "multiport": exactly one of --sports, --dports, --ports');
    }
    const flags = given.indexOf(opt);
    // libxt_multiport's parse_multi_ports_v1: a range takes two slots, flagged on the first.
    const ports: number[] = [];
    const pflags: number[] = [];
    for (const item of (opt.args[0] ?? '').split(',')) {
      const [lo = '', hi, ...rest] = item.split(':');
      const what = `match "multiport": --${opt.name}`;
      if (rest.length > 0) throw new OptionError(`${what}: invalid port range "${item}"`);
      ports.push(parsePort(lo, what));
      pflags.push(hi === undefined ? 0 : 1);
      if (hi !== undefined) {
        const end = parsePort(hi, what);
        if ((ports[ports.length - 1] ?? 0) >= end) {
          throw new OptionError(`${what}: invalid port range "${item}"`);
        }
        ports.push(end);
        pflags.push(0);
      }
    }
    if (ports.length > XT_MULTI_PORTS) {
      throw new OptionError(`match "multiport": too many ports (at most ${XT_MULTI_PORTS})`);
    }
    const count = ports.length;
    while (ports.length < XT_MULTI_PORTS) {
      ports.push(0);
      pflags.push(0);
    }
    const value: MultiportMatch = { flags, count, ports, pflags, invert: opt.invert ? 1 : 0 };
    return { extension: multiport, revision: 1, value };
  },
  engine: {
    hotdrops: true,
    region: multiportRegion,
    recordSize: SIZE,
    record: (v: MultiportMatch) => multiport.encode(v, 1),
    evaluate: multiportCode,
  },
};

/** Record offsets (struct xt_multiport_v1). */
const FLAGS = 0;
const COUNT = 1;
const PORTS = 2;

/**
 * ports_match_v1 over the record: the first element (a port, or a range when its pflag is set)
 * that holds for the mode's port(s) decides `true ^ invert`; none, `invert` (a u8: C's bool
 * conversion of the xor decides). A bounded loop over the 15 slots.
 */
function multiportCode(cg: EvalContext): Insn[] {
  const loop = cg.label('mp_loop');
  const single = cg.label('mp_single');
  const next = cg.label('mp_next');
  const src = cg.label('mp_src');
  const dst = cg.label('mp_dst');
  const hit = cg.label('mp_hit');
  const miss = cg.label('mp_miss');
  const decide = cg.label('mp_decide');
  /** dst = ports[index] (the record's u16s, host order). */
  const port = (to: typeof R4, index: typeof R0): Insn[] => [
    Mov.reg(to, index),
    Lsh.imm(to, 1),
    Add.reg(to, RECORD),
    LoadMem(to, to, PORTS, Size.H),
  ];
  return [
    ...requireFirstFragment(cg),
    ...requireL4(4, cg),
    LoadMem(R2, STATE, S.L4, Size.H),
    ToBe(R2, 16),
    LoadMem(R3, STATE, S.L4 + 2, Size.H),
    ToBe(R3, 16),
    Mov.imm(R0, 0),
    withLabel(JGe.imm(R0, XT_MULTI_PORTS, miss), loop),
    LoadMem(R1, RECORD, COUNT, Size.B),
    JGe.reg(R0, R1, miss),
    // R4..R5: the element's range ([s, s] for a single port)
    ...port(R4, R0),
    Mov.reg(R5, R4),
    Mov.reg(R1, RECORD),
    Add.reg(R1, R0),
    LoadMem(R1, R1, PFLAGS, Size.B),
    JEq.imm(R1, 0, single),
    Add.imm(R0, 1),
    JGe.imm(R0, XT_MULTI_PORTS, miss),
    ...port(R5, R0),
    withLabel(LoadMem(R1, RECORD, FLAGS, Size.B), single),
    JEq.imm(R1, XT_MULTIPORT_SOURCE, src),
    JEq.imm(R1, XT_MULTIPORT_DESTINATION, dst),
    JNe.imm(R1, XT_MULTIPORT_EITHER, next),
    // EITHER: the destination port, then the source port
    JLt.reg(R3, R4, src),
    JLe.reg(R3, R5, hit),
    Ja(src),
    withLabel(JLt.reg(R3, R4, next), dst),
    JLe.reg(R3, R5, hit),
    Ja(next),
    withLabel(JLt.reg(R2, R4, next), src),
    JLe.reg(R2, R5, hit),
    withLabel(Add.imm(R0, 1), next),
    Ja(loop),
    withLabel(Mov.imm(R4, 1), hit),
    Ja(decide),
    withLabel(Mov.imm(R4, 0), miss),
    withLabel(Nop(), decide),
    ...unlessXor(INVERT, cg),
  ];
}

/**
 * The packets a multiport match can hold for: its ports (either side by mode) in whole L4
 * headers, and every first fragment whose header is cut short of its protocol's (it needs only
 * the four port bytes, so those may hold or hotdrop). Inverted or odd values: no port bounds.
 */
export function multiportRegion(v: MultiportMatch): Region {
  const short: Region = [box(false, range('l4', L4_SHORT, L4_SHORT))];
  const whole: Region = [box(true, range('l4', L4_WHOLE, L4_WHOLE))];
  if (v.invert !== 0 || v.flags > XT_MULTIPORT_EITHER) {
    return union(inexact(whole), short);
  }
  const elements: Region[] = [];
  for (let i = 0; i < v.count && i < XT_MULTI_PORTS; i++) {
    const s = v.ports[i] ?? 0;
    const e = v.pflags[i] ? (v.ports[++i] ?? 0) : s;
    if (v.flags !== XT_MULTIPORT_DESTINATION) elements.push(interval('sport', s, e, false));
    if (v.flags !== XT_MULTIPORT_SOURCE) elements.push(interval('dport', s, e, false));
  }
  return union(intersect(whole, union(...elements)), short);
}

/** multiport_valid_ranges: the slot of the first malformed range, or -1. */
function badRange(v: MultiportMatch): number {
  for (let i = 0; i < v.count; i++) {
    if ((v.pflags[i] ?? 0) === 0) continue;
    const start = i++;
    if (i >= v.count || (v.pflags[i] ?? 0) !== 0) return start;
    if ((v.ports[i - 1] ?? 0) > (v.ports[i] ?? 0)) return start;
  }
  return -1;
}
