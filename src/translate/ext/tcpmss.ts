// -m tcpmss: struct xt_tcpmss_match_info (linux/netfilter/xt_tcpmss.h), revision 0 of
// xt_tcpmss.c, registered per family with .proto = IPPROTO_TCP (so xt_check_match wants
// `-p tcp` without `!`), no checkentry. Matches the MSS option's value in [min, max] ^ invert;
// a packet without the option matches only when inverted.
import { OptionError, parseRangeRC, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import {
  inv,
  IPPROTO_TCP,
  payload,
  portRange,
  readPad,
  requireProto,
  writePad,
  zeroed,
} from './util.js';
import {
  Add,
  Ja,
  JEq,
  JGe,
  JLt,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Nop,
  Or,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R8,
  Rsh,
  Size,
  Sub,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { rangeHolds, unlessXor } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { transportBytes } from '../../bpf/codegen/packet.js';

export interface TcpmssMatch {
  readonly min: number;
  readonly max: number;
  readonly invert: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** Two u16 and a u8: 5 bytes padded to 6. */
const SIZE = 6;

export const tcpmss: Extension<TcpmssMatch> = {
  kind: 'match',
  name: 'tcpmss',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): TcpmssMatch {
    const b = payload(data, SIZE);
    return {
      min: b.readUInt16LE(0),
      max: b.readUInt16LE(2),
      invert: b[4] ?? 0,
      ...readPad(b, 5, 1),
    };
  },
  encode(v: TcpmssMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.min, 0);
    b.writeUInt16LE(v.max, 2);
    b.writeUInt8(v.invert, 4);
    writePad(b, 5, 1, v.pad);
    return b;
  },
  check(_v: TcpmssMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_TCP, 'match "tcpmss"');
  },
  format(v: TcpmssMatch): string {
    return `${inv(v.invert !== 0)}--mss ${portRange(v.min, v.max)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "tcpmss"', options, { mss: { names: ['mss'], invert: true } });
    if (o.mss === undefined) throw new OptionError('match "tcpmss": --mss is required');
    const [min = 0, max = min] = parseRangeRC(o.mss.args[0] ?? '', 0xffff, 'match "tcpmss": --mss');
    if (max < min) throw new OptionError('match "tcpmss": invalid range given');
    return { extension: tcpmss, revision: 0, value: { min, max, invert: o.mss.invert ? 1 : 0 } };
  },
  engine: {
    hotdrops: true,
    recordSize: SIZE,
    record: (v: TcpmssMatch) => tcpmss.encode(v, 0),
    evaluate: tcpmssCode,
  },
};

const TCPOPT_MSS = 2;
const TCPOLEN_MSS = 4;
/** Options fit in 40 bytes and every step advances at least one: 40 steps always finish. */
const MAX_OPTION_STEPS = 40;
const INVERT = 4;

/**
 * tcpmss_mt over the TCP header at thoff (of any fragment, as the kernel reads it): a header
 * or options cut short, or a data offset below 20, hotdrop; the first MSS option (kind 2,
 * length 4, wholly inside the options) decides (min <= mss <= max) ^ invert; none, invert.
 * Unrolled, as tcp's option walk.
 */
function tcpmssCode(cg: EvalContext): Insn[] {
  const none = cg.label('mss_none');
  const found = cg.label('mss_found');
  const out: Insn[] = [
    ...transportBytes(cg),
    JLt.imm(R5, 20, cg.hotdrop),
    LoadMem(R2, R8, 12, Size.B),
    Rsh.imm(R2, 4),
    Lsh.imm(R2, 2),
    JLt.imm(R2, 20, cg.hotdrop),
    JEq.imm(R2, 20, none),
    JLt.reg(R5, R2, cg.hotdrop),
    // R2 = optlen, R3 = i, R0 = the option bytes (R8 + 20)
    Sub.imm(R2, 20),
    Mov.imm(R3, 0),
    Mov.reg(R0, R8),
    Add.imm(R0, 20),
  ];
  for (let k = 0; k < MAX_OPTION_STEPS; k++) {
    const next = cg.label('mss_next');
    const step = cg.label('mss_step');
    const len = cg.label('mss_len');
    out.push(
      JGe.reg(R3, R2, none),
      Mov.reg(R5, R0),
      Add.reg(R5, R3),
      LoadMem(R1, R5, 0, Size.B),
      JNe.imm(R1, TCPOPT_MSS, step),
      Mov.reg(R4, R2),
      Sub.reg(R4, R3),
      JLt.imm(R4, TCPOLEN_MSS, step),
      LoadMem(R4, R5, 1, Size.B),
      JEq.imm(R4, TCPOLEN_MSS, found),
      // i += (op[i] < 2 || i == optlen - 1) ? 1 : (op[i+1] ? : 1)
      withLabel(JLt.imm(R1, 2, len), step),
      Mov.reg(R4, R3),
      Add.imm(R4, 1),
      JEq.reg(R4, R2, len),
      LoadMem(R4, R5, 1, Size.B),
      JEq.imm(R4, 0, len),
      Add.reg(R3, R4),
      Ja(next),
      withLabel(Add.imm(R3, 1), len),
      withLabel(Nop(), next),
    );
  }
  const decide = cg.label('mss_decide');
  out.push(
    withLabel(Mov.imm(R4, 0), none),
    Ja(decide),
    withLabel(LoadMem(R1, R5, 2, Size.B), found),
    Lsh.imm(R1, 8),
    LoadMem(R4, R5, 3, Size.B),
    Or.reg(R1, R4),
    ...rangeHolds([], 0, 2, Size.H, cg),
    withLabel(Nop(), decide),
    ...unlessXor(INVERT, cg),
  );
  return out;
}
