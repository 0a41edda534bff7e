// -m limit: struct xt_rateinfo (linux/netfilter/xt_limit.h), revision 0, family UNSPEC.
// Only avg and burst are user data (usersize = offsetof(prev) = 8); the other 32 bytes are the
// kernel's (prev, credit, credit_cap, cost, master) and come back zeroed from GET_ENTRIES.
// iptables sends them zeroed; a caller-supplied non-zero cost/credit_cap would be honoured by
// limit_mt_check and is ignored here (decode drops it).
import { ERANGE, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, RecordContext, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import {
  Add,
  Call,
  FP,
  Ja,
  JEq,
  JLe,
  JLt,
  LoadMapPtr,
  LoadMem,
  Mov,
  Mul,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  Size,
  StoreMem,
  Sub,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { BUCKET, bucketBtf } from '../../bpf/codegen/btf.js';
import { RECORD, Unsupported, type EvalContext } from '../../bpf/codegen/eval.js';

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_spin_lock = 93;
const BPF_FUNC_spin_unlock = 94;
const BPF_FUNC_jiffies64 = 118;

/** avg is in 1/XT_LIMIT_SCALE seconds per packet. */
export const XT_LIMIT_SCALE = 10000;
/** CONFIG_HZ of the kernels we mirror (Debian's 250; 1000 gives the same HZ·CPJ product). */
export const HZ = 250;
/** POW2_BELOW32(0xFFFFFFFF / (HZ*60*60*24)): credits per jiffy, as xt_limit.c computes. */
export const CREDITS_PER_JIFFY = pow2Below32(Math.floor(0xffffffff / (HZ * 60 * 60 * 24)));

function pow2Below32(x: number): number {
  let p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}

/** xt_limit.c's user2credits, in u32 arithmetic (its products wrap like the C ones). */
export function user2credits(user: number): number {
  const u = user >>> 0;
  const perSecond = HZ * CREDITS_PER_JIFFY;
  if (u > Math.floor(0xffffffff / perSecond)) {
    return Math.imul(Math.floor(u / XT_LIMIT_SCALE), perSecond) >>> 0;
  }
  return Math.floor((u * perSecond) / XT_LIMIT_SCALE);
}

export interface LimitMatch {
  readonly avg: number;
  readonly burst: number;
}

/** libxt_limit's burst when --limit-burst is not given. */
const DEFAULT_BURST = 5;

/** libxt_limit's rate when --limit is not given: 3/hour. */
const DEFAULT_AVG = (XT_LIMIT_SCALE * 60 * 60) / 3;
/** libxt_limit refuses larger bursts. */
const MAX_BURST = 10000;

/** The record: the credits a packet costs, the bucket's cap, and the bucket's state slot. */
const REC = { COST: 0, CAP: 8, SLOT: 16, SIZE: 24 } as const;

/** The per-match token buckets of `-m limit`, by state slot (btf.ts: BUCKET). */
export const LIMITS_MAP = 'limits';

/** sizeof(struct xt_rateinfo) on x86-64. */
const SIZE = 40;
const USER_SIZE = 8;

export const limit: Extension<LimitMatch> = {
  kind: 'match',
  name: 'limit',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): LimitMatch {
    const b = payload(data, SIZE);
    return { avg: b.readUInt32LE(0), burst: b.readUInt32LE(4) };
  },
  encode(v: LimitMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.avg >>> 0, 0);
    b.writeUInt32LE(v.burst >>> 0, 4);
    return b;
  },
  check(v: LimitMatch): void {
    // limit_mt_check: avg * burst is a u32 product; a wrapped one shows as fewer credits.
    if (v.burst === 0 || user2credits(Math.imul(v.avg, v.burst)) < user2credits(v.avg)) {
      throw new XtError(ERANGE, `match "limit": avg ${v.avg} burst ${v.burst} overflows`);
    }
  },
  format(v: LimitMatch): string {
    // iptables-save leaves out the default burst.
    const burst = v.burst === DEFAULT_BURST ? '' : ` --limit-burst ${v.burst}`;
    return `--limit ${rate(v.avg)}${burst}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "limit"', options, {
      limit: { names: ['limit'] },
      burst: { names: ['limit-burst'] },
    });
    const value: LimitMatch = {
      avg: o.limit === undefined ? DEFAULT_AVG : parseRate(o.limit.args[0] ?? ''),
      burst:
        o.burst === undefined
          ? DEFAULT_BURST
          : parseUint(o.burst.args[0] ?? '', 0, MAX_BURST, 'match "limit": --limit-burst'),
    };
    return { extension: limit, revision: 0, value };
  },
  engine: {
    stateful: true,
    recordSize: REC.SIZE,
    record(v: LimitMatch, _revision: number, ctx: RecordContext): Buffer {
      if (ctx.hz !== HZ) {
        throw new Unsupported(
          `match "limit": the kernel's HZ (${ctx.hz ?? 'unknown'}) is not the ${HZ} its arithmetic is written for`,
        );
      }
      const b = Buffer.alloc(REC.SIZE);
      b.writeBigUInt64LE(BigInt(user2credits(v.avg)), REC.COST);
      b.writeBigUInt64LE(BigInt(user2credits(Math.imul(v.avg, v.burst) >>> 0)), REC.CAP);
      b.writeUInt32LE(ctx.stateSlot(), REC.SLOT);
      return b;
    },
    state: { map: LIMITS_MAP, valueSize: BUCKET.size, btf: bucketBtf },
    evaluate: limitCode,
  },
};

/**
 * limit_mt under the bucket's spin lock: credit += (now - prev) * CREDITS_PER_JIFFY, capped; pay
 * `cost` if there is enough. A bucket never used (prev 0) is full, as checkentry leaves it.
 */
function limitCode(cg: EvalContext): Insn[] {
  const [key, now, ptr] = [cg.scratch, cg.scratch + 8, cg.scratch + 16];
  const accrued = cg.label('lim_accrued');
  const broke = cg.label('lim_broke');
  const paid = cg.label('lim_paid');
  return [
    Call.helper(BPF_FUNC_jiffies64),
    StoreMem(FP, now, R0, Size.DW),
    LoadMem(R1, RECORD, REC.SLOT, Size.W),
    StoreMem(FP, key, R1, Size.W),
    LoadMapPtr(R1, LIMITS_MAP),
    Mov.reg(R2, FP),
    Add.imm(R2, key),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, cg.noMatch),
    StoreMem(FP, ptr, R0, Size.DW),
    Mov.reg(R1, R0),
    Call.helper(BPF_FUNC_spin_lock),
    LoadMem(R1, FP, ptr, Size.DW),
    LoadMem(R3, FP, now, Size.DW),
    LoadMem(R2, R1, BUCKET.prev, Size.DW),
    LoadMem(R4, RECORD, REC.CAP, Size.DW),
    JEq.imm(R2, 0, accrued),
    LoadMem(R4, R1, BUCKET.credit, Size.DW),
    Mov.reg(R5, R3),
    Sub.reg(R5, R2),
    Mul.imm(R5, CREDITS_PER_JIFFY),
    Add.reg(R4, R5),
    LoadMem(R5, RECORD, REC.CAP, Size.DW),
    JLe.reg(R4, R5, accrued),
    Mov.reg(R4, R5),
    withLabel(StoreMem(R1, BUCKET.prev, R3, Size.DW), accrued),
    LoadMem(R5, RECORD, REC.COST, Size.DW),
    JLt.reg(R4, R5, broke),
    Sub.reg(R4, R5),
    StoreMem(R1, BUCKET.credit, R4, Size.DW),
    Call.helper(BPF_FUNC_spin_unlock),
    Ja(paid),
    withLabel(StoreMem(R1, BUCKET.credit, R4, Size.DW), broke),
    Call.helper(BPF_FUNC_spin_unlock),
    Ja(cg.noMatch),
    withLabel(Nop(), paid),
  ];
}

/**
 * iptables' rate spelling (libxt_limit's print_rate): walk from days to seconds and stop before
 * the first unit the period exceeds or divides too unevenly.
 */
function rate(avg: number): string {
  const units: readonly (readonly [string, number])[] = [
    ['day', XT_LIMIT_SCALE * 24 * 60 * 60],
    ['hour', XT_LIMIT_SCALE * 60 * 60],
    ['min', XT_LIMIT_SCALE * 60],
    ['sec', XT_LIMIT_SCALE],
  ];
  if (avg === 0) return 'inf';
  let i = 1;
  for (; i < units.length; i++) {
    const mult = units[i]?.[1] ?? 1;
    if (avg > mult || Math.floor(mult / avg) < mult % avg) break;
  }
  const [name, mult] = units[i - 1] ?? ['sec', XT_LIMIT_SCALE];
  return `${Math.floor(mult / avg)}/${name}`;
}

/**
 * libxt_limit's parse_rate: `n[/unit]`, unit a prefix of second, minute, hour or day (seconds
 * by default), as 1/XT_LIMIT_SCALE seconds per packet.
 */
function parseRate(s: string): number {
  const what = 'match "limit": --limit';
  const slash = s.indexOf('/');
  const unit = slash === -1 ? 'second' : s.slice(slash + 1).toLowerCase();
  const mults: readonly (readonly [string, number])[] = [
    ['second', 1],
    ['minute', 60],
    ['hour', 60 * 60],
    ['day', 24 * 60 * 60],
  ];
  const mult = unit === '' ? undefined : mults.find(([name]) => name.startsWith(unit))?.[1];
  const n = /^[0-9]+/.exec(s)?.[0];
  const r = n === undefined ? 0 : Number(n);
  if (mult === undefined || r === 0) throw new OptionError(`${what}: bad rate "${s}"`);
  const avg = Math.floor((XT_LIMIT_SCALE * mult) / r);
  if (avg === 0) throw new OptionError(`${what}: rate too fast "${s}"`);
  return avg;
}
