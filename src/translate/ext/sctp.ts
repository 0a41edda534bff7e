// -p sctp: struct xt_sctp_info (linux/netfilter/xt_sctp.h), revision 0, registered per family
// with .proto = IPPROTO_SCTP (so `-p sctp` without `!`, else EINVAL). sctp_mt_check refuses
// (EINVAL) flag_count above 4 (compared unsigned), unknown flags or invflags, invflags outside
// flags, and a chunk test whose match type has none of ANY/ALL/ONLY. Ports are host-order u16
// ranges; the chunk map has a bit per chunk type in its first 8 words (256 bytes are reserved).
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parsePortRange, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_SCTP, payload, requireProto, zeroed } from './util.js';
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
  JLe,
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
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  ToBe,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { requireFirstFragment, requireL4 } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { boundedLoop, readPacket, skbDynptr } from '../../bpf/codegen/packet.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_SCTP_SRC_PORTS = 0x01;
export const XT_SCTP_DEST_PORTS = 0x02;
export const XT_SCTP_CHUNK_TYPES = 0x04;
export const XT_SCTP_VALID_FLAGS = 0x07;
export const SCTP_CHUNK_MATCH_ANY = 0x01;
export const SCTP_CHUNK_MATCH_ALL = 0x02;
export const SCTP_CHUNK_MATCH_ONLY = 0x04;
export const XT_NUM_SCTP_FLAGS = 4;
/** u32 words of the chunk map. */
export const SCTP_CHUNKMAP_WORDS = 64;

/** Flag bits a chunk of type `chunktype` must have: (flags & flagMask) == flag. */
export interface SctpFlagInfo {
  readonly chunktype: number;
  readonly flag: number;
  readonly flagMask: number;
}

export interface SctpMatch {
  /** Inclusive host-order port ranges. */
  readonly dpts: readonly [number, number];
  readonly spts: readonly [number, number];
  /** 64 u32 words; bit (t % 32) of word (t / 32) stands for chunk type t. */
  readonly chunkmap: readonly number[];
  /** SCTP_CHUNK_MATCH_ANY / ALL / ONLY. */
  readonly chunkMatchType: number;
  /** All four slots as stored; the kernel reads the first `flagCount`. */
  readonly flagInfo: readonly SctpFlagInfo[];
  /** C int. */
  readonly flagCount: number;
  /** XT_SCTP_* tests to make, and those inverted. */
  readonly flags: number;
  readonly invflags: number;
}

const SIZE = 292;
const CHUNKMAP = 8;
const MATCH_TYPE = 264;
const FLAG_INFO = 268;
const FLAG_COUNT = 280;
/** The engine's record: struct xt_sctp_info, then whether chunkmap words 8..63 have bits. */
const HIGH_WORDS = SIZE;
const REC_SIZE = SIZE + 4;

/** libxt_sctp's chunk names, types and flag letters (bit 7 first); '-' is no flag. */
const CHUNKS: readonly (readonly [string, number, string])[] = [
  ['DATA', 0, '----IUBE'],
  ['INIT', 1, '--------'],
  ['INIT_ACK', 2, '--------'],
  ['SACK', 3, '--------'],
  ['HEARTBEAT', 4, '--------'],
  ['HEARTBEAT_ACK', 5, '--------'],
  ['ABORT', 6, '-------T'],
  ['SHUTDOWN', 7, '--------'],
  ['SHUTDOWN_ACK', 8, '--------'],
  ['ERROR', 9, '--------'],
  ['COOKIE_ECHO', 10, '--------'],
  ['COOKIE_ACK', 11, '--------'],
  ['ECN_ECNE', 12, '--------'],
  ['ECN_CWR', 13, '--------'],
  ['SHUTDOWN_COMPLETE', 14, '-------T'],
  ['I_DATA', 64, '----IUBE'],
  ['RE_CONFIG', 130, '--------'],
  ['PAD', 132, '--------'],
  ['ASCONF', 193, '--------'],
  ['ASCONF_ACK', 128, '--------'],
  ['FORWARD_TSN', 192, '--------'],
  ['I_FORWARD_TSN', 194, '--------'],
];

export const sctp: Extension<SctpMatch> = {
  kind: 'match',
  name: 'sctp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): SctpMatch {
    const b = payload(data, SIZE);
    const chunkmap: number[] = [];
    for (let i = 0; i < SCTP_CHUNKMAP_WORDS; i++) chunkmap.push(b.readUInt32LE(CHUNKMAP + 4 * i));
    const flagInfo: SctpFlagInfo[] = [];
    for (let i = 0; i < XT_NUM_SCTP_FLAGS; i++) {
      const at = FLAG_INFO + 3 * i;
      flagInfo.push({ chunktype: b[at] ?? 0, flag: b[at + 1] ?? 0, flagMask: b[at + 2] ?? 0 });
    }
    return {
      dpts: [b.readUInt16LE(0), b.readUInt16LE(2)],
      spts: [b.readUInt16LE(4), b.readUInt16LE(6)],
      chunkmap,
      chunkMatchType: b.readUInt32LE(MATCH_TYPE),
      flagInfo,
      flagCount: b.readInt32LE(FLAG_COUNT),
      flags: b.readUInt32LE(FLAG_COUNT + 4),
      invflags: b.readUInt32LE(FLAG_COUNT + 8),
    };
  },
  encode(v: SctpMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.dpts[0], 0);
    b.writeUInt16LE(v.dpts[1], 2);
    b.writeUInt16LE(v.spts[0], 4);
    b.writeUInt16LE(v.spts[1], 6);
    v.chunkmap.forEach((w, i) => b.writeUInt32LE(w >>> 0, CHUNKMAP + 4 * i));
    b.writeUInt32LE(v.chunkMatchType >>> 0, MATCH_TYPE);
    v.flagInfo.forEach((f, i) => b.set([f.chunktype, f.flag, f.flagMask], FLAG_INFO + 3 * i));
    b.writeInt32LE(v.flagCount | 0, FLAG_COUNT);
    b.writeUInt32LE(v.flags >>> 0, FLAG_COUNT + 4);
    b.writeUInt32LE(v.invflags >>> 0, FLAG_COUNT + 8);
    return b;
  },
  check(v: SctpMatch, _revision: number, ctx: CheckContext): void {
    const what = 'match "sctp"';
    requireProto(ctx, IPPROTO_SCTP, what);
    if (v.flagCount >>> 0 > XT_NUM_SCTP_FLAGS) {
      throw new XtError(EINVAL, `${what}: flag_count ${v.flagCount} above ${XT_NUM_SCTP_FLAGS}`);
    }
    if ((v.flags & ~XT_SCTP_VALID_FLAGS) !== 0 || (v.invflags & ~XT_SCTP_VALID_FLAGS) !== 0) {
      throw new XtError(
        EINVAL,
        `${what}: unknown flags 0x${v.flags.toString(16)}/0x${v.invflags.toString(16)}`,
      );
    }
    if ((v.invflags & ~v.flags) !== 0) {
      throw new XtError(EINVAL, `${what}: invflags 0x${v.invflags.toString(16)} outside flags`);
    }
    const anyOf = SCTP_CHUNK_MATCH_ALL | SCTP_CHUNK_MATCH_ANY | SCTP_CHUNK_MATCH_ONLY;
    if ((v.flags & XT_SCTP_CHUNK_TYPES) !== 0 && (v.chunkMatchType & anyOf) === 0) {
      throw new XtError(EINVAL, `${what}: chunk match type ${v.chunkMatchType}`);
    }
  },
  format(v: SctpMatch): string {
    // sctp_save: ports as lo[:hi], then the chunk test as print_chunks writes it (names only).
    const parts: string[] = [];
    const ports = (range: readonly [number, number]): string =>
      range[0] === range[1] ? String(range[0]) : `${range[0]}:${range[1]}`;
    const neg = (bit: number): string => ((v.invflags & bit) !== 0 ? '! ' : '');
    if (v.flags & XT_SCTP_SRC_PORTS)
      parts.push(`${neg(XT_SCTP_SRC_PORTS)}--sport ${ports(v.spts)}`);
    if (v.flags & XT_SCTP_DEST_PORTS)
      parts.push(`${neg(XT_SCTP_DEST_PORTS)}--dport ${ports(v.dpts)}`);
    if (v.flags & XT_SCTP_CHUNK_TYPES) {
      parts.push(`${neg(XT_SCTP_CHUNK_TYPES)}--chunk-types${chunksText(v)}`);
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "sctp"';
    const o = readOptions(what, options, {
      sport: { names: ['sport', 'source-port'], invert: true },
      dport: { names: ['dport', 'destination-port'], invert: true },
      chunks: { names: ['chunk-types'], args: 2, invert: true },
    });
    let [flags, invflags] = [0, 0];
    const range = (opt: SaveOption | undefined, bit: number): [number, number] => {
      if (opt === undefined) return [0, 0];
      flags |= bit;
      if (opt.invert) invflags |= bit;
      return parsePortRange(opt.args[0] ?? '', `${what}: --${opt.name}`);
    };
    const spts = range(o.sport, XT_SCTP_SRC_PORTS);
    const dpts = range(o.dport, XT_SCTP_DEST_PORTS);
    // sctp_init: unused flag slots name chunk type 0xff.
    const flagInfo = Array.from({ length: XT_NUM_SCTP_FLAGS }, () => ({
      chunktype: 0xff,
      flag: 0,
      flagMask: 0,
    }));
    let chunkmap = Array<number>(SCTP_CHUNKMAP_WORDS).fill(0);
    let chunkMatchType = 0;
    let flagCount = 0;
    if (o.chunks !== undefined) {
      flags |= XT_SCTP_CHUNK_TYPES;
      if (o.chunks.invert) invflags |= XT_SCTP_CHUNK_TYPES;
      const type = (o.chunks.args[0] ?? '').toUpperCase();
      const matchTypes: Readonly<Record<string, number>> = {
        ANY: SCTP_CHUNK_MATCH_ANY,
        ALL: SCTP_CHUNK_MATCH_ALL,
        ONLY: SCTP_CHUNK_MATCH_ONLY,
      };
      const t = matchTypes[type];
      if (t === undefined) throw new OptionError(`${what}: match type must be ALL, ANY or ONLY`);
      chunkMatchType = t;
      const parsed = parseChunks(o.chunks.args[1] ?? '', flagInfo, what);
      chunkmap = parsed.chunkmap;
      flagCount = parsed.flagCount;
    }
    const value: SctpMatch = {
      dpts,
      spts,
      chunkmap,
      chunkMatchType,
      flagInfo,
      flagCount,
      flags,
      invflags,
    };
    return { extension: sctp, revision: 0, value };
  },
  engine: {
    hotdrops: true,
    region: (v: SctpMatch) =>
      l4PortsRegion(IPPROTO_SCTP, {
        spts: (v.flags & XT_SCTP_SRC_PORTS) !== 0 ? v.spts : undefined,
        dpts: (v.flags & XT_SCTP_DEST_PORTS) !== 0 ? v.dpts : undefined,
        invSrc: (v.invflags & XT_SCTP_SRC_PORTS) !== 0,
        invDst: (v.invflags & XT_SCTP_DEST_PORTS) !== 0,
        more: (v.flags & XT_SCTP_CHUNK_TYPES) !== 0,
      }),
    recordSize: REC_SIZE,
    record: sctpRecord,
    evaluate: sctpCode,
  },
};

const FLAGS = FLAG_COUNT + 4;
const INVFLAGS = FLAG_COUNT + 8;
/** Chunk types are bytes: only the first 8 words of the map can be set or cleared. */
const TYPE_WORDS = 8;

function sctpRecord(v: SctpMatch): Buffer {
  const b = Buffer.alloc(REC_SIZE);
  sctp.encode(v, 0).copy(b);
  b[HIGH_WORDS] = v.chunkmap.slice(TYPE_WORDS).some((w) => w !== 0) ? 1 : 0;
  return b;
}

/** The chunk walk's variables in S.EVAL. */
const E = {
  /** u32: offset of the next chunk header. */
  OFF: S.EVAL,
  /** u32: the walk's outcome (W_*). */
  RES: S.EVAL + 4,
  /** The chunk header: type, flags, be16 length. */
  HDR: S.EVAL + 8,
  /** ALL's copy of the map's first 8 words. */
  MAP: S.EVAL + 16,
} as const;
const { FALSE: W_FALSE, TRUE: W_TRUE, HOTDROP: W_HOTDROP } = WALK;

const WORDS: FlagWords = { flags: FLAGS, invflags: INVFLAGS, size: Size.W };

/**
 * sctp_mt: never a non-first fragment; a common header cut short hotdrops; then each test in
 * flags, against its invflags bit: the ports, and the chunk walk (match_packet).
 */
function sctpCode(cg: EvalContext): Insn[] {
  const noChunks = cg.label('sctp_nochunks');
  return [
    ...requireFirstFragment(cg),
    ...requireL4(12, cg),
    ...portTest(cg, WORDS, XT_SCTP_SRC_PORTS, 4, 0),
    ...portTest(cg, WORDS, XT_SCTP_DEST_PORTS, 0, 2),
    ...unlessFlag(WORDS, XT_SCTP_CHUNK_TYPES, noChunks),
    ...chunkWalk(cg),
    LoadMem(R4, STATE, E.RES, Size.W),
    ...walkDecides(cg, WORDS, XT_SCTP_CHUNK_TYPES),
    withLabel(Nop(), noChunks),
  ];
}

/** Chunks need at least 4 bytes each: a walk this long covers any skb. */
const MAX_CHUNKS = 1 << 23;

/** match_packet over the chunks from thoff + 12 to skb->len, into E.RES. */
function chunkWalk(cg: EvalContext): Insn[] {
  const all = cg.label('sctp_all');
  const copied = cg.label('sctp_copied');
  const done = cg.label('sctp_walked');
  const out: Insn[] = [
    ...skbDynptr(cg),
    StoreImm(STATE, E.RES, W_HOTDROP, Size.W),
    JNe.imm(R0, 0, done),
    LoadMem(R1, STATE, S.IHL, Size.W),
    Add.imm(R1, 12),
    StoreMem(STATE, E.OFF, R1, Size.W),
    LoadMem(R1, RECORD, MATCH_TYPE, Size.W),
    JEq.imm(R1, SCTP_CHUNK_MATCH_ALL, all),
    Ja(copied),
  ];
  for (let w = 0; w < TYPE_WORDS; w++) {
    const load = LoadMem(R1, RECORD, CHUNKMAP + 4 * w, Size.W);
    out.push(w === 0 ? withLabel(load, all) : load, StoreMem(STATE, E.MAP + 4 * w, R1, Size.W));
  }
  out.push(
    withLabel(Nop(), copied),
    ...boundedLoop(cg, MAX_CHUNKS, (next, exit) => chunkStep(cg, next, exit)),
    withLabel(Nop(), done),
  );
  return out;
}

/** One chunk of match_packet; leaves with E.RES set when the walk is decided. */
function chunkStep(cg: EvalContext, next: string, exit: string): Insn[] {
  const result = (r: number): Insn => StoreImm(STATE, E.RES, r, Size.W);
  const absent = cg.label('sctp_absent');
  const notAny = cg.label('sctp_notany');
  const notAll = cg.label('sctp_notall');
  const after = cg.label('sctp_after');
  const notAllEnd = cg.label('sctp_end_notall');
  return [
    result(W_HOTDROP),
    LoadMem(R4, STATE, E.OFF, Size.W),
    ...readPacket(cg, E.HDR, 4),
    JNe.imm(R0, 0, exit),
    LoadMem(R1, STATE, E.HDR + 2, Size.H),
    ToBe(R1, 16),
    JEq.imm(R1, 0, exit),
    result(W_FALSE),
    // offset += SCTP_PAD4(length)
    Add.imm(R1, 3),
    And.imm(R1, ~3),
    LoadMem(R2, STATE, E.OFF, Size.W),
    Add.reg(R2, R1),
    StoreMem(STATE, E.OFF, R2, Size.W),
    ...typeBit(),
    Mov.reg(R4, RECORD),
    Add.reg(R4, R2),
    LoadMem(R4, R4, CHUNKMAP, Size.W),
    And.reg(R4, R3),
    JEq.imm(R4, 0, absent),
    ...matchFlags(cg),
    LoadMem(R5, RECORD, MATCH_TYPE, Size.W),
    JNe.imm(R5, SCTP_CHUNK_MATCH_ANY, notAny),
    JEq.imm(R0, 0, after),
    result(W_TRUE),
    Ja(exit),
    withLabel(JNe.imm(R5, SCTP_CHUNK_MATCH_ALL, notAll), notAny),
    JEq.imm(R0, 0, after),
    // SCTP_CHUNKMAP_CLEAR(chunkmapcopy, type)
    ...typeBit(),
    Mov.reg(R4, STATE),
    Add.reg(R4, R2),
    LoadMem(R1, R4, E.MAP, Size.W),
    Or.reg(R1, R3),
    Xor.reg(R1, R3),
    StoreMem(R4, E.MAP, R1, Size.W),
    Ja(after),
    withLabel(JNe.imm(R5, SCTP_CHUNK_MATCH_ONLY, after), notAll),
    JNe.imm(R0, 0, after),
    Ja(exit),
    withLabel(LoadMem(R5, RECORD, MATCH_TYPE, Size.W), absent),
    JEq.imm(R5, SCTP_CHUNK_MATCH_ONLY, exit),
    // } while (offset < skb->len)
    withLabel(LoadMem(R1, STATE, E.OFF, Size.W), after),
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    JLt.reg(R1, R2, next),
    LoadMem(R5, RECORD, MATCH_TYPE, Size.W),
    JNe.imm(R5, SCTP_CHUNK_MATCH_ALL, notAllEnd),
    // ALL: every type of the map was seen (words 8..63 can never be cleared)
    LoadMem(R1, RECORD, HIGH_WORDS, Size.B),
    JNe.imm(R1, 0, exit),
    ...Array.from({ length: TYPE_WORDS }, (_, w) => [
      LoadMem(R2, STATE, E.MAP + 4 * w, Size.W),
      JNe.imm(R2, 0, exit),
    ]).flat(),
    result(W_TRUE),
    Ja(exit),
    withLabel(JNe.imm(R5, SCTP_CHUNK_MATCH_ONLY, exit), notAllEnd),
    result(W_TRUE),
    Ja(exit),
  ];
}

/** R2 = the offset of the chunk type's word in a map, R3 = its bit. Clobbers R1. */
function typeBit(): Insn[] {
  return [
    LoadMem(R1, STATE, E.HDR, Size.B),
    Mov.reg(R2, R1),
    Rsh.imm(R2, 5),
    Lsh.imm(R2, 2),
    And.imm(R1, 31),
    Mov.imm(R3, 1),
    Lsh.reg(R3, R1),
  ];
}

/**
 * R0 = match_flags(): the first of the flag_count slots naming the chunk's type decides
 * (flags & flag_mask) == flag; none, 1. Clobbers R1, R4.
 */
function matchFlags(cg: EvalContext): Insn[] {
  const done = cg.label('sctp_flags_done');
  const out: Insn[] = [Mov.imm(R0, 1)];
  for (let i = 0; i < XT_NUM_SCTP_FLAGS; i++) {
    const slot = FLAG_INFO + 3 * i;
    const other = cg.label('sctp_flag_next');
    out.push(
      LoadMem(R1, RECORD, FLAG_COUNT, Size.W),
      JLe.imm(R1, i, done),
      LoadMem(R1, RECORD, slot, Size.B),
      LoadMem(R4, STATE, E.HDR, Size.B),
      JNe.reg(R1, R4, other),
      LoadMem(R4, STATE, E.HDR + 1, Size.B),
      LoadMem(R1, RECORD, slot + 2, Size.B),
      And.reg(R4, R1),
      LoadMem(R1, RECORD, slot + 1, Size.B),
      Mov.imm(R0, 1),
      JEq.reg(R4, R1, done),
      Mov.imm(R0, 0),
      Ja(done),
      withLabel(Nop(), other),
    );
  }
  out.push(withLabel(Nop(), done));
  return out;
}

/** Whether chunk type `t` is in the map. */
export function chunkSet(chunkmap: readonly number[], t: number): boolean {
  return (((chunkmap[t >> 5] ?? 0) >>> (t & 31)) & 1) === 1;
}

/**
 * libxt_sctp's parse_sctp_chunk: ALL / NONE, or NAME[:flags] items. A flag letter is looked up
 * (upper-cased) in the chunk's flag string, so '-' names bit 7; upper case requires the bit set,
 * lower case clear. The flag slot records the chunk's index in libxt_sctp's table, not its type
 * (the same for types 0-14, not for I_DATA and later).
 */
function parseChunks(
  s: string,
  flagInfo: { chunktype: number; flag: number; flagMask: number }[],
  what: string,
): { chunkmap: number[]; flagCount: number } {
  const chunkmap = Array<number>(SCTP_CHUNKMAP_WORDS).fill(0);
  if (s.toUpperCase() === 'ALL') return { chunkmap: chunkmap.map(() => 0xffffffff), flagCount: 0 };
  if (s.toUpperCase() === 'NONE') return { chunkmap, flagCount: 0 };
  let flagCount = 0;
  for (const item of s.split(',')) {
    if (item === '') continue;
    const colon = item.indexOf(':');
    const name = colon === -1 ? item : item.slice(0, colon);
    const index = CHUNKS.findIndex(([n]) => n === name.toUpperCase());
    const chunk = CHUNKS[index];
    if (chunk === undefined) throw new OptionError(`${what}: unknown chunk "${name}"`);
    const [, type, letters] = chunk;
    chunkmap[type >> 5] = ((chunkmap[type >> 5] ?? 0) | (1 << (type & 31))) >>> 0;
    for (const c of colon === -1 ? '' : item.slice(colon + 1)) {
      const at = letters.indexOf(c.toUpperCase());
      if (at === -1) throw new OptionError(`${what}: invalid flag "${c}" for chunk ${name}`);
      const bit = 1 << (7 - at);
      let slot = flagInfo.slice(0, flagCount).find((f) => f.chunktype === index);
      if (slot === undefined) {
        if (flagCount === XT_NUM_SCTP_FLAGS) {
          throw new OptionError(`${what}: flags on more than ${XT_NUM_SCTP_FLAGS} chunk types`);
        }
        slot = flagInfo[flagCount++];
        if (slot === undefined) break;
        slot.chunktype = index;
      }
      slot.flagMask |= bit;
      if (c !== c.toLowerCase()) slot.flag |= bit;
    }
  }
  return { chunkmap, flagCount };
}

/** print_chunks (names, not numbers): the match type, then NONE, ALL or the chunks present. */
function chunksText(v: SctpMatch): string {
  const types: Readonly<Record<number, string>> = {
    [SCTP_CHUNK_MATCH_ANY]: ' any',
    [SCTP_CHUNK_MATCH_ALL]: ' all',
    [SCTP_CHUNK_MATCH_ONLY]: ' only',
  };
  let out = types[v.chunkMatchType] ?? 'Never reach here\n';
  if (v.chunkmap.every((w) => w === 0)) return `${out} NONE`;
  if (v.chunkmap.every((w) => w === 0xffffffff)) return `${out} ALL`;
  const slots = v.flagInfo.slice(0, Math.max(0, Math.min(v.flagCount, XT_NUM_SCTP_FLAGS)));
  let sep = ' ';
  for (let t = 0; t < 256; t++) {
    if (!chunkSet(v.chunkmap, t)) continue;
    // A type without a name prints nothing between its separators, as print_chunk does.
    out +=
      sep +
      CHUNKS.filter(([, type]) => type === t)
        .map(([n]) => n)
        .join('');
    sep = ',';
    for (const f of slots) {
      // print_chunk_flags indexes libxt_sctp's table by the type.
      if (f.chunktype === t && f.flagMask !== 0) out += `:${flagLetters(t, f.flag, f.flagMask)}`;
    }
  }
  return out;
}

function flagLetters(t: number, flag: number, mask: number): string {
  const letters = CHUNKS[t]?.[2] ?? '--------';
  let out = '';
  for (let i = 7; i >= 0; i--) {
    if ((mask & (1 << i)) === 0) continue;
    const c = letters[7 - i] ?? '-';
    out += (flag & (1 << i)) !== 0 ? c : c.toLowerCase();
  }
  return out;
}
