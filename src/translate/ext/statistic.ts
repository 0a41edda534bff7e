// -m statistic: struct xt_statistic_info (linux/netfilter/xt_statistic.h), revision 0, family
// UNSPEC. usersize = offsetof(master) = 16; the master pointer (8 bytes) is the kernel's.
// statistic_mt_check refuses a mode above XT_STATISTIC_MODE_MAX or unknown flags (EINVAL), then
// starts the nth counter at u.nth.count. The union's first word is u.random.probability in
// random mode and u.nth.every in nth mode; iptables sets count = every - packet in both modes,
// so a random rule carries its probability in count too. The engine keeps the nth counter in a
// per-rule state slot, fresh (at u.nth.count) for every new table as checkentry's master is.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, RecordContext, SaveOption } from './types.js';
import { inv, payload, zeroed } from './util.js';
import {
  Add,
  And,
  Call,
  Ja,
  JEq,
  JLt,
  JNe,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R8,
  Size,
  StoreMem,
  Sub,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { BUCKET, bucketBtf } from '../../bpf/codegen/btf.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { BPF_FUNC_spin_unlock, lockSlot } from '../../bpf/codegen/slot.js';

export const XT_STATISTIC_MODE_RANDOM = 0;
export const XT_STATISTIC_MODE_NTH = 1;
export const XT_STATISTIC_MODE_MAX = 1;
export const XT_STATISTIC_INVERT = 0x1;
export const XT_STATISTIC_MASK = 0x1;

export interface StatisticMatch {
  readonly mode: number;
  readonly flags: number;
  /**
   * The union's first u32: u.random.probability (matches when a random 31-bit number is below
   * it) in random mode, u.nth.every (one less than --every) in nth mode.
   */
  readonly every: number;
  /** u.nth.packet. */
  readonly packet: number;
  /** u.nth.count: where the kernel starts the nth counter. */
  readonly count: number;
}

const SIZE = 24;
const USER_SIZE = 16;

/** The nth counters of `-m statistic`, by state slot. */
export const NTH_MAP = 'nth';
/** The record: mode, invert, the union's first word, the counter's start, its slot. */
const REC = { MODE: 0, INVERT: 1, EVERY: 4, COUNT: 8, SLOT: 12, SIZE: 16 } as const;
/**
 * A lock and the counter as its distance from u.nth.count (limit's bucket layout, in `credit`):
 * a slot fresh for a new table holds the start statistic_mt_check sets.
 */
const MOVED = BUCKET.credit;
/** The probability scale: --probability 1 is 2^31. */
const SCALE = 0x80000000;

export const statistic: Extension<StatisticMatch> = {
  kind: 'match',
  name: 'statistic',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): StatisticMatch {
    const b = payload(data, SIZE);
    return {
      mode: b.readUInt16LE(0),
      flags: b.readUInt16LE(2),
      every: b.readUInt32LE(4),
      packet: b.readUInt32LE(8),
      count: b.readUInt32LE(12),
    };
  },
  encode(v: StatisticMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.mode, 0);
    b.writeUInt16LE(v.flags, 2);
    b.writeUInt32LE(v.every >>> 0, 4);
    b.writeUInt32LE(v.packet >>> 0, 8);
    b.writeUInt32LE(v.count >>> 0, 12);
    return b;
  },
  check(v: StatisticMatch): void {
    if (v.mode > XT_STATISTIC_MODE_MAX || (v.flags & ~XT_STATISTIC_MASK) !== 0) {
      throw new XtError(
        EINVAL,
        `match "statistic": mode ${v.mode} flags 0x${v.flags.toString(16)}`,
      );
    }
  },
  format(v: StatisticMatch): string {
    const neg = inv((v.flags & XT_STATISTIC_INVERT) !== 0);
    if (v.mode === XT_STATISTIC_MODE_RANDOM) {
      return `--mode random ${neg}--probability ${probability(v.every)}`;
    }
    if (v.mode === XT_STATISTIC_MODE_NTH) {
      return `--mode nth ${neg}--every ${(v.every + 1) >>> 0} --packet ${v.packet}`;
    }
    return '';
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "statistic"';
    const o = readOptions(what, options, {
      mode: { names: ['mode'] },
      probability: { names: ['probability'], invert: true },
      every: { names: ['every'], invert: true },
      packet: { names: ['packet'] },
    });
    if (o.mode === undefined) throw new OptionError(`${what}: --mode is required`);
    const modeName = o.mode.args[0] ?? '';
    const mode = { random: XT_STATISTIC_MODE_RANDOM, nth: XT_STATISTIC_MODE_NTH }[modeName];
    if (mode === undefined) throw new OptionError(`${what}: bad mode "${modeName}"`);
    if (o.probability && (o.every || o.packet)) {
      throw new OptionError(`${what}: --probability cannot be used with --every or --packet`);
    }
    if ((o.every === undefined) !== (o.packet === undefined)) {
      throw new OptionError(`${what}: --every and --packet need each other`);
    }
    if (mode === XT_STATISTIC_MODE_RANDOM && o.probability === undefined) {
      throw new OptionError(`${what}: --probability must be specified in random mode`);
    }
    if (mode === XT_STATISTIC_MODE_NTH && o.every === undefined) {
      throw new OptionError(`${what}: --every and --packet must be specified in nth mode`);
    }
    let every = 0;
    let packet = 0;
    if (o.probability) every = parseProbability(o.probability.args[0] ?? '', what);
    if (o.every && o.packet) {
      every = parseUint(o.every.args[0] ?? '', 1, 0xffffffff, `${what}: --every`) - 1;
      packet = parseUint(o.packet.args[0] ?? '', 0, 0xffffffff, `${what}: --packet`);
      if (packet > every) throw new OptionError(`${what}: the --packet p must be 0 <= p <= n-1`);
    }
    const flags = o.probability?.invert || o.every?.invert ? XT_STATISTIC_INVERT : 0;
    const value: StatisticMatch = { mode, flags, every, packet, count: every - packet };
    return { extension: statistic, revision: 0, value };
  },
  engine: {
    stateful: true,
    recordSize: REC.SIZE,
    record(v: StatisticMatch, _revision: number, ctx: RecordContext): Buffer {
      const b = Buffer.alloc(REC.SIZE);
      b.writeUInt8(v.mode, REC.MODE);
      b.writeUInt8(v.flags & XT_STATISTIC_INVERT, REC.INVERT);
      b.writeUInt32LE(v.every >>> 0, REC.EVERY);
      b.writeUInt32LE(v.count >>> 0, REC.COUNT);
      b.writeUInt32LE(v.mode === XT_STATISTIC_MODE_NTH ? ctx.stateSlot() : 0, REC.SLOT);
      return b;
    },
    state: { map: NTH_MAP, valueSize: BUCKET.size, btf: bucketBtf },
    evaluate: statisticCode,
  },
};

const BPF_FUNC_get_prandom_u32 = 7;

/**
 * statistic_mt. Random: a 31-bit random number below the probability (bpf_get_prandom_u32
 * where the kernel calls get_random_u32: the same distribution, another generator). Nth: the
 * rule's counter steps to 0 after `every`, else up by one (u32, as the kernel's int wraps),
 * under the slot's lock where the kernel loops on cmpxchg; the test holds when it reaches 0.
 * Then ^ invert. A mode past NTH (checkentry refuses it) holds only inverted, as in the kernel.
 */
function statisticCode(cg: EvalContext): Insn[] {
  const nth = cg.label('stat_nth');
  const decided = cg.label('stat_decided');
  const wrap = cg.label('stat_wrap');
  const stepped = cg.label('stat_stepped');
  const yes = cg.label('stat_yes');
  return [
    Mov.imm(R8, 0),
    LoadMem(R1, RECORD, REC.MODE, Size.B),
    JEq.imm(R1, XT_STATISTIC_MODE_NTH, nth),
    JNe.imm(R1, XT_STATISTIC_MODE_RANDOM, decided),
    Call.helper(BPF_FUNC_get_prandom_u32),
    And.imm(R0, 0x7fffffff),
    LoadMem(R1, RECORD, REC.EVERY, Size.W),
    JLt.reg(R0, R1, yes),
    Ja(decided),
    withLabel(Nop(), nth),
    ...lockSlot(NTH_MAP, REC.SLOT, cg.scratch, cg.noMatch),
    // R2 = oval = count + moved; R3 = nval
    LoadMem(R2, R1, MOVED, Size.W),
    LoadMem(R4, RECORD, REC.COUNT, Size.W),
    Add.reg32(R2, R4),
    LoadMem(R0, RECORD, REC.EVERY, Size.W),
    Mov.imm(R3, 0),
    JEq.reg32(R2, R0, wrap),
    Mov.reg32(R3, R2),
    Add.imm32(R3, 1),
    withLabel(Mov.reg32(R2, R3), wrap),
    Sub.reg32(R2, R4),
    StoreMem(R1, MOVED, R2, Size.W),
    JNe.imm32(R3, 0, stepped),
    Mov.imm(R8, 1),
    withLabel(Call.helper(BPF_FUNC_spin_unlock), stepped),
    Ja(decided),
    withLabel(Mov.imm(R8, 1), yes),
    withLabel(LoadMem(R1, RECORD, REC.INVERT, Size.B), decided),
    Xor.reg(R8, R1),
    JEq.imm(R8, 0, cg.noMatch),
  ];
}

/** lround(2^31 · p) for p in [0, 1], p as strtod reads it. */
function parseProbability(s: string, what: string): number {
  const p = /^[ \t]*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? Number(s) : NaN;
  if (!(p >= 0 && p <= 1)) throw new OptionError(`${what}: bad --probability "${s}"`);
  return Math.round(SCALE * p);
}

/** printf("%.11f", p / 2^31): the exact binary value rounded half to even, as glibc does. */
export function probability(p: number): string {
  const digits = 11n;
  const num = BigInt(p >>> 0) * 10n ** digits;
  const den = BigInt(SCALE);
  let q = num / den;
  const r = num % den;
  if (r * 2n > den || (r * 2n === den && q % 2n === 1n)) q += 1n;
  const whole = q / 10n ** digits;
  const frac = (q % 10n ** digits).toString().padStart(Number(digits), '0');
  return `${whole}.${frac}`;
}
