// -p icmp: struct ipt_icmp (linux/netfilter_ipv4/ip_tables.h), registered by ip_tables.c itself
// with .proto = IPPROTO_ICMP; icmp_checkentry refuses invflags other than IPT_ICMP_INV.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_ICMP, inv, payload, requireProto, zeroed } from './util.js';
import {
  Ja,
  JGt,
  JLt,
  JNe,
  LoadMem,
  Nop,
  R1,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4 } from '../../bpf/codegen/cmp.js';
import type { CodegenContext } from '../../bpf/codegen/context.js';
import { S, STATE } from '../../bpf/codegen/state.js';

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
  codegen(v: IcmpMatch, _revision: number, cg: CodegenContext): Insn[] {
    const invert = (v.invflags & IPT_ICMP_INV) !== 0;
    const head = [...requireFirstFragment(cg), ...requireL4(2, cg)];
    if (v.type === 0xff) return invert ? [...head, Ja(cg.noMatch)] : head;
    // (type == t && min <= code <= max) ^ invert
    const miss = invert ? cg.label('icmp_ok') : cg.noMatch;
    const test = [
      LoadMem(R1, STATE, S.L4, Size.B),
      JNe.imm32(R1, v.type, miss),
      LoadMem(R1, STATE, S.L4 + 1, Size.B),
      JLt.imm32(R1, v.codeMin, miss),
      JGt.imm32(R1, v.codeMax, miss),
    ];
    return invert ? [...head, ...test, Ja(cg.noMatch), withLabel(Nop(), miss)] : [...head, ...test];
  },
};

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
