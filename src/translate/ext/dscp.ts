// -m dscp: struct xt_dscp_info (linux/netfilter/xt_dscp.h), revision 0 of xt_dscp.c, registered
// per family. Matches when ((iph->tos >> 2) == dscp) ^ invert; dscp_mt_check refuses a dscp
// above XT_DSCP_MAX with EDOM.
import { EDOM, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { hex2, inv, payload, zeroed } from './util.js';
import { LoadMem, R1, Rsh, Size, type Insn } from '../../bpf/asm/index.js';
import { anyBits, equalHolds, unlessInverted } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_DSCP_MAX = 0x3f;

export interface DscpMatch {
  readonly dscp: number;
  readonly invert: number;
}

/** iptables' dscp_helper.c classes, in its order (the first whose name prefixes the text wins). */
export const DSCP_CLASSES: readonly (readonly [string, number])[] = [
  ['CS0', 0x00],
  ['CS1', 0x08],
  ['CS2', 0x10],
  ['CS3', 0x18],
  ['CS4', 0x20],
  ['CS5', 0x28],
  ['CS6', 0x30],
  ['CS7', 0x38],
  ['BE', 0x00],
  ['AF11', 0x0a],
  ['AF12', 0x0c],
  ['AF13', 0x0e],
  ['AF21', 0x12],
  ['AF22', 0x14],
  ['AF23', 0x16],
  ['AF31', 0x1a],
  ['AF32', 0x1c],
  ['AF33', 0x1e],
  ['AF41', 0x22],
  ['AF42', 0x24],
  ['AF43', 0x26],
  ['EF', 0x2e],
];

const SIZE = 2;

export const dscp: Extension<DscpMatch> = {
  kind: 'match',
  name: 'dscp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): DscpMatch {
    const b = payload(data, SIZE);
    return { dscp: b[0] ?? 0, invert: b[1] ?? 0 };
  },
  encode(v: DscpMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.dscp, 0);
    b.writeUInt8(v.invert, 1);
    return b;
  },
  check(v: DscpMatch): void {
    if (v.dscp > XT_DSCP_MAX) {
      throw new XtError(EDOM, `match "dscp": dscp 0x${v.dscp.toString(16)} is above 0x3f`);
    }
  },
  format(v: DscpMatch): string {
    return `${inv(v.invert !== 0)}--dscp ${hex2(v.dscp)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "dscp"', options, {
      dscp: { names: ['dscp'], invert: true },
      dscpClass: { names: ['dscp-class'], invert: true },
    });
    if (o.dscp !== undefined && o.dscpClass !== undefined) {
      throw new OptionError('match "dscp": --dscp and --dscp-class cannot be used together');
    }
    const opt = o.dscp ?? o.dscpClass;
    if (opt === undefined) throw new OptionError('match "dscp": --dscp is required');
    const text = opt.args[0] ?? '';
    const value =
      opt === o.dscp
        ? parseUint(text, 0, XT_DSCP_MAX, 'match "dscp": --dscp')
        : dscpClass(text, 'match "dscp": --dscp-class');
    return { extension: dscp, revision: 0, value: { dscp: value, invert: opt.invert ? 1 : 0 } };
  },
  engine: {
    recordSize: SIZE,
    record: (v: DscpMatch) => dscp.encode(v, 0),
    // ((iph->tos >> XT_DSCP_SHIFT) == dscp) ^ !!invert
    evaluate: (cg: EvalContext): Insn[] => [
      ...equalHolds([LoadMem(R1, STATE, S.IP + 1, Size.B), Rsh.imm(R1, 2)], 0, Size.B, cg),
      ...unlessInverted(anyBits(1), cg),
    ],
  },
};

/** class_to_dscp: the first class whose name is a case-insensitive prefix of `s`. */
export function dscpClass(s: string, what: string): number {
  const hit = DSCP_CLASSES.find(([n]) => s.slice(0, n.length).toUpperCase() === n);
  if (hit === undefined) throw new OptionError(`${what}: invalid DSCP class "${s}"`);
  return hit[1];
}
