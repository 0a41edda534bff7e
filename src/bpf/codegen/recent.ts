// -m recent's lists in BPF: one value per list (a named table of the namespace map, types.ts
// NetnsMap) holding the kernel's recent_table — ip_list_tot entries of address, ttl and a ring of
// jiffies stamps — under one bpf_spin_lock, as xt_recent keeps every list under recent_lock.
// The kernel finds an entry through a hash and keeps an LRU list; here the program scans the
// list's ip_list_tot slots under the lock (the entry's address, the least recently updated one
// by a sequence number, a free slot), which gives the same entry, the same evictee and the same
// reap victim. Loop-carried results live in the value's scratch words, not in registers, so the
// verifier checks one state per slot.
import { readFileSync } from 'node:fs';
import {
  Add,
  And,
  Call,
  FP,
  Ja,
  JEq,
  JGe,
  JLt,
  JNe,
  JSLt,
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
  R8,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  withLabel,
  Xor,
  type Insn,
} from '../asm/index.js';
import { CTX, RECORD, type EvalContext } from './eval.js';
import { S, STATE } from './state.js';

/** xt_recent's module parameters on this machine (the kernel's defaults when not loaded). */
function param(name: string, dflt: number): number {
  try {
    return Number(readFileSync(`/sys/module/xt_recent/parameters/${name}`, 'utf8').trim());
  } catch {
    return dflt;
  }
}

/** Entries a list remembers (ip_list_tot). */
export const IP_LIST_TOT = param('ip_list_tot', 100);
/** ip_pkt_list_tot: 0 unless set; then at least that many stamps per entry. */
export const IP_PKT_LIST_TOT = param('ip_pkt_list_tot', 0);
/** Stamps a slot has room for: lists needing more (--hitcount above it) are refused. */
export const STAMPS = 64;
/** Longest list the program scans (verification grows with it). */
export const MAX_LIST_TOT = 1024;

/** The list's header: lock, entries, LRU clock, address mask, stamp ring mask, name, scratch. */
export const HDR = {
  ENTRIES: 4,
  SEQ: 8,
  MASK: 16,
  NMASK: 20,
  NAME: 24,
  NAME_LEN: 200,
  FOUND: 224,
  FREE: 228,
  LRU: 232,
  HITS: 236,
  LRUSEQ: 240,
  /** What the scan looks for: kept in the value, so the verifier learns nothing from it. */
  KEY_ADDR: 248,
  KEY_TTL: 252,
  SIZE: 256,
} as const;

/** A slot: address (masked, as the packet's bytes), in use, ttl, ring index, stamps. */
export const SLOT = {
  ADDR: 0,
  USED: 4,
  TTL: 5,
  INDEX: 6,
  NSTAMPS: 8,
  SEQ: 16,
  STAMPS: 24,
  SIZE: 24 + 8 * STAMPS,
} as const;

export const LIST_TOT = Math.min(IP_LIST_TOT, MAX_LIST_TOT);
export const TABLE_SIZE = HDR.SIZE + LIST_TOT * SLOT.SIZE;

/** The record: the list's slot, the command bits, inversion, side, the --seconds window. */
export const REC = {
  SLOT: 0,
  CHECK_SET: 4,
  INVERT: 5,
  SIDE: 6,
  WINDOW: 8,
  SECONDS: 16,
  HITS: 20,
  SIZE: 24,
} as const;

export const RECENT_MAP = 'recent';

const XT_RECENT_CHECK = 1;
const XT_RECENT_SET = 2;
const XT_RECENT_UPDATE = 4;
const XT_RECENT_REMOVE = 8;
const XT_RECENT_TTL = 16;
const XT_RECENT_REAP = 32;
const XT_RECENT_DEST = 1;

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_jiffies64 = 118;
const BPF_FUNC_spin_lock = 93;
const BPF_FUNC_spin_unlock = 94;

/** R5 = the slot whose index is in `idx` (bounded first: → `bad`); clobbers R1. */
function slotOf(idx: typeof R4, bad: string): Insn[] {
  return [
    JGe.imm(idx, LIST_TOT, bad),
    Mov.reg(R1, idx),
    Mul.imm(R1, SLOT.SIZE),
    Mov.reg(R5, R8),
    Add.reg(R5, R1),
  ];
}

/** recent_mt (IPv4). */
export function recentCode(cg: EvalContext): Insn[] {
  const [key, now, addr, ttl, ret] = [
    cg.scratch,
    cg.scratch + 8,
    cg.scratch + 16,
    cg.scratch + 20,
    cg.scratch + 24,
  ];
  const L = (h: string): string => cg.label(`rc_${h}`);
  const [src, ttlDone, ttlInc, scan, used, noLru, next, freeSlot, found] = [
    L('src'),
    L('ttl'),
    L('inc'),
    L('scan'),
    L('used'),
    L('nolru'),
    L('next'),
    L('free'),
    L('found'),
  ];
  const [have, noEvict, out, setNot, update, remove, check, hits, hitLoop, hitNext] = [
    L('have'),
    L('noevict'),
    L('out'),
    L('setnot'),
    L('update'),
    L('remove'),
    L('check'),
    L('hits'),
    L('hitloop'),
    L('hitnext'),
  ];
  const [matched, reap, reapDone, noUpdate, grown] = [
    L('matched'),
    L('reap'),
    L('reapdone'),
    L('noupdate'),
    L('grown'),
  ];
  const [invStore, noTtl, inWindow, other, reapIt] = [
    L('inv'),
    L('nottl'),
    L('inwin'),
    L('other'),
    L('reapit'),
  ];
  const state = cg.ctxLayout.state;
  const skbOff = cg.ctxLayout.skb;
  const k = cg.kernel;
  const devOut = k.memberOffset('nf_hook_state', 'out');
  const stateNet = k.memberOffset('nf_hook_state', 'net');
  const skbSk = k.memberOffset('sk_buff', 'sk');
  const skNet = k.offsetOf('sock', '__sk_common.skc_net');
  const flip = (): Insn[] => [
    LoadMem(R0, FP, ret, Size.W),
    Xor.imm(R0, 1),
    StoreMem(FP, ret, R0, Size.W),
  ];
  const checkSet = (bits: number, none: string): Insn[] => [
    LoadMem(R0, RECORD, REC.CHECK_SET, Size.B),
    And.imm(R0, bits),
    JEq.imm(R0, 0, none),
  ];
  return [
    LoadMem(R1, RECORD, REC.SLOT, Size.W),
    StoreMem(FP, key, R1, Size.W),
    LoadMapPtr(R1, RECENT_MAP),
    Mov.reg(R2, FP),
    Add.imm(R2, key),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, cg.noMatch),
    Mov.reg(R8, R0),
    Call.helper(BPF_FUNC_jiffies64),
    StoreMem(FP, now, R0, Size.DW),
    // The address under the list's mask (the mask of the rule that created it).
    LoadMem(R2, STATE, S.IP + 12, Size.W),
    LoadMem(R1, RECORD, REC.SIDE, Size.B),
    JNe.imm(R1, XT_RECENT_DEST, src),
    LoadMem(R2, STATE, S.IP + 16, Size.W),
    withLabel(LoadMem(R3, R8, HDR.MASK, Size.W), src),
    And.reg(R2, R3),
    StoreMem(FP, addr, R2, Size.W),
    // "use TTL as seen before forwarding": out set and no socket of this namespace
    LoadMem(R1, STATE, S.IP + 8, Size.B),
    StoreMem(FP, ttl, R1, Size.W),
    LoadMem(R2, CTX, state, Size.DW),
    LoadMem(R3, R2, devOut, Size.DW),
    JEq.imm(R3, 0, ttlDone),
    LoadMem(R3, CTX, skbOff, Size.DW),
    LoadMem(R3, R3, skbSk, Size.DW),
    JEq.imm(R3, 0, ttlInc),
    LoadMem(R4, R3, skNet, Size.DW),
    LoadMem(R5, R2, stateNet, Size.DW),
    JEq.reg(R4, R5, ttlDone),
    withLabel(Add.imm(R1, 1), ttlInc),
    And.imm(R1, 0xff),
    StoreMem(FP, ttl, R1, Size.W),
    // ret = info->invert (a bool)
    withLabel(LoadMem(R0, RECORD, REC.INVERT, Size.B), ttlDone),
    Mov.imm(R1, 0),
    JEq.imm(R0, 0, invStore),
    Mov.imm(R1, 1),
    withLabel(StoreMem(FP, ret, R1, Size.W), invStore),
    Mov.reg(R1, R8),
    Call.helper(BPF_FUNC_spin_lock),
    // recent_entry_lookup, the LRU head and a free slot, in one pass
    StoreImm(R8, HDR.FOUND, -1, Size.W),
    StoreImm(R8, HDR.FREE, -1, Size.W),
    StoreImm(R8, HDR.LRU, -1, Size.W),
    StoreImm(R8, HDR.LRUSEQ, -1, Size.DW),
    LoadMem(R2, FP, addr, Size.W),
    StoreMem(R8, HDR.KEY_ADDR, R2, Size.W),
    Mov.imm(R3, 0),
    LoadMem(R0, RECORD, REC.CHECK_SET, Size.B),
    And.imm(R0, XT_RECENT_TTL),
    JEq.imm(R0, 0, noTtl),
    LoadMem(R3, FP, ttl, Size.W),
    withLabel(StoreMem(R8, HDR.KEY_TTL, R3, Size.W), noTtl),
    Mov.imm(R4, 0),
    Mov.reg(R5, R8),
    withLabel(LoadMem(R0, R5, HDR.SIZE + SLOT.USED, Size.B), scan),
    JEq.imm(R0, 0, freeSlot),
    withLabel(LoadMem(R0, R5, HDR.SIZE + SLOT.SEQ, Size.DW), used),
    LoadMem(R1, R8, HDR.LRUSEQ, Size.DW),
    JGe.reg(R0, R1, noLru),
    StoreMem(R8, HDR.LRUSEQ, R0, Size.DW),
    StoreMem(R8, HDR.LRU, R4, Size.W),
    withLabel(LoadMem(R0, R5, HDR.SIZE + SLOT.ADDR, Size.W), noLru),
    LoadMem(R2, R8, HDR.KEY_ADDR, Size.W),
    JNe.reg(R0, R2, next),
    LoadMem(R0, R8, HDR.FOUND, Size.W),
    JNe.imm32(R0, -1, next),
    LoadMem(R3, R8, HDR.KEY_TTL, Size.W),
    JEq.imm(R3, 0, found),
    LoadMem(R0, R5, HDR.SIZE + SLOT.TTL, Size.B),
    JEq.reg(R0, R3, found),
    JEq.imm(R0, 0, found),
    Ja(next),
    withLabel(StoreMem(R8, HDR.FOUND, R4, Size.W), found),
    Ja(next),
    withLabel(LoadMem(R0, R8, HDR.FREE, Size.W), freeSlot),
    JNe.imm32(R0, -1, next),
    StoreMem(R8, HDR.FREE, R4, Size.W),
    withLabel(Add.imm(R4, 1), next),
    Add.imm(R5, SLOT.SIZE),
    JLt.imm(R4, LIST_TOT, scan),
    LoadMem(R4, R8, HDR.FOUND, Size.W),
    JLt.imm(R4, LIST_TOT, have),
    // No entry: only --set makes one (recent_entry_init), evicting the LRU head when full.
    ...checkSet(XT_RECENT_SET, out),
    LoadMem(R0, R8, HDR.ENTRIES, Size.W),
    JLt.imm(R0, LIST_TOT, noEvict),
    LoadMem(R4, R8, HDR.LRU, Size.W),
    ...slotOf(R4, out),
    StoreImm(R5, HDR.SIZE + SLOT.USED, 0, Size.B),
    Sub.imm(R0, 1),
    StoreMem(R8, HDR.ENTRIES, R0, Size.W),
    StoreMem(R8, HDR.FREE, R4, Size.W),
    withLabel(LoadMem(R4, R8, HDR.FREE, Size.W), noEvict),
    ...slotOf(R4, out),
    LoadMem(R0, FP, addr, Size.W),
    StoreMem(R5, HDR.SIZE + SLOT.ADDR, R0, Size.W),
    StoreImm(R5, HDR.SIZE + SLOT.USED, 1, Size.B),
    LoadMem(R0, FP, ttl, Size.W),
    StoreMem(R5, HDR.SIZE + SLOT.TTL, R0, Size.B),
    StoreImm(R5, HDR.SIZE + SLOT.INDEX, 1, Size.H),
    StoreImm(R5, HDR.SIZE + SLOT.NSTAMPS, 1, Size.H),
    LoadMem(R0, FP, now, Size.DW),
    StoreMem(R5, HDR.SIZE + SLOT.STAMPS, R0, Size.DW),
    ...bumpSeq(),
    LoadMem(R0, R8, HDR.ENTRIES, Size.W),
    Add.imm(R0, 1),
    StoreMem(R8, HDR.ENTRIES, R0, Size.W),
    ...flip(),
    Ja(out),
    // An entry: --set holds; --remove removes it and holds; --rcheck/--update count its stamps.
    withLabel(Nop(), have),
    ...checkSet(XT_RECENT_SET, remove),
    ...flip(),
    Ja(update),
    withLabel(Nop(), remove),
    ...checkSet(XT_RECENT_REMOVE, check),
    ...slotOf(R4, out),
    ...removeEntry(),
    ...flip(),
    Ja(out),
    withLabel(Nop(), check),
    ...checkSet(XT_RECENT_CHECK | XT_RECENT_UPDATE, update),
    ...slotOf(R4, out),
    // time = jiffies - seconds * HZ (the product in u32, as the kernel's)
    LoadMem(R1, FP, now, Size.DW),
    LoadMem(R0, RECORD, REC.WINDOW, Size.DW),
    Sub.reg(R1, R0),
    StoreImm(R8, HDR.HITS, 0, Size.W),
    LoadMem(R0, R5, HDR.SIZE + SLOT.NSTAMPS, Size.H),
    Mov.imm(R3, 0),
    Mov.reg(R4, R5),
    withLabel(JGe.reg(R3, R0, hits), hitLoop),
    LoadMem(R2, RECORD, REC.SECONDS, Size.W),
    JEq.imm(R2, 0, inWindow),
    // time_after(time, stamp): (long)(stamp - time) < 0 → too old
    LoadMem(R2, R4, HDR.SIZE + SLOT.STAMPS, Size.DW),
    Sub.reg(R2, R1),
    JSLt.imm(R2, 0, hitNext),
    withLabel(LoadMem(R2, RECORD, REC.HITS, Size.W), inWindow),
    JEq.imm(R2, 0, matched),
    LoadMem(R5, R8, HDR.HITS, Size.W),
    Add.imm(R5, 1),
    StoreMem(R8, HDR.HITS, R5, Size.W),
    JGe.reg(R5, R2, matched),
    withLabel(Add.imm(R3, 1), hitNext),
    Add.imm(R4, 8),
    JLt.imm(R3, STAMPS, hitLoop),
    Ja(hits),
    withLabel(Nop(), matched),
    ...flip(),
    withLabel(Nop(), hits),
    ...checkSet(XT_RECENT_REAP, update),
    // recent_entry_reap: the LRU head goes when its last stamp is before `time`, unless it is
    // the entry about to be updated.
    withLabel(LoadMem(R4, R8, HDR.LRU, Size.W), reap),
    ...slotOf(R4, reapDone),
    LoadMem(R0, R8, HDR.FOUND, Size.W),
    JNe.reg(R0, R4, other),
    LoadMem(R0, RECORD, REC.CHECK_SET, Size.B),
    And.imm(R0, XT_RECENT_UPDATE),
    JEq.imm(R0, 0, other),
    LoadMem(R0, FP, ret, Size.W),
    JNe.imm(R0, 0, reapDone),
    withLabel(LoadMem(R0, R5, HDR.SIZE + SLOT.INDEX, Size.H), other),
    Sub.imm(R0, 1),
    And.imm(R0, STAMPS - 1),
    Mul.imm(R0, 8),
    Mov.reg(R3, R5),
    Add.reg(R3, R0),
    LoadMem(R2, R3, HDR.SIZE + SLOT.STAMPS, Size.DW),
    LoadMem(R1, FP, now, Size.DW),
    LoadMem(R0, RECORD, REC.WINDOW, Size.DW),
    Sub.reg(R1, R0),
    Sub.reg(R2, R1),
    JSLt.imm(R2, 0, reapIt),
    Ja(reapDone),
    withLabel(Nop(), reapIt),
    ...removeEntry(),
    withLabel(Nop(), reapDone),
    // recent_entry_update on --set, or on --update that holds
    withLabel(LoadMem(R0, RECORD, REC.CHECK_SET, Size.B), update),
    Mov.reg(R1, R0),
    And.imm(R1, XT_RECENT_SET),
    JNe.imm(R1, 0, setNot),
    And.imm(R0, XT_RECENT_UPDATE),
    JEq.imm(R0, 0, out),
    LoadMem(R0, FP, ret, Size.W),
    JEq.imm(R0, 0, out),
    withLabel(LoadMem(R4, R8, HDR.FOUND, Size.W), setNot),
    ...slotOf(R4, out),
    LoadMem(R1, R5, HDR.SIZE + SLOT.USED, Size.B),
    JEq.imm(R1, 0, noUpdate),
    LoadMem(R1, R5, HDR.SIZE + SLOT.INDEX, Size.H),
    LoadMem(R2, R8, HDR.NMASK, Size.W),
    And.reg(R1, R2),
    And.imm(R1, STAMPS - 1),
    Mov.reg(R3, R1),
    Mul.imm(R3, 8),
    Mov.reg(R2, R5),
    Add.reg(R2, R3),
    LoadMem(R0, FP, now, Size.DW),
    StoreMem(R2, HDR.SIZE + SLOT.STAMPS, R0, Size.DW),
    Add.imm(R1, 1),
    StoreMem(R5, HDR.SIZE + SLOT.INDEX, R1, Size.H),
    LoadMem(R2, R5, HDR.SIZE + SLOT.NSTAMPS, Size.H),
    JGe.reg(R2, R1, grown),
    StoreMem(R5, HDR.SIZE + SLOT.NSTAMPS, R1, Size.H),
    withLabel(LoadMem(R0, FP, ttl, Size.W), grown),
    StoreMem(R5, HDR.SIZE + SLOT.TTL, R0, Size.B),
    ...bumpSeq(),
    withLabel(Nop(), noUpdate),
    withLabel(Mov.reg(R1, R8), out),
    Call.helper(BPF_FUNC_spin_unlock),
    LoadMem(R0, FP, ret, Size.W),
    JEq.imm(R0, 0, cg.noMatch),
  ];
}

/** recent_entry_remove of the slot in R5. */
function removeEntry(): Insn[] {
  return [
    StoreImm(R5, HDR.SIZE + SLOT.USED, 0, Size.B),
    LoadMem(R0, R8, HDR.ENTRIES, Size.W),
    Sub.imm(R0, 1),
    StoreMem(R8, HDR.ENTRIES, R0, Size.W),
  ];
}

/** The slot in R5 becomes the most recently updated: SEQ = ++table.SEQ. */
function bumpSeq(): Insn[] {
  return [
    LoadMem(R0, R8, HDR.SEQ, Size.DW),
    Add.imm(R0, 1),
    StoreMem(R8, HDR.SEQ, R0, Size.DW),
    StoreMem(R5, HDR.SIZE + SLOT.SEQ, R0, Size.DW),
  ];
}
