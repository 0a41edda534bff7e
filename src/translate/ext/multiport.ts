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
  Ja,
  JEq,
  JLe,
  JLt,
  LoadMem,
  Nop,
  R2,
  R3,
  Size,
  ToBe,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4 } from '../../bpf/codegen/cmp.js';
import type { CodegenContext } from '../../bpf/codegen/context.js';
import { S, STATE } from '../../bpf/codegen/state.js';

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
  codegen(v: MultiportMatch, _revision: number, cg: CodegenContext): Insn[] {
    // ports_match_v1: the first element that matches decides `true ^ invert`; none, `invert`.
    const hit = cg.label('mp_hit');
    const miss = cg.label('mp_miss');
    const regs =
      v.flags === XT_MULTIPORT_SOURCE
        ? [R2]
        : v.flags === XT_MULTIPORT_DESTINATION
          ? [R3]
          : [R2, R3];
    const tests: Insn[] = [];
    for (let i = 0; i < v.count; i++) {
      const s = v.ports[i] ?? 0;
      if (v.pflags[i]) {
        const e = v.ports[++i] ?? 0;
        for (const r of regs) {
          const next = cg.label('mp_next');
          tests.push(JLt.imm(r, s, next), JLe.imm(r, e, hit), withLabel(Nop(), next));
        }
      } else {
        for (const r of regs) tests.push(JEq.imm(r, s, hit));
      }
    }
    const [onHit, onMiss] = v.invert ? [cg.noMatch, undefined] : [undefined, cg.noMatch];
    const done = cg.label('mp_done');
    return [
      ...requireFirstFragment(cg),
      ...requireL4(4, cg),
      LoadMem(R2, STATE, S.L4, Size.H),
      ToBe(R2, 16),
      LoadMem(R3, STATE, S.L4 + 2, Size.H),
      ToBe(R3, 16),
      ...tests,
      withLabel(onMiss ? Ja(onMiss) : Ja(done), miss),
      withLabel(onHit ? Ja(onHit) : Nop(), hit),
      withLabel(Nop(), done),
    ];
  },
};

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
