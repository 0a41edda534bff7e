import type { Insn } from '../../bpf/asm/index.js';
import type { CodegenContext } from '../../bpf/codegen/context.js';
import type { ExtensionUse } from '../ir.js';

// The contract every match and target extension fulfils. One file per extension implements it;
// registry.ts lists them. Methods (not function-typed properties) on purpose: method parameters are
// bivariant, so an `Extension<TcpMatch>` is usable wherever an `Extension<unknown>` is expected
// and IR records can carry (extension, value) pairs of different types in one array.

/** What an extension's check sees, as the kernel's xt_mtchk_param / xt_tgchk_param. */
export interface CheckContext {
  /** Table name, e.g. "filter". */
  readonly table: string;
  /** Bit mask of NF_INET_* hooks from which the rule is reachable (mark_source_chains). */
  readonly hookMask: number;
  /** ipt_ip.proto of the rule (0 = any). */
  readonly proto: number;
  /** ipt_ip.invflags & IPT_INV_PROTO. */
  readonly invProto: boolean;
}

/**
 * One extension option of a rule in iptables-save syntax: `! --dport 22` is
 * `{ name: 'dport', invert: true, args: ['22'] }`.
 */
export interface SaveOption {
  readonly name: string;
  readonly invert: boolean;
  readonly args: readonly string[];
}

/** What an extension's parse sees of the rule around it (iptables' xt_option_call). */
export interface ParseContext {
  /** -p of the rule (0 = any). */
  readonly proto: number;
  /** `! -p`. */
  readonly invProto: boolean;
}

export interface Extension<T> {
  readonly kind: 'match' | 'target';
  /** The name iptables puts in xt_entry_{match,target}.u.user.name. */
  readonly name: string;
  /** Revisions we accept, ascending. GET_REVISION answers with the highest. */
  readonly revisions: readonly number[];
  /**
   * The kernel's matchsize/targetsize for `revision`: the payload size before XT_ALIGN. The wire
   * payload must be exactly xtAlign(dataSize) bytes (else EINVAL), as xt_check_match enforces.
   */
  dataSize(revision: number): number;
  /**
   * The kernel's usersize: how many payload bytes are user-visible. Bytes past it are kernel
   * private (pointers, runtime state) and GET_ENTRIES returns them zeroed.
   */
  userSize(revision: number): number;
  /** Payload bytes (xtAlign(dataSize) long) → typed value. Must not throw on any bytes. */
  decode(data: Buffer, revision: number): T;
  /** Typed value → payload bytes, xtAlign(dataSize) long, private bytes zeroed. */
  encode(value: T, revision: number): Buffer;
  /** The kernel's checkentry plus xt_check_{match,target}'s proto/table/hook rules; throws XtError. */
  check(value: T, revision: number, ctx: CheckContext): void;
  /**
   * What a successful checkentry writes into the payload the kernel keeps (and GET_ENTRIES then
   * shows), applied in place to that copy; absent when checkentry only reads it.
   */
  writeBack?(data: Buffer, revision: number): void;
  /** iptables-save syntax of the value, e.g. "-p tcp --dport 22" → "--dport 22"; for logs. */
  format(value: T, revision: number): string;
  /**
   * BPF that tests the match (see CodegenContext for the contract). Absent, or throwing
   * Unsupported, means the translator refuses rules using it rather than guess.
   */
  codegen?(value: T, revision: number, cg: CodegenContext): readonly Insn[];
  /**
   * Targets: what happens after their codegen ran — XT_CONTINUE to the next rule ('continue',
   * as LOG) or the packet's end (as REJECT's NF_DROP).
   */
  verdict?(value: T): 'continue' | 'drop';
  /** Targets whose events make the helper send packets (REJECT's replies). */
  readonly sendsReplies?: boolean;
  /**
   * The options following `-m NAME` / `-j NAME` in iptables syntax → what iptables puts in the
   * blob for them: the revision iptables picks, its defaults, and for an alias (`-m state`) the
   * extension iptables really loads. Throws OptionError (args.ts). Absent for extensions iptables
   * never lets a user name (the standard and ERROR targets).
   */
  parse?(options: readonly SaveOption[], ctx: ParseContext): ExtensionUse;
}
