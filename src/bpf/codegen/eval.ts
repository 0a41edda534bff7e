// What an extension's evaluator is given (the engine's xt_mtchk/xt_action_param). The engine
// program holds one evaluator per extension in use, the way the kernel holds one match function
// per xt_* module; each rule's own parameters arrive as a record in a map.
//
// Contract: R7 points at the record (the extension's `recordSize` bytes), R9 at the packet state
// (state.ts). A match runs as a function of its own (engine.ts): R6 holds the program's ctx
// (struct bpf_nf_ctx: its skb and hook state are trusted pointers), and it may clobber R0-R5 and
// R8, keep R6, R7 and R9, fall through when it holds and jump to `noMatch` when not; `hotdrop`
// drops the packet at once (par->hotdrop), `holdsHotdrop` once the rule is done. Targets do their work (events) and fall through;
// they may clobber R0-R8 but R9.
import { R6, R7, type Insn, type Reg } from '../asm/index.js';
import type { Btf } from '../vmlinux.js';
import type { CtLayout } from './ct.js';
import type { EventKind } from './event.js';

/** The register holding the record's address. */
export const RECORD: Reg = R7;
/** In matches: the register holding the program's ctx. */
export const CTX: Reg = R6;

/** Bytes of stack the evaluator may use from `scratch` up (helper call arguments). */
export const SCRATCH = 32;

export interface RuntimeFlag {
  /** Byte offset of a u8 in the record, and the bit that must be set. */
  readonly offset: number;
  readonly bit: number;
}

export interface EvalEventOptions {
  /** Record the sending socket's owner when this record bit is set (LOG --log-uid). */
  readonly uidIf?: RuntimeFlag;
  /** Record the conntrack entry (CT_IMAGE bytes) for a reply to carry. */
  readonly ct?: boolean;
}

export interface EvalContext {
  readonly noMatch: string;
  readonly hotdrop: string;
  /**
   * par->hotdrop set while the match still holds (an inverted test of bytes it could not read,
   * as sctp's and dccp's): the rule's other matches run, it counts and its target runs, then the
   * packet is dropped — ipt_do_table checks hotdrop only when the entry is done.
   */
  readonly holdsHotdrop: string;
  /** A label unique in the program, derived from `hint`. */
  label(hint: string): string;
  /** FP-relative offset of SCRATCH bytes of stack. */
  readonly scratch: number;
  /** The running kernel's CONFIG_HZ, when known (jiffies-based matches need it). */
  readonly hz: number | undefined;
  /** Where struct nf_conn keeps what xt_conntrack reads, when the flavor knows it. */
  readonly ct: CtLayout | undefined;
  /** The running kernel's BTF: member offsets and kfunc ids for what the match reads. */
  readonly kernel: Btf;
  /** Offsets of the skb and the hook state in the ctx (R6). */
  readonly ctxLayout: { readonly skb: number; readonly state: number };
  /**
   * Targets: code that hands the packet to the helper as an event of `kind` whose payload is the
   * first INFO_MAX bytes of the record. May clobber R0-R8.
   */
  event(kind: EventKind, opts?: EvalEventOptions): Insn[];
}

/** Thrown where a flavor or kernel cannot run an extension: the rule is refused (EOPNOTSUPP). */
export class Unsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unsupported';
  }
}
