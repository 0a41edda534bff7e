// -p icmp: struct ipt_icmp (linux/netfilter_ipv4/ip_tables.h), registered by ip_tables.c itself
// with .proto = IPPROTO_ICMP; icmp_checkentry refuses invflags other than IPT_ICMP_INV.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_ICMP, inv, payload, requireProto, zeroed } from './util.js';
import {
  Ja,
  JEq,
  JGt,
  JLt,
  JNe,
  LoadMem,
  Mov,
  Nop,
  R1,
  R2,
  R4,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4, unlessInverted } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';
import {
  L4_SHORT,
  L4_WHOLE,
  box,
  intersect,
  interval,
  range,
  union,
  type Region,
} from '../classify/key.js';

export const IPT_ICMP_INV = 0x01;

export interface IcmpMatch {
  /** ICMP type; 0xff matches any type (iptables' "any"). */
  readonly type: number;
  /** Inclusive code range. */
  readonly codeMin: number;
  readonly codeMax: number;
  readonly invflags: number;
}

const SIZE = 4;

export const icmp: Extension<IcmpMatch> = {
  kind: 'match',
  name: 'icmp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): IcmpMatch {
    const b = payload(data, SIZE);
    return { type: b[0] ?? 0, codeMin: b[1] ?? 0, codeMax: b[2] ?? 0, invflags: b[3] ?? 0 };
  },
  encode(v: IcmpMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.type, 0);
    b.writeUInt8(v.codeMin, 1);
    b.writeUInt8(v.codeMax, 2);
    b.writeUInt8(v.invflags, 3);
    return b;
  },
  check(v: IcmpMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_ICMP, 'match "icmp"');
    if ((v.invflags & ~IPT_ICMP_INV) !== 0) {
      throw new XtError(EINVAL, `match "icmp": unknown invflags 0x${v.invflags.toString(16)}`);
    }
  },
  format(v: IcmpMatch): string {
    const neg = inv((v.invflags & IPT_ICMP_INV) !== 0);
    if (v.type === 0xff) return `${neg}--icmp-type any`;
    if (v.codeMin === 0 && v.codeMax === 0xff) return `${neg}--icmp-type ${v.type}`;
    const code = v.codeMin === v.codeMax ? `${v.codeMin}` : `${v.codeMin}-${v.codeMax}`;
    return `${neg}--icmp-type ${v.type}/${code}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "icmp"', options, {
      type: { names: ['icmp-type'], invert: true },
    });
    if (o.type === undefined) throw new OptionError('match "icmp": --icmp-type is required');
    const t = o.type.args[0] ?? '';
    const value: IcmpMatch = { ...parseIcmpType(t), invflags: o.type.invert ? IPT_ICMP_INV : 0 };
    return { extension: icmp, revision: 0, value };
  },
  engine: {
    hotdrops: true,
    region: icmpRegion,
    recordSize: SIZE,
    record: (v: IcmpMatch) => icmp.encode(v, 0),
    evaluate(cg: EvalContext): Insn[] {
      // icmp_type_code_match: (type == 0xff || (type == t && min <= code <= max)) ^ invert
      const no = cg.label('icmp_no');
      const yes = cg.label('icmp_yes');
      const done = cg.label('icmp_done');
      return [
        ...requireFirstFragment(cg),
        ...requireL4(8, cg),
        LoadMem(R2, RECORD, 0, Size.B),
        JEq.imm(R2, 0xff, yes),
        LoadMem(R1, STATE, S.L4, Size.B),
        JNe.reg(R1, R2, no),
        LoadMem(R1, STATE, S.L4 + 1, Size.B),
        LoadMem(R2, RECORD, 1, Size.B),
        JLt.reg(R1, R2, no),
        LoadMem(R2, RECORD, 2, Size.B),
        JGt.reg(R1, R2, no),
        withLabel(Mov.imm(R4, 1), yes),
        Ja(done),
        withLabel(Mov.imm(R4, 0), no),
        withLabel(Nop(), done),
        ...unlessInverted({ offset: 3, bit: IPT_ICMP_INV }, cg),
      ];
    },
  },
};

/**
 * icmp_match's packets: whole ICMP headers whose type and code pass (ICMP puts them where the
 * key has ports), and the cut-short ones it hotdrops.
 */
export function icmpRegion(v: IcmpMatch): Region {
  const invert = (v.invflags & IPT_ICMP_INV) !== 0;
  const whole = [
    box(true, range('proto', IPPROTO_ICMP, IPPROTO_ICMP), range('l4', L4_WHOLE, L4_WHOLE)),
  ];
  const test: Region =
    v.type === 0xff
      ? invert
        ? []
        : whole
      : invert
        ? union(
            intersect(whole, interval('sport', v.type, v.type, true)),
            intersect(
              whole,
              intersect(
                interval('sport', v.type, v.type, false),
                interval('dport', v.codeMin, v.codeMax, true),
              ),
            ),
          )
        : intersect(
            whole,
            intersect(
              interval('sport', v.type, v.type, false),
              interval('dport', v.codeMin, v.codeMax, false),
            ),
          );
  return union(test, [
    box(false, range('proto', IPPROTO_ICMP, IPPROTO_ICMP), range('l4', L4_SHORT, L4_SHORT)),
  ]);
}

/** libxt_icmp's names: [name, type, min code, max code]. */
const ICMP_TYPES: readonly (readonly [string, number, number, number])[] = [
  ['any', 0xff, 0, 0xff],
  ['echo-reply', 0, 0, 0xff],
  ['pong', 0, 0, 0xff],
  ['destination-unreachable', 3, 0, 0xff],
  ['network-unreachable', 3, 0, 0],
  ['host-unreachable', 3, 1, 1],
  ['protocol-unreachable', 3, 2, 2],
  ['port-unreachable', 3, 3, 3],
  ['fragmentation-needed', 3, 4, 4],
  ['source-route-failed', 3, 5, 5],
  ['network-unknown', 3, 6, 6],
  ['host-unknown', 3, 7, 7],
  ['network-prohibited', 3, 9, 9],
  ['host-prohibited', 3, 10, 10],
  ['TOS-network-unreachable', 3, 11, 11],
  ['TOS-host-unreachable', 3, 12, 12],
  ['communication-prohibited', 3, 13, 13],
  ['host-precedence-violation', 3, 14, 14],
  ['precedence-cutoff', 3, 15, 15],
  ['source-quench', 4, 0, 0xff],
  ['redirect', 5, 0, 0xff],
  ['network-redirect', 5, 0, 0],
  ['host-redirect', 5, 1, 1],
  ['TOS-network-redirect', 5, 2, 2],
  ['TOS-host-redirect', 5, 3, 3],
  ['echo-request', 8, 0, 0xff],
  ['ping', 8, 0, 0xff],
  ['router-advertisement', 9, 0, 0xff],
  ['router-solicitation', 10, 0, 0xff],
  ['time-exceeded', 11, 0, 0xff],
  ['ttl-exceeded', 11, 0, 0xff],
  ['ttl-zero-during-transit', 11, 0, 0],
  ['ttl-zero-during-reassembly', 11, 1, 1],
  ['parameter-problem', 12, 0, 0xff],
  ['ip-header-bad', 12, 0, 0],
  ['required-option-missing', 12, 1, 1],
  ['timestamp-request', 13, 0, 0xff],
  ['timestamp-reply', 14, 0, 0xff],
  ['address-mask-request', 17, 0, 0xff],
  ['address-mask-reply', 18, 0, 0xff],
];

/** libxt_icmp's parse_icmp: a name, or `type[/code]` (no code = every code). */
function parseIcmpType(s: string): Pick<IcmpMatch, 'type' | 'codeMin' | 'codeMax'> {
  const named = ICMP_TYPES.find(([n]) => n.toLowerCase() === s.toLowerCase());
  if (named !== undefined) return { type: named[1], codeMin: named[2], codeMax: named[3] };
  const m = /^([^/]+)(?:\/(.+))?$/.exec(s);
  if (m === null || !/^[0-9]/.test(s)) {
    throw new OptionError(`match "icmp": --icmp-type: unknown ICMP type "${s}"`);
  }
  const type = parseUint(m[1] ?? '', 0, 255, 'match "icmp": --icmp-type');
  if (m[2] === undefined) return { type, codeMin: 0, codeMax: 0xff };
  const code = parseUint(m[2], 0, 255, 'match "icmp": --icmp-type code');
  return { type, codeMin: code, codeMax: code };
}
