// -m ecn: struct xt_ecn_info (linux/netfilter/xt_ecn.h), revision 0 of xt_ecn.c, registered per
// family. ecn_mt_check4 refuses (EINVAL) operation or invert bits inside XT_ECN_OP_MATCH_MASK
// (0xce), and the TCP tests (ECE, CWR) unless the rule says `-p tcp` without `!`; the .proto
// field is not set, so an --ecn-ip-ect test alone needs no protocol.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_TCP, payload, zeroed } from './util.js';
import {
  And,
  JEq,
  JLt,
  LoadMem,
  Nop,
  R1,
  R4,
  R5,
  R8,
  Rsh,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { equalHolds, unlessInverted } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { transportBytes } from '../../bpf/codegen/packet.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_ECN_OP_MATCH_IP = 0x01;
export const XT_ECN_OP_MATCH_ECE = 0x10;
export const XT_ECN_OP_MATCH_CWR = 0x20;
export const XT_ECN_OP_MATCH_MASK = 0xce;
const XT_ECN_IP_MASK = 0x03;

export interface EcnMatch {
  readonly operation: number;
  readonly invert: number;
  /** The IP header's ECN codepoint (tos & 3) to compare with. */
  readonly ipEct: number;
  /** proto.tcp.ect: in the struct, never read by the kernel. */
  readonly tcpEct: number;
}

const SIZE = 4;

export const ecn: Extension<EcnMatch> = {
  kind: 'match',
  name: 'ecn',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): EcnMatch {
    const b = payload(data, SIZE);
    return { operation: b[0] ?? 0, invert: b[1] ?? 0, ipEct: b[2] ?? 0, tcpEct: b[3] ?? 0 };
  },
  encode(v: EcnMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.operation, 0);
    b.writeUInt8(v.invert, 1);
    b.writeUInt8(v.ipEct, 2);
    b.writeUInt8(v.tcpEct, 3);
    return b;
  },
  check(v: EcnMatch, _revision: number, ctx: CheckContext): void {
    if ((v.operation & XT_ECN_OP_MATCH_MASK) !== 0 || (v.invert & XT_ECN_OP_MATCH_MASK) !== 0) {
      throw new XtError(
        EINVAL,
        `match "ecn": unknown operation 0x${v.operation.toString(16)} or invert 0x${v.invert.toString(16)}`,
      );
    }
    const tcpBits = XT_ECN_OP_MATCH_ECE | XT_ECN_OP_MATCH_CWR;
    if ((v.operation & tcpBits) !== 0 && (ctx.proto !== IPPROTO_TCP || ctx.invProto)) {
      throw new XtError(EINVAL, 'match "ecn": TCP bits need "-p tcp" without "!"');
    }
  },
  format(v: EcnMatch): string {
    // ecn_save's order: ECE, CWR, then the IP codepoint.
    const parts: string[] = [];
    const neg = (bit: number): string => ((v.invert & bit) !== 0 ? '! ' : '');
    if (v.operation & XT_ECN_OP_MATCH_ECE) parts.push(`${neg(XT_ECN_OP_MATCH_ECE)}--ecn-tcp-ece`);
    if (v.operation & XT_ECN_OP_MATCH_CWR) parts.push(`${neg(XT_ECN_OP_MATCH_CWR)}--ecn-tcp-cwr`);
    if (v.operation & XT_ECN_OP_MATCH_IP) {
      parts.push(`${neg(XT_ECN_OP_MATCH_IP)}--ecn-ip-ect ${v.ipEct}`);
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "ecn"', options, {
      cwr: { names: ['ecn-tcp-cwr'], args: 0, invert: true },
      ece: { names: ['ecn-tcp-ece'], args: 0, invert: true },
      ect: { names: ['ecn-ip-ect'], invert: true },
    });
    let operation = 0;
    let invert = 0;
    let ipEct = 0;
    const set = (opt: SaveOption | undefined, bit: number): void => {
      if (opt === undefined) return;
      operation |= bit;
      if (opt.invert) invert |= bit;
    };
    set(o.cwr, XT_ECN_OP_MATCH_CWR);
    set(o.ece, XT_ECN_OP_MATCH_ECE);
    set(o.ect, XT_ECN_OP_MATCH_IP);
    if (o.ect) ipEct = parseUint(o.ect.args[0] ?? '', 0, 3, 'match "ecn": --ecn-ip-ect');
    if (operation === 0) throw new OptionError('match "ecn": some option is required');
    return { extension: ecn, revision: 0, value: { operation, invert, ipEct, tcpEct: 0 } };
  },
  engine: {
    recordSize: SIZE,
    record: (v: EcnMatch) => ecn.encode(v, 0),
    evaluate: ecnCode,
  },
};

/** Record offsets (struct xt_ecn_info). */
const OPERATION = 0;
const INVERT = 1;
const IP_ECT = 2;

/**
 * ecn_mt4: the IP codepoint test, then the TCP flag tests on the header at thoff — for any
 * fragment, as the kernel reads it there — which fail (no hotdrop) without 20 bytes.
 */
function ecnCode(cg: EvalContext): Insn[] {
  const noIp = cg.label('ecn_noip');
  const noTcp = cg.label('ecn_notcp');
  /** Skips `body` unless the record's operation has `bit`. */
  const tested = (bit: number, skip: string, body: readonly Insn[]): Insn[] => [
    LoadMem(R1, RECORD, OPERATION, Size.B),
    And.imm(R1, bit),
    JEq.imm(R1, 0, skip),
    ...body,
  ];
  /** th->ece / th->cwr: bit `shift` of the flags byte (R8 + 13), against the invert bit. */
  const flag = (bit: number, shift: number): Insn[] => {
    const skip = cg.label('ecn_flag');
    return [
      ...tested(bit, skip, [
        LoadMem(R4, R8, 13, Size.B),
        Rsh.imm(R4, shift),
        And.imm(R4, 1),
        ...unlessInverted({ offset: INVERT, bit }, cg),
      ]),
      withLabel(Nop(), skip),
    ];
  };
  return [
    ...tested(XT_ECN_OP_MATCH_IP, noIp, [
      ...equalHolds(
        [LoadMem(R1, STATE, S.IP + 1, Size.B), And.imm(R1, XT_ECN_IP_MASK)],
        IP_ECT,
        Size.B,
        cg,
      ),
      ...unlessInverted({ offset: INVERT, bit: XT_ECN_OP_MATCH_IP }, cg),
    ]),
    withLabel(Nop(), noIp),
    ...tested(XT_ECN_OP_MATCH_ECE | XT_ECN_OP_MATCH_CWR, noTcp, [
      ...transportBytes(cg),
      JLt.imm(R5, 20, cg.noMatch),
      ...flag(XT_ECN_OP_MATCH_ECE, 6),
      ...flag(XT_ECN_OP_MATCH_CWR, 7),
    ]),
    withLabel(Nop(), noTcp),
  ];
}
