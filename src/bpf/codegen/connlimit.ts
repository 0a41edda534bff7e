// -m connlimit in BPF. The kernel keeps, per rule, a tree of lists (nf_conncount): per masked
// address and zone the conntrack tuples it has counted, each checked against the conntrack
// table when the list is next used, and dropped once its connection is gone or TCP-closed. A
// netfilter program cannot look up conntrack by tuple (the ct kfuncs are XDP/TC only), so here:
//   - `cl_counts`: per (rule epoch, masked address, zone) the number of tuples counted;
//   - `cl_conns`:  per (rule epoch, masked address, zone, tuple) the conntrack entry that tuple
//     belonged to when last seen, and when it was added;
// and the helper's sweep (bpf/connlimit-gc.ts) reads each counted entry's struct nf_conn with
// bpf_probe_read_kernel, as find_or_evict asks conntrack: a tuple whose entry is freed, reused
// for another tuple, dying, expired, unconfirmed two jiffies after it was added, or TCP in
// TIME_WAIT/CLOSE stops counting. The kernel drops such tuples when the list is next counted;
// here within one sweep period (docs/translator.md says what that changes).
//
// What is counted, as 6.18's nf_conncount_count_skb does: a packet whose connection is
// confirmed adds nothing to a list that exists (the connection was counted by its first packet,
// or never is); a list that does not exist yet starts with the packet's connection; other
// packets add their tuple unless the list holds it. Every rule has its own lists, fresh for each
// ruleset (checkentry allocates them): the rule's epoch, unique per ruleset, keys them.
import {
  Add,
  AtomicAdd,
  AtomicCmpXchg,
  Call,
  FP,
  Ja,
  JEq,
  JGt,
  JLt,
  JNe,
  JSet,
  JSLe,
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
  StoreImm,
  StoreMem,
  And,
  Sub,
  withLabel,
  type Insn,
  type Reg,
} from '../asm/index.js';
import type { Btf } from '../vmlinux.js';
import { RECORD, Unsupported, type EvalContext } from './eval.js';
import { BPF_ANY, BPF_NOEXIST, deleteAt, EEXIST, labelsFor, lookupAt, updateAt } from './maps.js';
import { S, STATE } from './state.js';

export const CONNLIMIT_CONNS = 'cl_conns';
export const CONNLIMIT_COUNTS = 'cl_counts';
/** Counted tuples of all rules of a namespace (the conntrack table's default size). */
export const CONNS_CAPACITY = 1 << 18;
export const COUNTS_CAPACITY = 1 << 16;

/**
 * The rule's record: its epoch, the mask (as it lies in the packet), limit and flags, and zero
 * bytes a new list's value is copied from.
 */
export const REC = { EPOCH: 0, MASK: 8, LIMIT: 12, FLAGS: 16, EMPTY: 24 } as const;
/** cl_counts key (the first 16 bytes of a cl_conns key). */
export const CKEY = { EPOCH: 0, ADDR: 8, ZONE: 12, BYTES: 16 } as const;
/** The tuple nf_ct_tuple_equal compares (IPv4), as keys and pending slots hold it. */
export const TUPLE = { SRC: 0, DST: 4, SPORT: 8, DPORT: 10, PROTO: 12, BYTES: 16 } as const;
/**
 * A tuple counted while its connection was not confirmed: checked against conntrack the next
 * time its list is counted, as the kernel's scan does (a dropped SYN's tuple goes then).
 */
export const PEND = { FLAG: 0, CPU: 4, CT: 8, ADDED: 16, TUPLE: 24, BYTES: 40 } as const;
export const PENDING = 4;
/** cl_counts value: the count, when last used, the pending slots. */
export const CVAL = { COUNT: 0, USED: 4, PEND: 8, BYTES: 8 + PENDING * PEND.BYTES } as const;
export const REC_BYTES = REC.EMPTY + CVAL.BYTES;
/** cl_conns key: the list's key, then the tuple. */
export const TKEY = {
  TUPLE: 16,
  SRC: 16 + TUPLE.SRC,
  DST: 16 + TUPLE.DST,
  SPORT: 16 + TUPLE.SPORT,
  DPORT: 16 + TUPLE.DPORT,
  PROTO: 16 + TUPLE.PROTO,
  BYTES: 32,
} as const;
/** cl_conns value: the conntrack entry's address (0: none) and the jiffies it was added. */
export const TVAL = { CT: 0, ADDED: 8, BYTES: 16 } as const;

const XT_CONNLIMIT_INVERT = 1 << 0;
const XT_CONNLIMIT_DADDR = 1 << 1;
/** enum ip_conntrack_status */
export const IPS_CONFIRMED = 1 << 3;
export const IPS_DYING = 1 << 9;
/** enum tcp_conntrack */
export const TCP_CONNTRACK_TIME_WAIT = 7;
export const TCP_CONNTRACK_CLOSE = 8;

const BPF_FUNC_get_smp_processor_id = 8;
const BPF_FUNC_probe_read_kernel = 113;
const BPF_FUNC_jiffies64 = 118;

/** IP protocols whose tuple takes the first two 16-bit words of L4 (nf_ct_get_tuple_ports). */
const PORTS = [6, 17, 33, 132, 136] as const;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;

/** Where the sweep and the match read struct nf_conn, on the running kernel. */
export interface ConnLayout {
  /** struct nf_conntrack_tuple of the original direction, and its size. */
  readonly tuple: number;
  readonly tupleBytes: number;
  /** Offsets inside that tuple. */
  readonly src: number;
  readonly sport: number;
  readonly dst: number;
  readonly dport: number;
  readonly proto: number;
  readonly status: number;
  readonly timeout: number;
  readonly use: number;
  readonly tcpState: number;
  /** zone.id, when the kernel has conntrack zones. */
  readonly zone: number | undefined;
}

export function connLayout(btf: Btf): ConnLayout {
  const tuple = btf.offsetOf('nf_conn', 'tuplehash[0].tuple');
  const at = (path: string): number =>
    btf.offsetOf('nf_conn', `tuplehash[0].tuple.${path}`) - tuple;
  let zone: number | undefined;
  try {
    zone = btf.offsetOf('nf_conn', 'zone.id');
  } catch {
    zone = undefined;
  }
  return {
    tuple,
    tupleBytes: btf.offsetOf('nf_conn', 'tuplehash[1]') - tuple,
    src: at('src.u3'),
    sport: at('src.u'),
    dst: at('dst.u3'),
    dport: at('dst.u'),
    proto: at('dst.protonum'),
    status: btf.offsetOf('nf_conn', 'status'),
    timeout: btf.offsetOf('nf_conn', 'timeout'),
    use: btf.offsetOf('nf_conn', 'ct_general.use'),
    tcpState: btf.offsetOf('nf_conn', 'proto.tcp.state'),
    zone,
  };
}

/**
 * find_or_evict's question for one counted tuple: the conntrack entry at FP + `ctAt`, is it the
 * confirmed, live, unexpired entry of the tuple at `tuple` (register, offset; TUPLE layout)?
 * Falls through when it is and is open; jumps to `closed` for TCP TIME_WAIT/CLOSE, to
 * `notFound` otherwise. `now` is an FP slot with jiffies, `buf` 48 bytes, `word` 8.
 */
export function findConn(
  l: ConnLayout,
  p: {
    readonly ctAt: number;
    readonly tuple: readonly [Reg, number];
    readonly now: number;
    readonly buf: number;
    readonly word: number;
    readonly notFound: string;
    readonly closed: string;
    readonly label: (hint: string) => string;
  },
): Insn[] {
  const [base, off] = p.tuple;
  const read = (to: number, len: number, at: number): Insn[] => [
    ...probe(to, len, p.ctAt, at),
    JNe.imm(R0, 0, p.notFound),
  ];
  const same = (field: number, bufAt: number, size: Size): Insn[] => [
    LoadMem(R1, base, off + field, size),
    LoadMem(R2, FP, p.buf + bufAt, size),
    JNe.reg(R1, R2, p.notFound),
  ];
  const open = p.label('cl_open');
  const alive = p.label('cl_alive');
  return [
    LoadMem(R1, FP, p.ctAt, Size.DW),
    JEq.imm(R1, 0, p.notFound),
    ...read(p.word, 4, l.use),
    LoadMem(R1, FP, p.word, Size.W),
    JEq.imm(R1, 0, p.notFound),
    ...read(p.buf, l.tupleBytes, l.tuple),
    ...same(TUPLE.SRC, l.src, Size.W),
    ...same(TUPLE.DST, l.dst, Size.W),
    ...same(TUPLE.SPORT, l.sport, Size.H),
    ...same(TUPLE.DPORT, l.dport, Size.H),
    ...same(TUPLE.PROTO, l.proto, Size.B),
    ...read(p.word, 8, l.status),
    LoadMem(R1, FP, p.word, Size.DW),
    JSet.imm(R1, IPS_DYING, p.notFound),
    JSet.imm(R1, IPS_CONFIRMED, open),
    Ja(p.notFound),
    // nf_ct_is_expired: (s32)(timeout - (u32)jiffies) <= 0
    withLabel(Nop(), open),
    ...read(p.word, 4, l.timeout),
    LoadMem(R1, FP, p.word, Size.W),
    LoadMem(R2, FP, p.now, Size.DW),
    Sub.reg32(R1, R2),
    JSLe.imm32(R1, 0, p.notFound),
    LoadMem(R1, base, off + TUPLE.PROTO, Size.B),
    JNe.imm(R1, IPPROTO_TCP, alive),
    ...read(p.word, 1, l.tcpState),
    LoadMem(R1, FP, p.word, Size.B),
    JEq.imm(R1, TCP_CONNTRACK_TIME_WAIT, p.closed),
    JEq.imm(R1, TCP_CONNTRACK_CLOSE, p.closed),
    withLabel(Nop(), alive),
  ];
}

/** bpf_probe_read_kernel(FP + to, len, *(FP + ptrAt) + off), clobbering R1-R5. */
function probe(to: number, len: number, ptrAt: number, off: number): Insn[] {
  return [
    Mov.reg(R1, FP),
    Add.imm(R1, to),
    Mov.imm(R2, len),
    LoadMem(R3, FP, ptrAt, Size.DW),
    Add.imm(R3, off),
    Call.helper(BPF_FUNC_probe_read_kernel),
  ];
}

/** Copies 16 bytes from (src, at) to (dst, to) through R1. */
function copy16(dst: Reg, to: number, src: Reg, at: number): Insn[] {
  return [
    LoadMem(R1, src, at, Size.DW),
    StoreMem(dst, to, R1, Size.DW),
    LoadMem(R1, src, at + 8, Size.DW),
    StoreMem(dst, to + 8, R1, Size.DW),
  ];
}

/**
 * connlimit_mt: R7 = record, R9 = packet state; R8 holds the list's count value once found.
 * Stack: the list key, now and the entry address in the scratch words; the tuple key, a read
 * buffer and scratch below them (the function's own frame).
 */
export function connlimitCode(cg: EvalContext): Insn[] {
  const l = connLayout(cg.kernel);
  if (l.tupleBytes > 48) {
    throw new Unsupported('match "connlimit": struct nf_conntrack_tuple too big');
  }
  const ckey = cg.scratch;
  const now = cg.scratch + 16;
  const ctp = cg.scratch + 24;
  const tkey = cg.scratch - TKEY.BYTES;
  const buf = tkey - 48;
  const tval = buf - TVAL.BYTES;
  const word = tval - 8;
  const pct = word - 8;
  const L = (h: string): string => cg.label(`cl_${h}`);
  const {
    daddr,
    masked,
    noct,
    keyed,
    ports,
    icmp,
    l4done,
    haveCount,
    add,
    insert,
    added,
    count,
    above,
    done,
    fresh,
    counted,
    remember,
  } = labelsFor(L, 'm', [
    'daddr',
    'masked',
    'noct',
    'keyed',
    'ports',
    'icmp',
    'l4done',
    'haveCount',
    'add',
    'insert',
    'added',
    'count',
    'above',
    'done',
    'fresh',
    'counted',
    'remember',
  ] as const);
  const tupleValue: Insn[] = [
    LoadMem(R1, FP, ctp, Size.DW),
    StoreMem(FP, tval + TVAL.CT, R1, Size.DW),
    LoadMem(R1, FP, now, Size.DW),
    StoreMem(FP, tval + TVAL.ADDED, R1, Size.DW),
  ];
  /** The list's pending slot `i`: still unconfirmed, gone (evict), or confirmed (forget). */
  const checkPending = (i: number): Insn[] => {
    const at = CVAL.PEND + i * PEND.BYTES;
    const [next, notFound, evict, forget] = [
      L(`p${i}_next`),
      L(`p${i}_nf`),
      L(`p${i}_evict`),
      L(`p${i}_forget`),
    ];
    return [
      LoadMem(R1, R8, at + PEND.FLAG, Size.W),
      JEq.imm(R1, 0, next),
      LoadMem(R1, R8, at + PEND.CT, Size.DW),
      StoreMem(FP, pct, R1, Size.DW),
      ...findConn(l, {
        ctAt: pct,
        tuple: [R8, at + PEND.TUPLE],
        now,
        buf,
        word,
        notFound,
        closed: evict,
        label: L,
      }),
      Ja(forget),
      // not found: evicted if this CPU added it or it is two jiffies old (find_or_evict)
      withLabel(Call.helper(BPF_FUNC_get_smp_processor_id), notFound),
      LoadMem(R1, R8, at + PEND.CPU, Size.W),
      JEq.reg(R0, R1, evict),
      LoadMem(R1, FP, now, Size.DW),
      LoadMem(R2, R8, at + PEND.ADDED, Size.DW),
      Sub.reg(R1, R2),
      JLt.imm(R1, 2, next),
      // (its key goes to the read buffer: tkey is this packet's)
      withLabel(Nop(), evict),
      ...copy16(FP, buf, FP, ckey),
      ...copy16(FP, buf + TKEY.TUPLE, R8, at + PEND.TUPLE),
      ...deleteAt(CONNLIMIT_CONNS, buf),
      JNe.imm(R0, 0, forget),
      Mov.imm(R1, -1),
      AtomicAdd(R8, CVAL.COUNT, R1, Size.W),
      withLabel(StoreImm(R8, at + PEND.FLAG, 0, Size.W), forget),
      withLabel(Nop(), next),
    ];
  };
  /** Puts the packet's tuple in a free pending slot, if there is one. */
  const rememberPending = (): Insn[] => {
    const out: Insn[] = [];
    const full = L('pfull');
    for (let i = 0; i < PENDING; i++) {
      const at = CVAL.PEND + i * PEND.BYTES;
      const taken = L(`p${i}_taken`);
      out.push(
        Mov.imm(R0, 0),
        Mov.imm(R1, 1),
        AtomicCmpXchg(R8, at + PEND.FLAG, R1, Size.W),
        JNe.imm(R0, 0, taken),
        Call.helper(BPF_FUNC_get_smp_processor_id),
        StoreMem(R8, at + PEND.CPU, R0, Size.W),
        LoadMem(R1, FP, ctp, Size.DW),
        StoreMem(R8, at + PEND.CT, R1, Size.DW),
        LoadMem(R1, FP, now, Size.DW),
        StoreMem(R8, at + PEND.ADDED, R1, Size.DW),
        ...copy16(R8, at + PEND.TUPLE, FP, tkey + TKEY.TUPLE),
        Ja(full),
        withLabel(Nop(), taken),
      );
    }
    return [...out, withLabel(Nop(), full)];
  };
  return [
    LoadMem(R1, RECORD, REC.EPOCH, Size.DW),
    StoreMem(FP, ckey + CKEY.EPOCH, R1, Size.DW),
    LoadMem(R1, RECORD, REC.FLAGS, Size.W),
    JSet.imm(R1, XT_CONNLIMIT_DADDR, daddr),
    LoadMem(R2, STATE, S.IP + 12, Size.W),
    Ja(masked),
    withLabel(LoadMem(R2, STATE, S.IP + 16, Size.W), daddr),
    withLabel(LoadMem(R3, RECORD, REC.MASK, Size.W), masked),
    And.reg(R2, R3),
    StoreMem(FP, ckey + CKEY.ADDR, R2, Size.W),
    StoreImm(FP, ckey + CKEY.ZONE, 0, Size.W),
    StoreImm(FP, tkey + TKEY.SRC, 0, Size.DW),
    StoreImm(FP, tkey + TKEY.SPORT, 0, Size.DW),
    LoadMem(R1, STATE, S.CT, Size.DW),
    StoreMem(FP, ctp, R1, Size.DW),
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JEq.imm(R1, 0, noct),
    // The entry's original tuple and zone.
    ...(l.zone === undefined ? [] : probe(ckey + CKEY.ZONE, 2, ctp, l.zone)),
    ...probe(buf, l.tupleBytes, ctp, l.tuple),
    JNe.imm(R0, 0, cg.hotdrop),
    LoadMem(R1, FP, buf + l.src, Size.W),
    StoreMem(FP, tkey + TKEY.SRC, R1, Size.W),
    LoadMem(R1, FP, buf + l.dst, Size.W),
    StoreMem(FP, tkey + TKEY.DST, R1, Size.W),
    LoadMem(R1, FP, buf + l.sport, Size.H),
    StoreMem(FP, tkey + TKEY.SPORT, R1, Size.H),
    LoadMem(R1, FP, buf + l.dport, Size.H),
    StoreMem(FP, tkey + TKEY.DPORT, R1, Size.H),
    LoadMem(R1, FP, buf + l.proto, Size.B),
    StoreMem(FP, tkey + TKEY.PROTO, R1, Size.B),
    Ja(keyed),
    // No entry (untracked, invalid): nf_ct_get_tuplepr from the packet; a non-first fragment
    // or a cut-short L4 header has none, and the kernel hotdrops.
    withLabel(LoadMem(R1, STATE, S.FRAGOFF, Size.W), noct),
    JNe.imm(R1, 0, cg.hotdrop),
    LoadMem(R1, STATE, S.IP + 12, Size.W),
    StoreMem(FP, tkey + TKEY.SRC, R1, Size.W),
    LoadMem(R1, STATE, S.IP + 16, Size.W),
    StoreMem(FP, tkey + TKEY.DST, R1, Size.W),
    LoadMem(R1, STATE, S.IP + 9, Size.B),
    StoreMem(FP, tkey + TKEY.PROTO, R1, Size.B),
    LoadMem(R2, STATE, S.L4LEN, Size.W),
    ...PORTS.map((p) => JEq.imm(R1, p, ports)),
    JEq.imm(R1, IPPROTO_ICMP, icmp),
    Ja(l4done),
    withLabel(JLt.imm(R2, 4, cg.hotdrop), ports),
    LoadMem(R1, STATE, S.L4, Size.H),
    StoreMem(FP, tkey + TKEY.SPORT, R1, Size.H),
    LoadMem(R1, STATE, S.L4 + 2, Size.H),
    StoreMem(FP, tkey + TKEY.DPORT, R1, Size.H),
    Ja(l4done),
    // ICMP: src.u.icmp.id = the echo id, dst.u.icmp = { type, code }
    withLabel(JLt.imm(R2, 8, cg.hotdrop), icmp),
    LoadMem(R1, STATE, S.L4 + 4, Size.H),
    StoreMem(FP, tkey + TKEY.SPORT, R1, Size.H),
    LoadMem(R1, STATE, S.L4, Size.H),
    StoreMem(FP, tkey + TKEY.DPORT, R1, Size.H),
    withLabel(Nop(), l4done),
    withLabel(Nop(), keyed),
    ...copy16(FP, tkey, FP, ckey),
    Call.helper(BPF_FUNC_jiffies64),
    StoreMem(FP, now, R0, Size.DW),
    // The list; a new one starts with this packet's connection, whatever its state.
    ...lookupAt(CONNLIMIT_COUNTS, ckey),
    JNe.imm(R0, 0, haveCount),
    // (a new list's value is the record's zeroed bytes: too big for the stack)
    ...updateAt(CONNLIMIT_COUNTS, ckey, [RECORD, REC.EMPTY], BPF_NOEXIST),
    JEq.imm(R0, 0, fresh),
    JNe.imm(R0, -EEXIST, cg.hotdrop),
    withLabel(Nop(), fresh),
    ...lookupAt(CONNLIMIT_COUNTS, ckey),
    JEq.imm(R0, 0, cg.hotdrop),
    Mov.reg(R8, R0),
    LoadMem(R1, FP, now, Size.DW),
    StoreMem(R8, CVAL.USED, R1, Size.W),
    ...tupleValue,
    ...updateAt(CONNLIMIT_CONNS, tkey, tval, BPF_ANY),
    JEq.imm(R0, 0, added),
    Ja(cg.hotdrop),
    withLabel(Mov.reg(R8, R0), haveCount),
    LoadMem(R1, FP, now, Size.DW),
    StoreMem(R8, CVAL.USED, R1, Size.W),
    // The list's scan: tuples counted before their connection was confirmed.
    ...Array.from({ length: PENDING }, (_, i) => checkPending(i)).flat(),
    // A confirmed connection adds nothing to a list that exists.
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JEq.imm(R1, 0, add),
    ...probe(word, 8, ctp, l.status),
    JNe.imm(R0, 0, add),
    LoadMem(R1, FP, word, Size.DW),
    JSet.imm(R1, IPS_CONFIRMED, count),
    withLabel(Nop(), add),
    ...lookupAt(CONNLIMIT_CONNS, tkey),
    JEq.imm(R0, 0, insert),
    // A tuple the list holds: counted once, now for this entry.
    LoadMem(R1, FP, ctp, Size.DW),
    StoreMem(R0, TVAL.CT, R1, Size.DW),
    Ja(count),
    withLabel(Nop(), insert),
    ...tupleValue,
    ...updateAt(CONNLIMIT_CONNS, tkey, tval, BPF_NOEXIST),
    JEq.imm(R0, 0, remember),
    JEq.imm(R0, -EEXIST, count),
    Ja(cg.hotdrop),
    withLabel(Nop(), remember),
    ...rememberPending(),
    withLabel(Mov.imm(R2, 1), added),
    AtomicAdd(R8, CVAL.COUNT, R2, Size.W),
    // (connections > limit) ^ invert; no connection counted is the kernel's allocation failure
    withLabel(LoadMem(R2, R8, CVAL.COUNT, Size.W), count),
    withLabel(JEq.imm(R2, 0, cg.hotdrop), counted),
    LoadMem(R3, RECORD, REC.LIMIT, Size.W),
    LoadMem(R4, RECORD, REC.FLAGS, Size.W),
    JGt.reg(R2, R3, above),
    JSet.imm(R4, XT_CONNLIMIT_INVERT, done),
    Ja(cg.noMatch),
    withLabel(JSet.imm(R4, XT_CONNLIMIT_INVERT, cg.noMatch), above),
    withLabel(Nop(), done),
  ];
}
