// -m quota: struct xt_quota_info (linux/netfilter/xt_quota.h), revision 0, family UNSPEC.
// usersize = offsetof(master) = 16: flags, pad and the u64 quota are user data (pad included:
// the kernel keeps and returns whatever it was given), the master pointer is the kernel's and
// comes back zeroed. quota_mt_check refuses unknown flags with EINVAL. The counter the kernel
// keeps in master is the engine's per-rule state slot; GET_ENTRIES shows the quota given, as
// the kernel's does (it never writes the remainder back).
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUintBig, readOptions } from './args.js';
import type { Extension, RecordContext, SaveOption } from './types.js';
import { inv, payload, zeroed } from './util.js';
import {
  Add,
  Call,
  Ja,
  JEq,
  JLt,
  LoadMem,
  Mov,
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
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_QUOTA_INVERT = 0x1;
export const XT_QUOTA_MASK = 0x1;

export interface QuotaMatch {
  readonly flags: number;
  readonly pad: number;
  /** Bytes left; u64. */
  readonly quota: bigint;
}

const SIZE = 24;

/** The per-rule byte counters of `-m quota`, by state slot. */
export const QUOTAS_MAP = 'quotas';
const REC = { QUOTA: 0, INVERT: 8, SLOT: 12, SIZE: 16 } as const;
const SPENT = BUCKET.credit;
const USER_SIZE = 16;

export const quota: Extension<QuotaMatch> = {
  kind: 'match',
  name: 'quota',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): QuotaMatch {
    const b = payload(data, SIZE);
    return { flags: b.readUInt32LE(0), pad: b.readUInt32LE(4), quota: b.readBigUInt64LE(8) };
  },
  encode(v: QuotaMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.flags >>> 0, 0);
    b.writeUInt32LE(v.pad >>> 0, 4);
    b.writeBigUInt64LE(v.quota, 8);
    return b;
  },
  check(v: QuotaMatch): void {
    if ((v.flags & ~XT_QUOTA_MASK) !== 0) {
      throw new XtError(EINVAL, `match "quota": unknown flags 0x${v.flags.toString(16)}`);
    }
  },
  format(v: QuotaMatch): string {
    return `${inv((v.flags & XT_QUOTA_INVERT) !== 0)}--quota ${v.quota}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "quota"', options, { quota: { names: ['quota'], invert: true } });
    if (o.quota === undefined) throw new OptionError('match "quota": --quota is required');
    const value: QuotaMatch = {
      flags: o.quota.invert ? XT_QUOTA_INVERT : 0,
      pad: 0,
      quota: parseUintBig(o.quota.args[0] ?? '', 0n, 2n ** 64n - 1n, 'match "quota": --quota'),
    };
    return { extension: quota, revision: 0, value };
  },
  engine: {
    stateful: true,
    recordSize: REC.SIZE,
    record(v: QuotaMatch, _revision: number, ctx: RecordContext): Buffer {
      const b = Buffer.alloc(REC.SIZE);
      b.writeBigUInt64LE(v.quota, REC.QUOTA);
      b.writeUInt8(v.flags & XT_QUOTA_INVERT, REC.INVERT);
      b.writeUInt32LE(ctx.stateSlot(), REC.SLOT);
      return b;
    },
    // A lock and the bytes spent (limit's bucket layout, `credit` the bytes spent): a slot
    // fresh for a new table has spent none, as quota_mt_check starts from the rule's quota.
    state: { map: QUOTAS_MAP, valueSize: BUCKET.size, btf: bucketBtf },
    evaluate: quotaCode,
  },
};

/**
 * quota_mt under the slot's lock: with at least skb->len bytes left they are spent and the
 * test holds; otherwise nothing is left from then on (a smaller packet later fails too).
 */
function quotaCode(cg: EvalContext): Insn[] {
  const short = cg.label('quota_short');
  const done = cg.label('quota_done');
  return [
    ...lockSlot(QUOTAS_MAP, REC.SLOT, cg.scratch, cg.noMatch),
    LoadMem(R2, R1, SPENT, Size.DW),
    LoadMem(R3, RECORD, REC.QUOTA, Size.DW),
    // R4 = bytes left
    Mov.reg(R4, R3),
    Sub.reg(R4, R2),
    LoadMem(R0, STATE, S.SKBLEN, Size.W),
    Mov.imm(R8, 0),
    JLt.reg(R4, R0, short),
    Add.reg(R2, R0),
    StoreMem(R1, SPENT, R2, Size.DW),
    Mov.imm(R8, 1),
    Ja(done),
    withLabel(StoreMem(R1, SPENT, R3, Size.DW), short),
    withLabel(Call.helper(BPF_FUNC_spin_unlock), done),
    LoadMem(R1, RECORD, REC.INVERT, Size.B),
    Xor.reg(R8, R1),
    JEq.imm(R8, 0, cg.noMatch),
  ];
}
