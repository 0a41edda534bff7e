// The netfilter hook flavor: BPF_PROG_TYPE_NETFILTER, ctx = struct bpf_nf_ctx { state; skb }.
// Its prologue fills the packet state (state.ts) from the skb and the hook state; its verdicts
// are NF_DROP (0) and NF_ACCEPT (1). Another flavor (TC, XDP) supplies its own prologue filling
// the same state and its own verdict mapping; match code does not change.
import {
  And,
  Call,
  FP,
  JEq,
  JLe,
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
  ToBe,
  withLabel,
  type Insn,
} from '../asm/index.js';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { vmlinuxBtf } from '../vmlinux.js';
import { linkCreateNetfilter } from '../syscall.js';
import { NFPROTO_IPV4 } from '../../translate/abi.js';
import type { HookFlavor } from './flavor.js';
import { S, STATE } from './state.js';

/** What the prologue needs from the running kernel (vmlinux BTF). */
export interface NfKernelFacts {
  readonly dynptrFromSkb: number;
  readonly ctxState: number;
  readonly ctxSkb: number;
  readonly stateIn: number;
  readonly stateOut: number;
  readonly devName: number;
  readonly skbLen: number;
  readonly skbMark: number;
  readonly skbNfct: number;
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

export function nfKernelFacts(): NfKernelFacts {
  const btf = vmlinuxBtf();
  return {
    dynptrFromSkb: btf.funcId('bpf_dynptr_from_skb'),
    ctxState: btf.memberOffset('bpf_nf_ctx', 'state'),
    ctxSkb: btf.memberOffset('bpf_nf_ctx', 'skb'),
    stateIn: btf.memberOffset('nf_hook_state', 'in'),
    stateOut: btf.memberOffset('nf_hook_state', 'out'),
    devName: btf.memberOffset('net_device', 'name'),
    skbLen: btf.memberOffset('sk_buff', 'len'),
    skbMark: btf.memberOffset('sk_buff', 'mark'),
    skbNfct: btf.memberOffset('sk_buff', '_nfct'),
  };
}

export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const PROG_TYPE_NETFILTER = 32;
export const ATTACH_NETFILTER = 45;

const BPF_FUNC_dynptr_read = 201;

/**
 * Sets R9 to the state at `stateOff` below the frame pointer, zeroes it, and fills it. The
 * dynptr lives just below the state. Packets whose IPv4 header cannot be read are dropped
 * (`drop`), as the kernel's IP stack would never hand them to the filter.
 */
export function nfPrologue(
  f: NfKernelFacts,
  stateOff: number,
  stateSize: number,
  drop: string,
): Insn[] {
  const dynptr = stateOff + 16;
  const out: Insn[] = [Mov.reg(R6, R1), Mov.reg(STATE, FP), Add.imm(STATE, -stateOff)];
  for (let o = 0; o < stateSize; o += 8) out.push(StoreImm(STATE, o, 0, Size.DW));
  const dev = (field: number, at: number, label: string): Insn[] => [
    LoadMem(R2, R6, f.ctxState, Size.DW),
    LoadMem(R3, R2, field, Size.DW),
    JEq.imm(R3, 0, label),
    LoadMem(R4, R3, f.devName, Size.DW),
    StoreMem(STATE, at, R4, Size.DW),
    LoadMem(R4, R3, f.devName + 8, Size.DW),
    StoreMem(STATE, at + 8, R4, Size.DW),
    withLabel(Nop(), label),
  ];
  out.push(
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
    JEq.imm(R1, 0, 'pro_ct'),
    StoreImm(STATE, S.CTSET, 1, Size.W),
    withLabel(Nop(), 'pro_ct'),
    ...dev(f.stateIn, S.IIF, 'pro_in'),
    ...dev(f.stateOut, S.OIF, 'pro_out'),
    // bpf_dynptr_from_skb(skb, 0, &dynptr)
    Mov.reg(R1, R7),
    Mov.imm(R2, 0),
    Mov.reg(R3, FP),
    Add.imm(R3, -dynptr),
    Call.kfunc(f.dynptrFromSkb),
    JNe.imm(R0, 0, drop),
    // the fixed IPv4 header
    ...read(S.IP, 20, 0, dynptr),
    JNe.imm(R0, 0, drop),
    LoadMem(R1, STATE, S.IP, Size.B),
    And.imm(R1, 0x0f),
    Lsh.imm(R1, 2),
    StoreMem(STATE, S.IHL, R1, Size.W),
    JLe.imm(R1, 20, 'pro_opts'),
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
    withLabel(LoadMem(R1, STATE, S.IP + 6, Size.H), 'pro_opts'),
    ToBe(R1, 16),
    And.imm(R1, 0x1fff),
    StoreMem(STATE, S.FRAGOFF, R1, Size.W),
    JNe.imm(R1, 0, 'pro_done'),
    // L4: min(60, skb->len - ihl*4) bytes at ihl*4
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    LoadMem(R4, STATE, S.IHL, Size.W),
    Sub.reg(R2, R4),
    JSLe.imm(R2, 0, 'pro_done'),
    JLe.imm(R2, 60, 'pro_l4'),
    Mov.imm(R2, 60),
    withLabel(StoreMem(STATE, S.L4LEN, R2, Size.W), 'pro_l4'),
    Mov.reg(R1, STATE),
    Add.imm(R1, S.L4),
    Mov.reg(R3, FP),
    Add.imm(R3, -dynptr),
    Mov.imm(R5, 0),
    Call.helper(BPF_FUNC_dynptr_read),
    JEq.imm(R0, 0, 'pro_done'),
    StoreImm(STATE, S.L4LEN, 0, Size.W),
    withLabel(Nop(), 'pro_done'),
  );
  return out;
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
  return {
    name: 'netfilter',
    progType: PROG_TYPE_NETFILTER,
    expectedAttachType: ATTACH_NETFILTER,
    prologue: (stateOff, size, drop) => nfPrologue(facts, stateOff, size, drop),
    hz: kernelHz(),
    accept: NF_ACCEPT,
    drop: NF_DROP,
    attach: (progFd, hook, priority) => linkCreateNetfilter(progFd, NFPROTO_IPV4, hook, priority),
  };
}
