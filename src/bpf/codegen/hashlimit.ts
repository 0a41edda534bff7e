// -m hashlimit in BPF: the kernel's per-name xt_hashlimit_htable as two namespace maps (types.ts
// NetnsMap). The tables map holds one value per table (a named table: the configuration of the
// rule that created it, the entry count hashlimit_mt checks against `max`, what a new entry
// starts with, the name); the entries map holds the dsthash_ent of every (table, masked
// address, port) the table has seen, each a token bucket under its own bpf_spin_lock as the
// kernel's under ent->lock. The helper's collector (bpf/hashlimit-gc.ts) drops expired entries
// every gc_interval as htable_gc does; until then an expired entry is found and refilled, as in
// the kernel.
//
// What comes from where, as hashlimit_mt_common has it: the key (mode bits, masks), expiry and
// a new entry's bucket from the table's configuration; the refill from the table's mode and the
// rule's revision; the cost, rate-match and inversion from the rule's own mode.
import { readFileSync } from 'node:fs';
import {
  Add,
  And,
  AtomicAdd,
  Call,
  FP,
  Ja,
  JEq,
  JGe,
  JGt,
  JLe,
  JLt,
  JNe,
  JSet,
  LoadImm64,
  LoadMem,
  Lsh,
  Mov,
  Mul,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R8,
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  withLabel,
  type Insn,
} from '../asm/index.js';
import { CTX, RECORD, type EvalContext } from './eval.js';
import { BPF_NOEXIST, EEXIST, labelsFor, lookupAt, updateAt } from './maps.js';
import { S, STATE } from './state.js';

export const HASHLIMIT_TABLES = 'hashlimits';
export const HASHLIMIT_ENTRIES = 'hl_entries';

/** Tables alive at once in a namespace. */
export const TABLE_SLOTS = 1024;
/**
 * Entries of all tables of a namespace together. The kernel allocates each table's up to its
 * `max`; here they share one hash map, and an insert into a full one fails as the kernel's
 * allocation failure does (hotdrop). 2^18 buckets cost 4 MiB per namespace.
 */
export const ENTRY_CAPACITY = 1 << 18;

/** The table value. */
export const TBL = {
  LOCK: 0,
  /** u32, atomically counted: entries in the table (ht->count). */
  COUNT: 4,
  MAX: 8,
  /** u32: the creating rule's cfg.mode. */
  MODE: 12,
  /** u32 masks in network byte order (maskl of srcmask/dstmask). */
  SRCMASK: 16,
  DSTMASK: 20,
  /** u64: msecs_to_jiffies(cfg.expire). */
  EXPIRE: 24,
  /** A new entry's bucket for a rule of revision r: 4 u64 at INIT + 32 (r - 1). */
  INIT: 32,
  GC_INTERVAL: 128,
  SIZE: 132,
  /** u8 length, then the name (NUL-terminated). */
  NAME: 144,
  BYTES: 400,
} as const;

/** The entry value: the bucket's words, as struct dsthash_ent's rateinfo union lays them out. */
export const ENT = {
  LOCK: 0,
  EXPIRES: 8,
  PREV: 16,
  /** credit | { u32 interval, u32 prev_window } */
  A: 24,
  /** credit_cap | current_rate */
  B: 32,
  /** cost | rate */
  C: 40,
  /** rate-match burst */
  D: 48,
  BYTES: 56,
} as const;

/** The entry key: the table's slot, then struct dsthash_dst's IPv4 part. */
export const KEY = { SLOT: 0, SRC: 4, DST: 8, SPORT: 12, DPORT: 14, BYTES: 16 } as const;

/** The rule's record. */
export const REC = { SLOT: 0, MODE: 4, REVISION: 8, CPJ_SHIFT: 12, INIT: 16, BYTES: 24 } as const;

const XT_HASHLIMIT_HASH_DIP = 1 << 0;
const XT_HASHLIMIT_HASH_DPT = 1 << 1;
const XT_HASHLIMIT_HASH_SIP = 1 << 2;
const XT_HASHLIMIT_HASH_SPT = 1 << 3;
const XT_HASHLIMIT_INVERT = 1 << 4;
const XT_HASHLIMIT_BYTES = 1 << 5;
const XT_HASHLIMIT_RATE_MATCH = 1 << 6;

/** The kernel's CONFIG_HZ these constants are for (limit.ts HZ). */
const HZ = 250;
/** log2 of CREDITS_PER_JIFFY_v1 (128) and CREDITS_PER_JIFFY (2^39) at HZ 250. */
export const CPJ_SHIFT_V1 = 7;
export const CPJ_SHIFT = 39;
/** CREDITS_PER_JIFFY_BYTES (2^24) and the byte bucket's cap, CREDITS_PER_JIFFY_BYTES * HZ. */
const CPJ_BYTES_SHIFT = 24;
export const BYTES_CAP = (1n << 24n) * BigInt(HZ);

const BPF_FUNC_spin_lock = 93;
const BPF_FUNC_spin_unlock = 94;
const BPF_FUNC_jiffies64 = 118;
const BPF_FUNC_dynptr_read = 201;

/** IP protocols whose ports proto_ports_offset finds at 0 (AH's SPI half at 4). */
const PORTS_AT_0 = [6, 17, 33, 50, 132, 136] as const;
const IPPROTO_AH = 51;

/** totalram_pages(): /proc/meminfo's MemTotal is it in kB. */
export function totalRamPages(): number {
  try {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Math.floor(Number(m[1]) / 4) : 0;
  } catch {
    return 0;
  }
}

/**
 * hashlimit_mt(): R7 = record, R9 = packet state, R6 = ctx. Stack: the key, now and the table
 * pointer in the scratch words, the new entry's value and the entry pointer below them (the
 * function's own frame).
 */
export function hashlimitCode(cg: EvalContext): Insn[] {
  const dynptrFromSkb = cg.kernel.funcId('bpf_dynptr_from_skb');
  const key = cg.scratch;
  const now = cg.scratch + 16;
  const tbl = cg.scratch + 24;
  const val = cg.scratch - ENT.BYTES;
  const ent = val - 8;
  const dynptr = val;
  const {
    noports,
    p0,
    p4,
    read,
    keyed,
    existing,
    room,
    inserted,
    normal,
    bytes,
    bcap,
    bstore,
    pstore,
    rm,
    rmstore,
    cost,
    bcost,
    bc1,
    bc2,
    pay,
    rmcost,
    rmlen,
    rmadd,
    under,
    over,
    done,
    sip,
    nosip,
    dip,
    nodip,
    ports,
    nospt,
  } = labelsFor((h) => cg.label(h), 'hl', [
    'noports',
    'p0',
    'p4',
    'read',
    'keyed',
    'existing',
    'room',
    'inserted',
    'normal',
    'bytes',
    'bcap',
    'bstore',
    'pstore',
    'rm',
    'rmstore',
    'cost',
    'bcost',
    'bc1',
    'bc2',
    'pay',
    'rmcost',
    'rmlen',
    'rmadd',
    'under',
    'over',
    'done',
    'sip',
    'nosip',
    'dip',
    'nodip',
    'ports',
    'nospt',
  ] as const);
  const lookup = (map: string, miss: string): Insn[] => [
    ...lookupAt(map, key),
    JEq.imm(R0, 0, miss),
  ];
  const giveBack: Insn[] = [Mov.imm(R1, -1), AtomicAdd(R8, TBL.COUNT, R1, Size.W)];
  return [
    Call.helper(BPF_FUNC_jiffies64),
    StoreMem(FP, now, R0, Size.DW),
    LoadMem(R1, RECORD, REC.SLOT, Size.W),
    StoreMem(FP, key + KEY.SLOT, R1, Size.W),
    ...lookup(HASHLIMIT_TABLES, cg.hotdrop),
    Mov.reg(R8, R0),
    StoreMem(FP, tbl, R0, Size.DW),
    // hashlimit_init_dst: what the table's mode hashes, masked; the rest zero.
    StoreImm(FP, key + KEY.SRC, 0, Size.W),
    StoreImm(FP, key + KEY.DST, 0, Size.DW),
    LoadMem(R2, R8, TBL.MODE, Size.W),
    JSet.imm(R2, XT_HASHLIMIT_HASH_SIP, sip),
    Ja(nosip),
    withLabel(LoadMem(R3, STATE, S.IP + 12, Size.W), sip),
    LoadMem(R4, R8, TBL.SRCMASK, Size.W),
    And.reg(R3, R4),
    StoreMem(FP, key + KEY.SRC, R3, Size.W),
    withLabel(JSet.imm(R2, XT_HASHLIMIT_HASH_DIP, dip), nosip),
    Ja(nodip),
    withLabel(LoadMem(R3, STATE, S.IP + 16, Size.W), dip),
    LoadMem(R4, R8, TBL.DSTMASK, Size.W),
    And.reg(R3, R4),
    StoreMem(FP, key + KEY.DST, R3, Size.W),
    withLabel(JSet.imm(R2, XT_HASHLIMIT_HASH_SPT | XT_HASHLIMIT_HASH_DPT, ports), nodip),
    Ja(keyed),
    // Ports at thoff + proto_ports_offset, read from the packet whatever its fragment offset
    // (the kernel does the same); none there is a hotdrop.
    withLabel(LoadMem(R1, STATE, S.IP + 9, Size.B), ports),
    ...PORTS_AT_0.map((p) => JEq.imm(R1, p, p0)),
    JEq.imm(R1, IPPROTO_AH, p4),
    Ja(noports),
    withLabel(Mov.imm(R1, 4), p4),
    Ja(read),
    withLabel(Mov.imm(R1, 0), p0),
    withLabel(StoreMem(FP, ent, R1, Size.DW), read),
    LoadMem(R1, CTX, cg.ctxLayout.skb, Size.DW),
    Mov.imm(R2, 0),
    Mov.reg(R3, FP),
    Add.imm(R3, dynptr),
    Call.kfunc(dynptrFromSkb),
    JNe.imm(R0, 0, cg.hotdrop),
    LoadMem(R4, FP, ent, Size.DW),
    LoadMem(R1, STATE, S.IHL, Size.W),
    Add.reg(R4, R1),
    Mov.reg(R1, FP),
    Add.imm(R1, key + KEY.SPORT),
    Mov.imm(R2, 4),
    Mov.reg(R3, FP),
    Add.imm(R3, dynptr),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
    JNe.imm(R0, 0, cg.hotdrop),
    LoadMem(R2, R8, TBL.MODE, Size.W),
    JSet.imm(R2, XT_HASHLIMIT_HASH_SPT, nospt),
    StoreImm(FP, key + KEY.SPORT, 0, Size.H),
    withLabel(JSet.imm(R2, XT_HASHLIMIT_HASH_DPT, keyed), nospt),
    StoreImm(FP, key + KEY.DPORT, 0, Size.H),
    Ja(keyed),
    withLabel(StoreImm(FP, key + KEY.SPORT, 0, Size.W), noports),
    withLabel(Nop(), keyed),
    // dsthash_find, else dsthash_alloc_init: count against max, insert, or lose the race.
    ...lookupAt(HASHLIMIT_ENTRIES, key),
    JNe.imm(R0, 0, existing),
    Mov.imm(R1, 1),
    AtomicAdd(R8, TBL.COUNT, R1, Size.W, true),
    LoadMem(R2, R8, TBL.MAX, Size.W),
    JLt.reg(R1, R2, room),
    ...giveBack,
    Ja(cg.hotdrop),
    withLabel(StoreImm(FP, val + ENT.LOCK, 0, Size.DW), room),
    LoadMem(R1, FP, now, Size.DW),
    StoreMem(FP, val + ENT.PREV, R1, Size.DW),
    LoadMem(R2, R8, TBL.EXPIRE, Size.DW),
    Add.reg(R2, R1),
    StoreMem(FP, val + ENT.EXPIRES, R2, Size.DW),
    // rateinfo_init for the rule's revision: the table keeps one bucket per revision.
    LoadMem(R3, RECORD, REC.INIT, Size.W),
    // Bounded for the verifier: the words stay clear of the value's lock.
    JGt.imm(R3, TBL.INIT + 64, cg.hotdrop),
    JLt.imm(R3, TBL.INIT, cg.hotdrop),
    Mov.reg(R4, R8),
    Add.reg(R4, R3),
    ...[ENT.A, ENT.B, ENT.C, ENT.D].flatMap((at, i) => [
      LoadMem(R5, R4, 8 * i, Size.DW),
      StoreMem(FP, val + at, R5, Size.DW),
    ]),
    ...updateAt(HASHLIMIT_ENTRIES, key, val, BPF_NOEXIST),
    JEq.imm(R0, 0, inserted),
    StoreMem(FP, ent, R0, Size.DW),
    ...giveBack,
    LoadMem(R0, FP, ent, Size.DW),
    JNe.imm(R0, -EEXIST, cg.hotdrop),
    ...lookup(HASHLIMIT_ENTRIES, cg.hotdrop),
    Ja(existing),
    withLabel(Nop(), inserted),
    ...lookup(HASHLIMIT_ENTRIES, cg.hotdrop),
    StoreMem(FP, ent, R0, Size.DW),
    Mov.reg(R1, R0),
    Call.helper(BPF_FUNC_spin_lock),
    Ja(cost),
    // An entry it had: a new expiry, then rateinfo_recalc.
    withLabel(StoreMem(FP, ent, R0, Size.DW), existing),
    Mov.reg(R1, R0),
    Call.helper(BPF_FUNC_spin_lock),
    LoadMem(R1, FP, ent, Size.DW),
    LoadMem(R3, FP, now, Size.DW),
    LoadMem(R2, R8, TBL.EXPIRE, Size.DW),
    Add.reg(R2, R3),
    StoreMem(R1, ENT.EXPIRES, R2, Size.DW),
    LoadMem(R4, R1, ENT.PREV, Size.DW),
    Mov.reg(R5, R3),
    Sub.reg(R5, R4),
    JEq.imm(R5, 0, cost),
    LoadMem(R2, R8, TBL.MODE, Size.W),
    JSet.imm(R2, XT_HASHLIMIT_RATE_MATCH, rm),
    withLabel(StoreMem(R1, ENT.PREV, R3, Size.DW), normal),
    JSet.imm(R2, XT_HASHLIMIT_BYTES, bytes),
    // packets: credit += delta * CREDITS_PER_JIFFY(revision), at most credit_cap
    LoadMem(R0, RECORD, REC.CPJ_SHIFT, Size.W),
    Lsh.reg(R5, R0),
    LoadMem(R4, R1, ENT.A, Size.DW),
    Add.reg(R4, R5),
    LoadMem(R0, R1, ENT.B, Size.DW),
    JLe.reg(R4, R0, pstore),
    Mov.reg(R4, R0),
    withLabel(StoreMem(R1, ENT.A, R4, Size.DW), pstore),
    Ja(cost),
    // bytes: a wrapped credit and one above the cap both become the cap
    withLabel(LoadMem(R4, R1, ENT.A, Size.DW), bytes),
    Mov.reg(R0, R4),
    Lsh.imm(R5, CPJ_BYTES_SHIFT),
    Add.reg(R4, R5),
    LoadImm64(R5, BYTES_CAP),
    JGe.reg(R0, R4, bcap),
    JLe.reg(R4, R5, bstore),
    withLabel(Mov.reg(R4, R5), bcap),
    withLabel(StoreMem(R1, ENT.A, R4, Size.DW), bstore),
    Ja(cost),
    // rate match (revision 3): a window of `interval` seconds closes
    withLabel(LoadMem(R0, RECORD, REC.REVISION, Size.W), rm),
    JLt.imm(R0, 3, normal),
    // u32 interval * HZ: an unsigned int product, widened after
    LoadMem(R0, R1, ENT.A, Size.W),
    Mul.imm32(R0, HZ),
    JLt.reg(R5, R0, cost),
    StoreMem(R1, ENT.PREV, R3, Size.DW),
    LoadMem(R4, R1, ENT.B, Size.DW),
    Mul.reg(R4, R0),
    LoadMem(R2, R1, ENT.C, Size.DW),
    Mul.reg(R2, R5),
    Mov.imm(R0, 0),
    JLe.reg(R4, R2, rmstore),
    Mov.imm(R0, 1),
    withLabel(StoreMem(R1, ENT.A + 4, R0, Size.W), rmstore),
    StoreImm(R1, ENT.B, 0, Size.DW),
    // The cost, by the rule's own mode.
    withLabel(LoadMem(R1, FP, ent, Size.DW), cost),
    LoadMem(R2, RECORD, REC.MODE, Size.W),
    JSet.imm(R2, XT_HASHLIMIT_RATE_MATCH, rmcost),
    JSet.imm(R2, XT_HASHLIMIT_BYTES, bcost),
    LoadMem(R3, R1, ENT.C, Size.DW),
    Ja(pay),
    // hashlimit_byte_cost: chunks of 16 bytes times the cost, at most the cap; an empty bucket
    // with refills left is refilled.
    withLabel(LoadMem(R3, STATE, S.SKBLEN, Size.W), bcost),
    Rsh.imm(R3, 4),
    Add.imm(R3, 1),
    LoadMem(R4, R1, ENT.C, Size.DW),
    Mul.reg(R3, R4),
    LoadImm64(R5, BYTES_CAP),
    JLe.reg(R3, R5, bc1),
    Mov.reg(R3, R5),
    withLabel(LoadMem(R4, R1, ENT.A, Size.DW), bc1),
    JGe.reg(R4, R3, bc2),
    LoadMem(R0, R1, ENT.B, Size.DW),
    JEq.imm(R0, 0, bc2),
    Sub.imm(R0, 1),
    StoreMem(R1, ENT.B, R0, Size.DW),
    StoreMem(R1, ENT.A, R5, Size.DW),
    withLabel(Lsh.imm(R3, 32), bc2),
    Rsh.imm(R3, 32),
    withLabel(LoadMem(R4, R1, ENT.A, Size.DW), pay),
    JLt.reg(R4, R3, over),
    Sub.reg(R4, R3),
    StoreMem(R1, ENT.A, R4, Size.DW),
    Ja(under),
    withLabel(Mov.imm(R3, 1), rmcost),
    JSet.imm(R2, XT_HASHLIMIT_BYTES, rmlen),
    Ja(rmadd),
    withLabel(LoadMem(R3, STATE, S.SKBLEN, Size.W), rmlen),
    withLabel(LoadMem(R4, R1, ENT.B, Size.DW), rmadd),
    Add.reg(R4, R3),
    StoreMem(R1, ENT.B, R4, Size.DW),
    LoadMem(R0, R1, ENT.A + 4, Size.W),
    JNe.imm(R0, 0, over),
    LoadMem(R5, R1, ENT.D, Size.DW),
    JGt.reg(R4, R5, over),
    withLabel(Call.helper(BPF_FUNC_spin_unlock), under),
    LoadMem(R2, RECORD, REC.MODE, Size.W),
    JSet.imm(R2, XT_HASHLIMIT_INVERT, cg.noMatch),
    Ja(done),
    withLabel(Call.helper(BPF_FUNC_spin_unlock), over),
    LoadMem(R2, RECORD, REC.MODE, Size.W),
    JSet.imm(R2, XT_HASHLIMIT_INVERT, done),
    Ja(cg.noMatch),
    withLabel(Nop(), done),
  ];
}
