import type { Insn } from '../../bpf/asm/index.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import type { Region } from '../classify/key.js';
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
   * The options following `-m NAME` / `-j NAME` in iptables syntax → what iptables puts in the
   * blob for them: the revision iptables picks, its defaults, and for an alias (`-m state`) the
   * extension iptables really loads. Throws OptionError (args.ts). Absent for extensions iptables
   * never lets a user name (the standard and ERROR targets).
   */
  parse?(options: readonly SaveOption[], ctx: ParseContext): ExtensionUse;
  /**
   * How the rules-as-data engine runs the extension (docs/engine.md). Absent: rules using it
   * are refused with EOPNOTSUPP, naming the rule and the extension.
   */
  readonly engine?: Engine<T>;
}

/** What the engine program needs of an extension (or of a pseudo-match of ipt_ip's). */
export interface Evaluated {
  readonly name: string;
  readonly engine?: Engine<unknown>;
}

/** What a record may ask of the ruleset it is part of. */
export interface RecordContext {
  /** The running kernel's CONFIG_HZ, when known (jiffies-based matches need it). */
  readonly hz: number | undefined;
  /**
   * A slot of per-match run-time state (limit's token bucket) in the extension's state map,
   * fresh for this ruleset, as a new table gives each match fresh private data in the kernel.
   */
  stateSlot(): number;
  /**
   * The slot of the namespace's table `name` in the extension's namespace map (`netns`): the
   * same for as long as rulesets name it, as the kernel shares recent lists and hashlimit
   * tables by name. Absent where the extension keeps no named tables.
   */
  tableSlot?(name: string): number;
}

/**
 * The engine's view of an extension: the kernel's per-rule data and match function, split into
 * what the classifier may know (region), the data each rule carries (record) and the one piece
 * of BPF that evaluates any rule's record (evaluate).
 */
export interface Engine<T> {
  /**
   * Packets for which the match can hold or hotdrop, over the classifier key (classify/key.ts),
   * with `exact` boxes where it holds for every packet. Absent: every packet, decided at run time.
   */
  region?(value: T, revision: number): Region;
  /**
   * Evaluating the match changes state (limit spends a token): the classifier must not skip the
   * rule for what matches after this one would say, since the kernel evaluates this one first.
   */
  readonly stateful?: boolean;
  /**
   * The match can hotdrop (a header cut short): ipt_do_table then drops the packet whatever the
   * matches after it would say, so the rule's region keeps the packets this match cannot decide
   * (its inexact boxes) however later matches narrow the rest.
   */
  readonly hotdrops?: boolean;
  /** The match always holds and needs no evaluation (comment). */
  readonly always?: boolean;
  /** Bytes of the record `record` writes and `evaluate` reads (0: none). */
  readonly recordSize: number;
  /**
   * The record is made anew for every ruleset even where value, revision and HZ are the same
   * (connlimit's epoch: checkentry gives each replace fresh lists). Without it, and without a
   * state or table slot asked for, the image reuses the record made for the same value object.
   */
  readonly freshRecord?: boolean;
  record(value: T, revision: number, ctx: RecordContext): Buffer;
  /**
   * The evaluation, for any rule's record (EvalContext: R7 = record). Matches fall through when
   * they hold; targets do their work and fall through.
   */
  evaluate(cg: EvalContext): readonly Insn[];
  /** Targets: what follows — the next rule (XT_CONTINUE, as LOG) or NF_DROP (as REJECT). */
  verdict?(value: T): 'continue' | 'drop';
  /** Targets whose events make the helper send packets (REJECT's replies). */
  readonly sendsReplies?: boolean;
  /** Per-match run-time state the extension keeps in a map of its own (limit's buckets). */
  readonly state?: EngineState;
  /**
   * State the namespace keeps across rulesets (addrtype's answers, recent's lists; hashlimit's
   * tables and their entries: several maps).
   */
  readonly netns?: NetnsMap | readonly NetnsMap[];
}

/**
 * A map of the namespace, not of a ruleset: created by the backend for the first ruleset whose
 * rules need it, pinned with the namespace's other objects, kept across replaces (every
 * instance's programs reference the same map) and dropped with the namespace. The program
 * references it by `map`.
 */
export interface NetnsMap {
  readonly map: string;
  readonly type: 'array' | 'hash' | 'lpm_trie';
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** BTF for values holding a bpf_spin_lock. */
  readonly btf?: () => {
    readonly blob: Buffer;
    readonly keyTypeId: number;
    readonly valueTypeId: number;
  };
  /**
   * The map (of the same extension) whose named tables lead this map's keys with their u32 slot
   * (hashlimit's entries): when a table goes, its keys here go too, before the slot is reused.
   */
  readonly slotsOf?: string;
  /**
   * Named tables in the map (the kernel's shared-by-name tables), one value per slot: the name
   * a rule's value names, the value a new table starts with, and what an existing one becomes
   * when a rule of the next ruleset joins it (undefined: kept as it is).
   */
  readonly tables?: NetnsTables;
}

export interface NetnsTables {
  /** Slots the map holds (tables alive at once). */
  readonly slots: number;
  name(value: unknown, revision: number): string;
  create(value: unknown, revision: number): Buffer;
  join?(current: Buffer, value: unknown, revision: number): Buffer | undefined;
  /** The name a table's value holds, for a helper that adopts the map from its pin. */
  recover?(value: Buffer): string | undefined;
}

/** How the kernel's wall clock relates to CLOCK_TAI (sys/libc.ts wallClock reads it). */
export interface WallClock {
  /** CLOCK_REALTIME - CLOCK_TAI in whole seconds: minus the kernel's TAI offset. */
  readonly realMinusTai: number;
  /** The kernel's sys_tz.tz_minuteswest, as gettimeofday(2) reports it. */
  readonly minutesWest: number;
}

/** A map of per-match state slots: array of `valueSize`-byte values, fresh for a new ruleset. */
export interface EngineState {
  readonly map: string;
  readonly valueSize: number;
  /**
   * What a fresh slot holds (read when a new ruleset is written); zeros when absent. The clock
   * is passed in so that extensions never load the syscall bindings (the compute worker cannot).
   */
  fresh?(clock: WallClock): Buffer;
  /** BTF for values holding a bpf_spin_lock. */
  readonly btf?: () => {
    readonly blob: Buffer;
    readonly keyTypeId: number;
    readonly valueTypeId: number;
  };
}
