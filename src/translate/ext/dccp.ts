// -p dccp: struct xt_dccp_info (linux/netfilter/xt_dccp.h), revision 0 of xt_dccp.c, registered
// per family with .proto = IPPROTO_DCCP; dccp_mt_check refuses (EINVAL) flags or invflags
// outside XT_DCCP_VALID_FLAGS and an invflags bit whose test is not enabled in flags.
// Note the layout: destination ports come first.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parsePortRC, parseUint, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import {
  IPPROTO_DCCP,
  inv,
  payload,
  portRange,
  readPad,
  requireProto,
  writePad,
  zeroed,
} from './util.js';
import {
  l4PortsRegion,
  portTest,
  unlessFlag,
  walkDecides,
  WALK,
  type FlagWords,
} from './l4tests.js';
import {
  Add,
  And,
  Ja,
  JEq,
  JGe,
  JGt,
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
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4 } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { boundedLoop, readPacket, skbDynptr } from '../../bpf/codegen/packet.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_DCCP_SRC_PORTS = 0x01;
export const XT_DCCP_DEST_PORTS = 0x02;
export const XT_DCCP_TYPE = 0x04;
export const XT_DCCP_OPTION = 0x08;
export const XT_DCCP_VALID_FLAGS = 0x0f;

/** DCCP packet types by number (linux/dccp.h); a name's bit is 1 << its index. */
export const DCCP_TYPES = [
  'REQUEST',
  'RESPONSE',
  'DATA',
  'ACK',
  'DATAACK',
  'CLOSEREQ',
  'CLOSE',
  'RESET',
  'SYNC',
  'SYNCACK',
  'INVALID',
] as const;
const DCCP_PKT_INVALID = 10;
/** libxt_dccp adds the reserved types 11-15 to INVALID. */
const INVALID_OTHER_TYPE_MASK = 0xf800;

export interface DccpMatch {
  readonly dpts: readonly [number, number];
  readonly spts: readonly [number, number];
  readonly flags: number;
  readonly invflags: number;
  readonly typemask: number;
  readonly option: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** Six u16 and a u8: 15 bytes padded to 16. */
const SIZE = 16;
/**
 * The engine's record: struct xt_dccp_info, then dccp_packet_hdr_len() by type (0-15): what
 * follows the generic header before the options.
 */
const TYPE_HDR_LEN = SIZE;
const REC_SIZE = SIZE + 16;

export const dccp: Extension<DccpMatch> = {
  kind: 'match',
  name: 'dccp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): DccpMatch {
    const b = payload(data, SIZE);
    return {
      dpts: [b.readUInt16LE(0), b.readUInt16LE(2)],
      spts: [b.readUInt16LE(4), b.readUInt16LE(6)],
      flags: b.readUInt16LE(8),
      invflags: b.readUInt16LE(10),
      typemask: b.readUInt16LE(12),
      option: b[14] ?? 0,
      ...readPad(b, 15, 1),
    };
  },
  encode(v: DccpMatch): Buffer {
    const b = zeroed(SIZE);
    [v.dpts[0], v.dpts[1], v.spts[0], v.spts[1], v.flags, v.invflags, v.typemask].forEach((x, i) =>
      b.writeUInt16LE(x, 2 * i),
    );
    b.writeUInt8(v.option, 14);
    writePad(b, 15, 1, v.pad);
    return b;
  },
  check(v: DccpMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_DCCP, 'match "dccp"');
    if (
      (v.flags & ~XT_DCCP_VALID_FLAGS) !== 0 ||
      (v.invflags & ~XT_DCCP_VALID_FLAGS) !== 0 ||
      (v.invflags & ~v.flags) !== 0
    ) {
      throw new XtError(
        EINVAL,
        `match "dccp": flags 0x${v.flags.toString(16)} invflags 0x${v.invflags.toString(16)}`,
      );
    }
  },
  format(v: DccpMatch): string {
    const parts: string[] = [];
    const neg = (bit: number): string => inv((v.invflags & bit) !== 0);
    if (v.flags & XT_DCCP_SRC_PORTS) {
      parts.push(`${neg(XT_DCCP_SRC_PORTS)}--sport ${portRange(...v.spts)}`);
    }
    if (v.flags & XT_DCCP_DEST_PORTS) {
      parts.push(`${neg(XT_DCCP_DEST_PORTS)}--dport ${portRange(...v.dpts)}`);
    }
    if (v.flags & XT_DCCP_TYPE) {
      parts.push(`${neg(XT_DCCP_TYPE)}--dccp-types ${typeNames(v.typemask)}`);
    }
    if (v.flags & XT_DCCP_OPTION) parts.push(`${neg(XT_DCCP_OPTION)}--dccp-option ${v.option}`);
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "dccp"';
    const o = readOptions(what, options, {
      sport: { names: ['sport', 'source-port'], invert: true },
      dport: { names: ['dport', 'destination-port'], invert: true },
      types: { names: ['dccp-types'], invert: true },
      option: { names: ['dccp-option'], invert: true },
    });
    let flags = 0;
    let invflags = 0;
    const use = (opt: SaveOption | undefined, bit: number): opt is SaveOption => {
      if (opt === undefined) return false;
      flags |= bit;
      if (opt.invert) invflags |= bit;
      return true;
    };
    const text = (opt: SaveOption): string => opt.args[0] ?? '';
    const spts = use(o.sport, XT_DCCP_SRC_PORTS)
      ? parsePortRC(text(o.sport), `${what}: --${o.sport.name}`)
      : ([0, 0] as [number, number]);
    const dpts = use(o.dport, XT_DCCP_DEST_PORTS)
      ? parsePortRC(text(o.dport), `${what}: --${o.dport.name}`)
      : ([0, 0] as [number, number]);
    const typemask = use(o.types, XT_DCCP_TYPE) ? parseTypes(text(o.types), what) : 0;
    const option = use(o.option, XT_DCCP_OPTION)
      ? parseUint(text(o.option), 1, 255, `${what}: --dccp-option`)
      : 0;
    const value: DccpMatch = { dpts, spts, flags, invflags, typemask, option };
    return { extension: dccp, revision: 0, value };
  },
  engine: {
    hotdrops: true,
    region: (v: DccpMatch) =>
      l4PortsRegion(IPPROTO_DCCP, {
        spts: (v.flags & XT_DCCP_SRC_PORTS) !== 0 ? v.spts : undefined,
        dpts: (v.flags & XT_DCCP_DEST_PORTS) !== 0 ? v.dpts : undefined,
        invSrc: (v.invflags & XT_DCCP_SRC_PORTS) !== 0,
        invDst: (v.invflags & XT_DCCP_DEST_PORTS) !== 0,
        more: (v.flags & (XT_DCCP_TYPE | XT_DCCP_OPTION)) !== 0,
      }),
    recordSize: REC_SIZE,
    record: dccpRecord,
    evaluate: dccpCode,
  },
};

const R_FLAGS = 8;
const R_INVFLAGS = 10;
const R_TYPEMASK = 12;
const R_OPTION = 14;

/** dccp_packet_hdr_len: DATA none, the acknowledging types their ack bits. */
function packetHdrLen(type: number): number {
  const [REQUEST, DATA] = [0, 2];
  if (type === DATA) return 0;
  if ([3, 4, 5, 6, 8, 9].includes(type)) return 8;
  // dccp_hdr_request; RESPONSE's ack bits and service, RESET's and the others' ack bits, code
  // and data are 12 bytes alike.
  return type === REQUEST ? 4 : 12;
}

function dccpRecord(v: DccpMatch): Buffer {
  const b = Buffer.alloc(REC_SIZE);
  dccp.encode(v, 0).copy(b);
  for (let t = 0; t < 16; t++) b[TYPE_HDR_LEN + t] = packetHdrLen(t);
  return b;
}

/** struct dccp_hdr and dccp_hdr_ext. */
const DCCP_HDR = 12;
const DCCP_HDR_EXT = 4;

/**
 * dccp_mt: never a non-first fragment; a generic header cut short hotdrops; then each test in
 * flags against its invflags bit, in order: ports, the type's bit in typemask, the option.
 */
function dccpCode(cg: EvalContext): Insn[] {
  const noTypes = cg.label('dccp_notypes');
  const typeIn = cg.label('dccp_type_in');
  const typeDecide = cg.label('dccp_type_decide');
  const noOption = cg.label('dccp_nooption');
  return [
    ...requireFirstFragment(cg),
    ...requireL4(DCCP_HDR, cg),
    ...portTest(cg, WORDS, XT_DCCP_SRC_PORTS, 4, 0),
    ...portTest(cg, WORDS, XT_DCCP_DEST_PORTS, 0, 2),
    ...unlessFlag(WORDS, XT_DCCP_TYPE, noTypes),
    // typemask & (1 << dh->dccph_type)
    ...dccpType(),
    Mov.imm(R2, 1),
    Lsh.reg(R2, R1),
    LoadMem(R1, RECORD, R_TYPEMASK, Size.H),
    And.reg(R1, R2),
    Mov.imm(R4, 1),
    JNe.imm(R1, 0, typeIn),
    Mov.imm(R4, 0),
    withLabel(LoadMem(R1, RECORD, R_INVFLAGS, Size.H), typeIn),
    And.imm(R1, XT_DCCP_TYPE),
    JEq.imm(R1, 0, typeDecide),
    Xor.imm(R4, 1),
    withLabel(JEq.imm(R4, 0, cg.noMatch), typeDecide),
    withLabel(Nop(), noTypes),
    ...unlessFlag(WORDS, XT_DCCP_OPTION, noOption),
    ...findOption(cg),
    LoadMem(R4, STATE, E.RES, Size.W),
    ...walkDecides(cg, WORDS, XT_DCCP_OPTION),
    withLabel(Nop(), noOption),
  ];
}

const WORDS: FlagWords = { flags: R_FLAGS, invflags: R_INVFLAGS, size: Size.H };

/** R1 = dh->dccph_type (bits 1-4 of byte 8). */
const dccpType = (): Insn[] => [
  LoadMem(R1, STATE, S.L4 + 8, Size.B),
  Rsh.imm(R1, 1),
  And.imm(R1, 15),
];

/** The option walk's variables in S.EVAL. */
const E = {
  /** u32: packet offset of the options. */
  BASE: S.EVAL,
  /** u32: their length, and the walk's position in them. */
  LEN: S.EVAL + 4,
  I: S.EVAL + 8,
  /** u32: the outcome (O_*). */
  RES: S.EVAL + 12,
  /** The option byte read. */
  BYTE: S.EVAL + 16,
} as const;
const { FALSE: O_FALSE, TRUE: O_TRUE, HOTDROP: O_HOTDROP } = WALK;
/** doff is a byte: options are at most 1020 - 12 bytes, and each step advances one at least. */
const MAX_OPTION_STEPS = 1024;

/**
 * dccp_find_option into E.RES: a data offset below the header's length, or options the packet
 * does not hold, hotdrop; none, false; else the walk (a kind below 2 is one byte, the last byte
 * too, others their length or 1) finds the record's option or not.
 */
function findOption(cg: EvalContext): Insn[] {
  const done = cg.label('dccp_opt_done');
  const noExt = cg.label('dccp_noext');
  return [
    StoreImm(STATE, E.RES, O_HOTDROP, Size.W),
    // __dccp_hdr_len(dh): 12, + 4 with the extended sequence number, + by type
    ...dccpType(),
    Add.reg(R1, RECORD),
    LoadMem(R2, R1, TYPE_HDR_LEN, Size.B),
    Add.imm(R2, DCCP_HDR),
    LoadMem(R1, STATE, S.L4 + 8, Size.B),
    And.imm(R1, 1),
    JEq.imm(R1, 0, noExt),
    Add.imm(R2, DCCP_HDR_EXT),
    withLabel(LoadMem(R3, STATE, S.L4 + 4, Size.B), noExt),
    Lsh.imm(R3, 2),
    JLt.reg(R3, R2, done),
    StoreImm(STATE, E.RES, O_FALSE, Size.W),
    JEq.reg(R3, R2, done),
    // skb_header_pointer(thoff + optoff, optlen): the packet must hold thoff + doff*4 bytes
    LoadMem(R1, STATE, S.IHL, Size.W),
    Add.reg(R1, R3),
    LoadMem(R4, STATE, S.SKBLEN, Size.W),
    StoreImm(STATE, E.RES, O_HOTDROP, Size.W),
    JGt.reg(R1, R4, done),
    StoreImm(STATE, E.RES, O_FALSE, Size.W),
    Sub.reg(R3, R2),
    StoreMem(STATE, E.LEN, R3, Size.W),
    LoadMem(R1, STATE, S.IHL, Size.W),
    Add.reg(R1, R2),
    StoreMem(STATE, E.BASE, R1, Size.W),
    StoreImm(STATE, E.I, 0, Size.W),
    ...skbDynptr(cg),
    JNe.imm(R0, 0, done),
    ...boundedLoop(cg, MAX_OPTION_STEPS, (next, exit) => optionStep(cg, next, exit)),
    withLabel(Nop(), done),
  ];
}

/** One step of the option walk; leaves with E.RES set when it is decided. */
function optionStep(cg: EvalContext, next: string, exit: string): Insn[] {
  const found = cg.label('dccp_found');
  const single = cg.label('dccp_single');
  /** R1 = the option byte at i + `k` (the length check made it readable). */
  const byte = (k: number): Insn[] => [
    LoadMem(R4, STATE, E.BASE, Size.W),
    LoadMem(R1, STATE, E.I, Size.W),
    Add.reg(R4, R1),
    Add.imm(R4, k),
    ...readPacket(cg, E.BYTE, 1),
    JNe.imm(R0, 0, exit),
    LoadMem(R1, STATE, E.BYTE, Size.B),
  ];
  return [
    LoadMem(R1, STATE, E.I, Size.W),
    LoadMem(R2, STATE, E.LEN, Size.W),
    JGe.reg(R1, R2, exit),
    ...byte(0),
    LoadMem(R2, RECORD, R_OPTION, Size.B),
    JEq.reg(R1, R2, found),
    // i += (op[i] < 2 || i == optlen - 1) ? 1 : (op[i + 1] ? : 1)
    JLt.imm(R1, 2, single),
    LoadMem(R2, STATE, E.I, Size.W),
    Add.imm(R2, 1),
    LoadMem(R3, STATE, E.LEN, Size.W),
    JEq.reg(R2, R3, single),
    ...byte(1),
    JEq.imm(R1, 0, single),
    LoadMem(R2, STATE, E.I, Size.W),
    Add.reg(R2, R1),
    StoreMem(STATE, E.I, R2, Size.W),
    Ja(next),
    withLabel(LoadMem(R2, STATE, E.I, Size.W), single),
    Add.imm(R2, 1),
    StoreMem(STATE, E.I, R2, Size.W),
    Ja(next),
    withLabel(StoreImm(STATE, E.RES, O_TRUE, Size.W), found),
  ];
}

/** parse_dccp_types: comma list (empty items skipped), names case-insensitive. */
function parseTypes(s: string, what: string): number {
  let mask = 0;
  for (const item of s.split(',').filter((x) => x !== '')) {
    const i = DCCP_TYPES.findIndex((n) => n === item.toUpperCase());
    if (i === -1) throw new OptionError(`${what}: unknown DCCP type "${item}"`);
    mask |= 1 << i;
  }
  return mask & (1 << DCCP_PKT_INVALID) ? mask | INVALID_OTHER_TYPE_MASK : mask;
}

/**
 * print_types: names from the lowest bit up, stopping after INVALID (which stands for 11-15
 * too). A reserved type without INVALID makes iptables read past its name table; we print its
 * number instead.
 */
function typeNames(mask: number): string {
  const names: string[] = [];
  for (let i = 0; i < 16; i++) {
    if ((mask & (1 << i)) === 0) continue;
    names.push(DCCP_TYPES[i] ?? String(i));
    if (i === DCCP_PKT_INVALID) break;
  }
  return names.join(',');
}
