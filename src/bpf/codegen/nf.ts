// The netfilter hook flavor: BPF_PROG_TYPE_NETFILTER, ctx = struct bpf_nf_ctx { state; skb }.
// Its prologue fills the packet state (state.ts) from the skb and the hook state; its verdicts
// are NF_DROP (0) and NF_ACCEPT (1). Another flavor (TC, XDP) supplies its own prologue filling
// the same state and its own verdict mapping; match code does not change.
import {
  And,
  Call,
  FP,
  Ja,
  JEq,
  JGe,
  JGt,
  JLe,
  JLt,
  JNe,
  JSLe,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R6,
  R7,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  Add,
  Lsh,
  LoadMapPtr,
  LoadMapValue,
  AtomicAdd,
  R8,
  Or,
  Rsh,
  ToBe,
  withLabel,
  type Insn,
  type Reg,
} from '../asm/index.js';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { vmlinuxBtf, type Btf } from '../vmlinux.js';
import { linkCreateNetfilter } from '../syscall.js';
import { NF_INET_LOCAL_OUT, NFPROTO_IPV4 } from '../../translate/abi.js';
import type { HookFlavor, PrologueOptions } from './flavor.js';
import { S, STATE } from './state.js';
import { MAIN_FRAME } from './flavor.js';
import { RECORD, type EvalEventOptions } from './eval.js';
import { ctLayout, ctLayoutEnd } from './ct.js';
import {
  BUDGET,
  BUDGET_MAP,
  CAPTURE,
  EV,
  EVENTS_MAP,
  INFO_MAX,
  MAC_MAX,
  NO_INPUT,
  REPLIES_MAP,
  REPLY,
  REPLY_NO_CTINFO,
  CT_IMAGE,
  EVF_CT,
  EVF_ICMP_SOCKET,
  EVF_UID,
  EventKind,
} from './event.js';

/** What the prologue needs from the running kernel (vmlinux BTF). */
export interface NfKernelFacts {
  readonly dynptrFromSkb: number;
  /**
   * bpf_rdonly_cast's id when the kernel casts to `void *` (BPF_FEAT_RDONLY_CAST_TO_VOID, 6.17):
   * the prologue then reads a linear skb's headers with plain loads.
   */
  readonly rdonlyCast?: number;
  readonly skbData: number;
  readonly skbDataLen: number;
  readonly ctxState: number;
  readonly ctxSkb: number;
  readonly stateHook: number;
  readonly stateIn: number;
  readonly stateOut: number;
  readonly devName: number;
  readonly skbLen: number;
  readonly skbMark: number;
  readonly skbNfct: number;
  readonly skbHead: number;
  readonly skbMacHeader: number;
  readonly skbNetworkHeader: number;
  /** Bit offset of the 2-bit sk_buff.ip_summed. */
  readonly skbIpSummedBit: number;
  readonly skbPktTypeBit: number;
  readonly devIfindex: number;
  readonly devType: number;
  readonly devHardHeaderLen: number;
  readonly skbSk: number;
  readonly skCookie: number;
  readonly skState: number;
  readonly skSocket: number;
  readonly socketFile: number;
  readonly fileCred: number;
  readonly credFsuid: number;
  readonly credFsgid: number;
  /** Bit offset of sock.sk_kern_sock: a socket the kernel made for itself. */
  readonly skKernSockBit: number;
  readonly skProtocol: number;
  readonly skType: number;
}

/** CONFIG_HZ from /proc/config.gz, when the kernel exposes its config. */
export function kernelHz(): number | undefined {
  try {
    const config = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
    const m = /^CONFIG_HZ=(\d+)$/m.exec(config);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function castsToVoid(btf: Btf): boolean {
  try {
    btf.enumValue('BPF_FEAT_RDONLY_CAST_TO_VOID');
    return true;
  } catch {
    return false;
  }
}

export function nfKernelFacts(): NfKernelFacts {
  const btf = vmlinuxBtf();
  return {
    dynptrFromSkb: btf.funcId('bpf_dynptr_from_skb'),
    ...(castsToVoid(btf) ? { rdonlyCast: btf.funcId('bpf_rdonly_cast') } : {}),
    skbData: btf.memberOffset('sk_buff', 'data'),
    skbDataLen: btf.memberOffset('sk_buff', 'data_len'),
    ctxState: btf.memberOffset('bpf_nf_ctx', 'state'),
    ctxSkb: btf.memberOffset('bpf_nf_ctx', 'skb'),
    stateHook: btf.memberOffset('nf_hook_state', 'hook'),
    stateIn: btf.memberOffset('nf_hook_state', 'in'),
    stateOut: btf.memberOffset('nf_hook_state', 'out'),
    devName: btf.memberOffset('net_device', 'name'),
    skbLen: btf.memberOffset('sk_buff', 'len'),
    skbMark: btf.memberOffset('sk_buff', 'mark'),
    skbNfct: btf.memberOffset('sk_buff', '_nfct'),
    skbHead: btf.memberOffset('sk_buff', 'head'),
    skbMacHeader: btf.memberOffset('sk_buff', 'mac_header'),
    skbNetworkHeader: btf.memberOffset('sk_buff', 'network_header'),
    skbIpSummedBit: btf.memberBitOffset('sk_buff', 'ip_summed'),
    skbPktTypeBit: btf.memberBitOffset('sk_buff', 'pkt_type'),
    devIfindex: btf.memberOffset('net_device', 'ifindex'),
    devType: btf.memberOffset('net_device', 'type'),
    devHardHeaderLen: btf.memberOffset('net_device', 'hard_header_len'),
    skbSk: btf.memberOffset('sk_buff', 'sk'),
    skCookie: btf.offsetOf('sock', '__sk_common.skc_cookie'),
    skState: btf.offsetOf('sock', '__sk_common.skc_state'),
    skSocket: btf.memberOffset('sock', 'sk_socket'),
    socketFile: btf.memberOffset('socket', 'file'),
    fileCred: btf.memberOffset('file', 'f_cred'),
    credFsuid: btf.memberOffset('cred', 'fsuid'),
    credFsgid: btf.memberOffset('cred', 'fsgid'),
    skKernSockBit: btf.memberBitOffset('sock', 'sk_kern_sock'),
    skProtocol: btf.memberOffset('sock', 'sk_protocol'),
    skType: btf.memberOffset('sock', 'sk_type'),
  };
}

export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const PROG_TYPE_NETFILTER = 32;
export const ATTACH_NETFILTER = 45;

const BPF_FUNC_dynptr_read = 201;
const BPF_FUNC_probe_read_kernel = 113;
const BPF_FUNC_ringbuf_reserve = 131;
const BPF_FUNC_ringbuf_submit = 132;
const BPF_FUNC_ktime_get_ns = 5;

/** The namespace's ceiling for `kind` (event.ts: BUDGET_MAP): past it, to `skip`. R0-R5. */
function withinBudget(kind: EventKind, label: (hint: string) => string, skip: string): Insn[] {
  const ahead = label('ev_ahead');
  const over = label('ev_over');
  const pass = label('ev_pass');
  return [
    Call.helper(BPF_FUNC_ktime_get_ns),
    LoadMapValue(R1, BUDGET_MAP, kind * BUDGET.SIZE),
    LoadMem(R2, R1, BUDGET.INTERVAL, Size.DW),
    JEq.imm(R2, 0, pass),
    LoadMem(R3, R1, BUDGET.TAT, Size.DW),
    JGe.reg(R3, R0, ahead),
    Mov.reg(R3, R0),
    withLabel(Mov.reg(R4, R3), ahead),
    Sub.reg(R4, R0),
    LoadMem(R5, R1, BUDGET.SLACK, Size.DW),
    JGt.reg(R4, R5, over),
    Add.reg(R3, R2),
    StoreMem(R1, BUDGET.TAT, R3, Size.DW),
    Ja(pass),
    withLabel(Mov.imm(R2, 1), over),
    AtomicAdd(R1, BUDGET.DROPPED, R2, Size.DW),
    Ja(skip),
    withLabel(Nop(), pass),
  ];
}

/** Where in the scratch (the walk's, after the owner's word at 0) an event keeps its dynptr. */
const EVENT_DYNPTR = 16;

/** Whether what xt_conntrack reads of struct nf_conn on this kernel lies within CT_IMAGE. */
let ctImageFits = true;

/**
 * The netfilter flavor's event record (event.ts): hook state devices, the link-layer header the
 * kernel's LOG prints as MAC= (dev->hard_header_len bytes at skb->mac_header, when it differs
 * from the network header), ip_summed (whether REJECT must verify the checksum), and the packet.
 */
export function nfEvent(
  f: NfKernelFacts,
  kind: EventKind,
  label: (hint: string) => string,
  scratch: number,
  frame: number,
  opts: EvalEventOptions = {},
): Insn[] {
  const skip = label('ev_skip');
  const noIn = label('ev_noin');
  const macDone = label('ev_mac');
  const noOut = label('ev_noout');
  const pktLen = label('ev_len');
  const macLen = label('ev_maclen');
  const submit = label('ev_submit');
  const R = R8;
  const uid = opts.uidIf;
  const out: Insn[] = [
    ...withinBudget(kind, label, skip),
    // What is needed of the target's record (R7), before R7 is the skb.
    ...(uid
      ? [
          LoadMem(R1, RECORD, uid.offset, Size.B),
          And.imm(R1, uid.bit),
          StoreMem(FP, scratch, R1, Size.DW),
        ]
      : []),
    LoadMapPtr(R1, EVENTS_MAP),
    Mov.imm(R2, EV.SIZE),
    Mov.imm(R3, 0),
    Call.helper(BPF_FUNC_ringbuf_reserve),
    JEq.imm(R0, 0, skip),
    Mov.reg(R, R0),
    StoreImm(R, EV.KIND, kind, Size.W),
    LoadMem(R1, STATE, S.ENTRY, Size.W),
    StoreMem(R, EV.ENTRY, R1, Size.W),
    LoadMem(R1, STATE, S.HOOK, Size.W),
    StoreMem(R, EV.HOOK, R1, Size.W),
    // Ring buffer memory is not cleared: every field written only on some paths starts at zero.
    StoreImm(R, EV.DEVTYPE, 0, Size.W), // and FLAGS
    StoreImm(R, EV.IIFINDEX, 0, Size.W),
    StoreImm(R, EV.OIFINDEX, 0, Size.W),
    StoreImm(R, EV.UID, 0, Size.W),
    StoreImm(R, EV.GID, 0, Size.W),
  ];
  const copy = (from: number, to: number, size: Size, bytes: number): Insn[] => [
    LoadMem(R1, STATE, from, size),
    StoreMem(R, to, R1, size),
    ...(bytes > 8 ? copy(from + 8, to + 8, size, bytes - 8) : []),
  ];
  out.push(
    ...copy(S.SKBLEN, EV.SKBLEN, Size.W, 4),
    ...copy(S.MARK, EV.MARK, Size.W, 4),
    ...copy(S.CTINFO, EV.CTINFO, Size.W, 4),
    ...copy(S.CTSET, EV.CTSET, Size.W, 4),
    ...copy(S.IIF, EV.IIF, Size.DW, 16),
    ...copy(S.OIF, EV.OIF, Size.DW, 16),
  );
  for (let o = 0; o < INFO_MAX; o += 8) {
    out.push(LoadMem(R1, RECORD, o, Size.DW), StoreMem(R, EV.INFO + o, R1, Size.DW));
  }
  const bit = f.skbIpSummedBit;
  out.push(
    LoadMem(R6, FP, frame, Size.DW),
    LoadMem(R6, R6, MAIN_FRAME.CTX, Size.DW),
    LoadMem(R7, R6, f.ctxSkb, Size.DW),
    LoadMem(R1, R7, bit >> 3, Size.B),
    Rsh.imm(R1, bit & 7),
    And.imm(R1, 3),
    StoreMem(R, EV.IP_SUMMED, R1, Size.W),
    LoadMem(R1, R7, f.skbPktTypeBit >> 3, Size.B),
    Rsh.imm(R1, f.skbPktTypeBit & 7),
    And.imm(R1, 7),
    StoreMem(R, EV.PKT_TYPE, R1, Size.W),
    StoreImm(R, EV.MACLEN, NO_INPUT, Size.W),
    LoadMem(R2, R6, f.ctxState, Size.DW),
    LoadMem(R3, R2, f.stateIn, Size.DW),
    JEq.imm(R3, 0, noIn),
    LoadMem(R1, R3, f.devIfindex, Size.W),
    StoreMem(R, EV.IIFINDEX, R1, Size.W),
    LoadMem(R1, R3, f.devType, Size.H),
    StoreMem(R, EV.DEVTYPE, R1, Size.H),
    LoadMem(R4, R3, f.devHardHeaderLen, Size.H),
    StoreImm(R, EV.MACLEN, 0, Size.W),
    LoadMem(R1, R7, f.skbMacHeader, Size.H),
    LoadMem(R2, R7, f.skbNetworkHeader, Size.H),
    // skb_mac_header_was_set() and a header distinct from the network header, as dump_mac_header
    JEq.imm(R1, 0xffff, macDone),
    JEq.reg(R1, R2, macDone),
    JEq.imm(R4, 0, macDone),
    JLe.imm(R4, MAC_MAX, macLen),
    Mov.imm(R4, MAC_MAX),
    withLabel(StoreMem(R, EV.MACLEN, R4, Size.W), macLen),
    LoadMem(R3, R7, f.skbHead, Size.DW),
    Add.reg(R3, R1),
    Mov.reg(R1, R),
    Add.imm(R1, EV.MAC),
    Mov.reg(R2, R4),
    Call.helper(BPF_FUNC_probe_read_kernel),
    withLabel(Nop(), macDone),
    withLabel(LoadMem(R2, R6, f.ctxState, Size.DW), noIn),
    LoadMem(R3, R2, f.stateOut, Size.DW),
    JEq.imm(R3, 0, noOut),
    LoadMem(R1, R3, f.devIfindex, Size.W),
    StoreMem(R, EV.OIFINDEX, R1, Size.W),
    withLabel(Nop(), noOut),
    ...(uid ? socketOwner(f, R, label('ev_nouid'), scratch) : []),
    ...(opts.ct && ctImageFits ? ctImage(R, label('ev_noct')) : []),
    ...(kind === EventKind.REJECT ? fromIcmpSocket(f, R, label('ev_noicmpsk')) : []),
    // The event's own dynptr: the prologue makes one only for the skbs it cannot read directly.
    StoreImm(R, EV.CAPLEN, 0, Size.W),
    Mov.reg(R1, R7),
    Mov.imm(R2, 0),
    Mov.reg(R3, FP),
    Add.imm(R3, scratch + EVENT_DYNPTR),
    Call.kfunc(f.dynptrFromSkb),
    JNe.imm(R0, 0, submit),
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    JLe.imm(R2, CAPTURE, pktLen),
    Mov.imm(R2, CAPTURE),
    withLabel(StoreMem(R, EV.CAPLEN, R2, Size.W), pktLen),
    JEq.imm(R2, 0, submit),
    Mov.reg(R1, R),
    Add.imm(R1, EV.PACKET),
    Mov.reg(R3, FP),
    Add.imm(R3, scratch + EVENT_DYNPTR),
    Mov.imm(R4, 0),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
    JEq.imm(R0, 0, submit),
    StoreImm(R, EV.CAPLEN, 0, Size.W),
    withLabel(Mov.reg(R1, R), submit),
    Mov.imm(R2, 0),
    Call.helper(BPF_FUNC_ringbuf_submit),
    withLabel(Nop(), skip),
  );
  return out;
}

/**
 * Fills the state at R9 from the ctx in R6 (the caller claimed the work entry). Every field is
 * written for every packet: the entry held another packet's state before. The skb's dynptr goes
 * to FP-`dynptr`. Packets whose IPv4 header cannot be read are dropped (`drop`), as the kernel's
 * IP stack would never hand them to the filter.
 */
export function nfPrologue(
  f: NfKernelFacts,
  dynptr: number,
  drop: string,
  opts: PrologueOptions = {},
): Insn[] {
  const dev = (field: number, at: number, label: string): Insn[] => {
    const none = `${label}_none`;
    return [
      LoadMem(R2, R6, f.ctxState, Size.DW),
      LoadMem(R3, R2, field, Size.DW),
      JEq.imm(R3, 0, none),
      LoadMem(R4, R3, f.devName, Size.DW),
      StoreMem(STATE, at, R4, Size.DW),
      LoadMem(R4, R3, f.devName + 8, Size.DW),
      StoreMem(STATE, at + 8, R4, Size.DW),
      Ja(label),
      withLabel(StoreImm(STATE, at, 0, Size.DW), none),
      StoreImm(STATE, at + 8, 0, Size.DW),
      withLabel(Nop(), label),
    ];
  };
  return [
    LoadMem(R2, R6, f.ctxState, Size.DW),
    LoadMem(R1, R2, f.stateHook, Size.B),
    StoreMem(STATE, S.HOOK, R1, Size.W),
    LoadMem(R7, R6, f.ctxSkb, Size.DW),
    LoadMem(R1, R7, f.skbLen, Size.W),
    StoreMem(STATE, S.SKBLEN, R1, Size.W),
    LoadMem(R1, R7, f.skbMark, Size.W),
    StoreMem(STATE, S.MARK, R1, Size.W),
    // nf_ct_get(): the entry pointer and ctinfo share _nfct (NFCT_INFOMASK = 7).
    LoadMem(R1, R7, f.skbNfct, Size.DW),
    Mov.reg(R2, R1),
    And.imm(R2, 7),
    StoreMem(STATE, S.CTINFO, R2, Size.W),
    And.imm(R1, -8),
    StoreMem(STATE, S.CT, R1, Size.DW),
    StoreImm(STATE, S.CTSET, 0, Size.W),
    JEq.imm(R1, 0, 'pro_ct'),
    StoreImm(STATE, S.CTSET, 1, Size.W),
    withLabel(StoreImm(STATE, S.REPLY, 0, Size.W), 'pro_ct'),
    ...(opts.replies ? replyState(f) : []),
    ...dev(f.stateIn, S.IIF, 'pro_in'),
    ...dev(f.stateOut, S.OIF, 'pro_out'),
    StoreImm(STATE, S.L4LEN, 0, Size.W),
    ...(f.rdonlyCast === undefined ? [] : linearHeaders(f, f.rdonlyCast, drop)),
    // bpf_dynptr_from_skb(skb, 0, &dynptr)
    withLabel(Mov.reg(R1, R7), 'pro_dynptr'),
    Mov.imm(R2, 0),
    Mov.reg(R3, FP),
    Add.imm(R3, -dynptr),
    Call.kfunc(f.dynptrFromSkb),
    JNe.imm(R0, 0, drop),
    // the fixed IPv4 header
    ...read(S.IP, 20, 0, dynptr),
    JNe.imm(R0, 0, drop),
    ...storeIhl('pro_opts'),
    // options: ihl*4 - 20 bytes (≤ 40) after the fixed header
    Mov.reg(R2, R1),
    Sub.imm(R2, 20),
    Mov.reg(R1, STATE),
    Add.imm(R1, S.IP + 20),
    Mov.reg(R3, FP),
    Add.imm(R3, -dynptr),
    Mov.imm(R4, 20),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
    ...l4Length('pro_opts', 'pro_l4'),
    // L4: R2 bytes at ihl*4
    Mov.reg(R1, STATE),
    Add.imm(R1, S.L4),
    Mov.reg(R3, FP),
    Add.imm(R3, -dynptr),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
    JEq.imm(R0, 0, 'pro_done'),
    StoreImm(STATE, S.L4LEN, 0, Size.W),
    withLabel(Nop(), 'pro_done'),
  ];
}

/** S.IHL from the snapshot's first byte; a header of at most 20 bytes goes to `noOptions`. */
function storeIhl(noOptions: string): Insn[] {
  return [
    LoadMem(R1, STATE, S.IP, Size.B),
    And.imm(R1, 0x0f),
    Lsh.imm(R1, 2),
    StoreMem(STATE, S.IHL, R1, Size.W),
    JLe.imm(R1, 20, noOptions),
  ];
}

/**
 * From label `at`: S.FRAGOFF, then for a first fragment S.L4LEN = min(60, skb->len - ihl*4),
 * left in R2 with ihl*4 in R4 for the L4 copy; a later fragment or no L4 byte goes to
 * 'pro_done'. `stored` labels the L4LEN store.
 */
function l4Length(at: string, stored: string): Insn[] {
  return [
    withLabel(LoadMem(R1, STATE, S.IP + 6, Size.H), at),
    ToBe(R1, 16),
    And.imm(R1, 0x1fff),
    StoreMem(STATE, S.FRAGOFF, R1, Size.W),
    JNe.imm(R1, 0, 'pro_done'),
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    LoadMem(R4, STATE, S.IHL, Size.W),
    Sub.reg(R2, R4),
    JSLe.imm(R2, 0, 'pro_done'),
    JLe.imm(R2, 60, stored),
    Mov.imm(R2, 60),
    withLabel(StoreMem(STATE, S.L4LEN, R2, Size.W), stored),
  ];
}

/**
 * The dynptr path's snapshot with plain loads, for an skb whose headers are linear: no data in
 * pages (data_len 0), or at least the 120 bytes the snapshot can take in its head. Through veth
 * on a 2-core AMD EPYC with Safe-RET, bpf_dynptr_from_skb and two bpf_dynptr_read cost ~65 ns a
 * packet, a third of the engine's whole fixed cost: a dozen nested calls and returns. The loads
 * are the kernel's probe loads (rdonly_untrusted_mem): past the packet's end they read the
 * buffer's stale bytes, which the snapshot already allows (bytes past IHL or L4LEN are stale).
 * Anything else takes the dynptr path that follows ('pro_dynptr').
 */
function linearHeaders(f: NfKernelFacts, rdonlyCast: number, drop: string): Insn[] {
  // STATE+to ← R3+from, `len` bytes (a multiple of 4), R1 the go-between.
  const copy = (to: number, from: number, len: number): Insn[] => {
    const out: Insn[] = [];
    let k = 0;
    for (; k + 8 <= len; k += 8) {
      out.push(LoadMem(R1, R3, from + k, Size.DW), StoreMem(STATE, to + k, R1, Size.DW));
    }
    if (k < len) out.push(LoadMem(R1, R3, from + k, Size.W), StoreMem(STATE, to + k, R1, Size.W));
    return out;
  };
  return [
    LoadMem(R1, STATE, S.SKBLEN, Size.W),
    // Shorter than an IPv4 header: the dynptr path's 20-byte read would fail.
    JLt.imm(R1, 20, drop),
    LoadMem(R2, R7, f.skbDataLen, Size.W),
    JEq.imm(R2, 0, 'pro_linear'),
    Sub.reg(R1, R2),
    JLt.imm(R1, 120, 'pro_dynptr'),
    withLabel(LoadMem(R1, R7, f.skbData, Size.DW), 'pro_linear'),
    Mov.imm(R2, 0),
    Call.kfunc(rdonlyCast),
    Mov.reg(R3, R0),
    ...copy(S.IP, 0, 20),
    ...storeIhl('pro_lin_opts'),
    ...copy(S.IP + 20, 20, 40),
    ...l4Length('pro_lin_opts', 'pro_lin_l4'),
    Add.reg(R3, R4),
    ...copy(S.L4, 0, 60),
    Ja('pro_done'),
  ];
}

/**
 * The first CT_IMAGE bytes of the packet's conntrack entry into the record (EVF_CT), for the
 * reply the helper sends to carry as the kernel's carries the entry itself.
 */
function ctImage(rec: Reg, none: string): Insn[] {
  return [
    LoadMem(R3, STATE, S.CTSET, Size.W),
    JEq.imm(R3, 0, none),
    Mov.reg(R1, rec),
    Add.imm(R1, EV.CT),
    Mov.imm(R2, CT_IMAGE),
    LoadMem(R3, STATE, S.CT, Size.DW),
    Call.helper(BPF_FUNC_probe_read_kernel),
    JNe.imm(R0, 0, none),
    StoreImm(rec, EV.FLAGS, EVF_CT, Size.H),
    withLabel(Nop(), none),
  ];
}

const IPPROTO_ICMP = 1;
const SOCK_RAW = 3;

/**
 * EVF_ICMP_SOCKET when the packet (R7 = skb) was sent by the kernel's own ICMP socket: an echo
 * or timestamp reply, or an ICMP error. The kernel sends those holding icmp_xmit_lock, so the
 * icmp_send of a REJECT that meets them in OUTPUT finds the lock taken and sends nothing. Only
 * in OUTPUT: anywhere else the ICMP socket's packets are another host's.
 */
function fromIcmpSocket(f: NfKernelFacts, rec: Reg, none: string): Insn[] {
  return [
    LoadMem(R1, STATE, S.HOOK, Size.W),
    JNe.imm(R1, NF_INET_LOCAL_OUT, none),
    LoadMem(R1, R7, f.skbSk, Size.DW),
    JEq.imm(R1, 0, none),
    LoadMem(R2, R1, f.skKernSockBit >> 3, Size.B),
    Rsh.imm(R2, f.skKernSockBit & 7),
    And.imm(R2, 1),
    JEq.imm(R2, 0, none),
    LoadMem(R2, R1, f.skProtocol, Size.H),
    JNe.imm(R2, IPPROTO_ICMP, none),
    LoadMem(R2, R1, f.skType, Size.H),
    JNe.imm(R2, SOCK_RAW, none),
    LoadMem(R2, rec, EV.FLAGS, Size.H),
    Or.imm(R2, EVF_ICMP_SOCKET),
    StoreMem(rec, EV.FLAGS, R2, Size.H),
    withLabel(Nop(), none),
  ];
}

const TCP_TIME_WAIT = 6;
const TCP_NEW_SYN_RECV = 12;

/**
 * nf_log_dump_sk_uid_gid: the fsuid/fsgid of the file of the full socket that sent the packet,
 * into the record at `rec` (R7 = skb). Request and time-wait minisocks have no owner.
 */
function socketOwner(f: NfKernelFacts, rec: Reg, none: string, wanted: number): Insn[] {
  return [
    LoadMem(R1, FP, wanted, Size.DW),
    JEq.imm(R1, 0, none),
    // The kernel's REJECT replies have no socket with a file (ICMP's is the kernel's, a RST
    // none): ours, from the helper's raw socket, must not show the helper as their owner.
    LoadMem(R1, STATE, S.REPLY, Size.W),
    JNe.imm(R1, 0, none),
    LoadMem(R1, R7, f.skbSk, Size.DW),
    JEq.imm(R1, 0, none),
    LoadMem(R2, R1, f.skState, Size.B),
    JEq.imm(R2, TCP_TIME_WAIT, none),
    JEq.imm(R2, TCP_NEW_SYN_RECV, none),
    LoadMem(R2, R1, f.skSocket, Size.DW),
    JEq.imm(R2, 0, none),
    LoadMem(R3, R2, f.socketFile, Size.DW),
    JEq.imm(R3, 0, none),
    LoadMem(R4, R3, f.fileCred, Size.DW),
    JEq.imm(R4, 0, none),
    LoadMem(R5, R4, f.credFsuid, Size.W),
    StoreMem(rec, EV.UID, R5, Size.W),
    LoadMem(R5, R4, f.credFsgid, Size.W),
    StoreMem(rec, EV.GID, R5, Size.W),
    StoreImm(rec, EV.FLAGS, EVF_UID, Size.H),
    withLabel(Nop(), none),
  ];
}

/**
 * A packet the helper sends as a REJECT reply (its socket's cookie is in REPLIES_MAP) gets the
 * ctinfo written there and no entry to read fields from, as the kernel's reply would carry the
 * rejected packet's (by then unreachable) entry. R7 = skb.
 */
function replyState(f: NfKernelFacts): Insn[] {
  return [
    // The helper's replies leave through OUTPUT (the map names the socket it sends them from).
    LoadMem(R1, STATE, S.HOOK, Size.W),
    JNe.imm(R1, NF_INET_LOCAL_OUT, 'pro_reply'),
    LoadMapValue(R1, REPLIES_MAP, 0),
    LoadMem(R2, R1, REPLY.COOKIE, Size.DW),
    JEq.imm(R2, 0, 'pro_reply'),
    LoadMem(R3, R7, f.skbSk, Size.DW),
    JEq.imm(R3, 0, 'pro_reply'),
    LoadMem(R4, R3, f.skCookie, Size.DW),
    JNe.reg(R4, R2, 'pro_reply'),
    StoreImm(STATE, S.REPLY, 1, Size.W),
    // A rejected packet without an entry gives its reply none: conntrack's own view stands.
    LoadMem(R2, R1, REPLY.CTINFO, Size.W),
    JEq.imm32(R2, REPLY_NO_CTINFO, 'pro_reply'),
    StoreMem(STATE, S.CTINFO, R2, Size.W),
    StoreImm(STATE, S.CTSET, 1, Size.W),
    StoreImm(STATE, S.CT, 0, Size.DW),
    LoadMem(R2, R1, REPLY.HAS_CT, Size.W),
    JEq.imm(R2, 0, 'pro_reply'),
    // The entry image in the map value stands in for the entry: matches probe_read it alike.
    Add.imm(R1, REPLY.CT),
    StoreMem(STATE, S.CT, R1, Size.DW),
    withLabel(Nop(), 'pro_reply'),
  ];
}

/** bpf_dynptr_read(state + at, len, &dynptr, offset, 0) */
function read(at: number, len: number, offset: number, dynptr: number): Insn[] {
  return [
    Mov.reg(R1, STATE),
    Add.imm(R1, at),
    Mov.imm(R2, len),
    Mov.reg(R3, FP),
    Add.imm(R3, -dynptr),
    Mov.imm(R4, offset),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
  ];
}

/** The default flavor: BPF_PROG_TYPE_NETFILTER at the netfilter hooks, iptables' own place. */
export function netfilterFlavor(facts: NfKernelFacts = nfKernelFacts()): HookFlavor {
  const layout = ctLayout(vmlinuxBtf());
  ctImageFits = ctLayoutEnd(layout) <= CT_IMAGE;
  return {
    name: 'netfilter',
    progType: PROG_TYPE_NETFILTER,
    expectedAttachType: ATTACH_NETFILTER,
    prologue: (dynptr, drop, opts) => nfPrologue(facts, dynptr, drop, opts),
    event: (kind, label, scratch, frame, opts) => nfEvent(facts, kind, label, scratch, frame, opts),
    ct: layout,
    hz: kernelHz(),
    kernel: vmlinuxBtf(),
    ctxType: 'bpf_nf_ctx',
    ctxLayout: { skb: facts.ctxSkb, state: facts.ctxState },
    accept: NF_ACCEPT,
    drop: NF_DROP,
    attach: (progFd, hook, priority) => linkCreateNetfilter(progFd, NFPROTO_IPV4, hook, priority),
  };
}
