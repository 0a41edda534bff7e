// The rule set as a plain typed model, independent of the wire layout: a table of built-in and
// user chains, each a list of rules whose matches and targets are (extension, revision, typed
// value). table.ts converts blobs to this model and back; the translator compiles it.
import type { Extension } from './ext/types.js';
import type { XtCounters } from './wire.js';

export type { XtCounters } from './wire.js';

/** An absolute verdict of a standard target (or a policy: ACCEPT/DROP only). */
export type Verdict = 'ACCEPT' | 'DROP' | 'QUEUE' | 'RETURN';
export type Policy = 'ACCEPT' | 'DROP';

/** An interface match: `name` NUL-padded to 16 bytes against `mask` (iptables puts 0xff over
 *  the name and its NUL; for `eth+` it stops before the `+`, which makes a prefix match). */
export interface IfaceMatch {
  readonly name: string;
  /** 16 bytes. All zero = any interface. */
  readonly mask: Uint8Array;
  /**
   * The 16 name bytes as given, present only when bytes after the NUL are not zero. The kernel
   * keeps (and returns, and counts in unconditional()) them; iptables never writes them.
   */
  readonly raw?: Uint8Array;
}

/** No interface named: what almost every rule has, shared (IfaceMatch values are never changed). */
export const ANY_IFACE: IfaceMatch = Object.freeze({ name: '', mask: new Uint8Array(16) });

/** Whether the interface test can fail (a zero mask matches every device). */
export function namesIface(m: IfaceMatch): boolean {
  if (m === ANY_IFACE) return false;
  for (let i = 0; i < 16; i++) if (m.mask[i] !== 0) return true;
  return false;
}

/** ipt_ip, decoded. Addresses are u32 in network order read big-endian (10.0.0.1 → 0x0a000001). */
export interface RuleIp {
  readonly src: number;
  readonly srcMask: number;
  readonly dst: number;
  readonly dstMask: number;
  readonly inIface: IfaceMatch;
  readonly outIface: IfaceMatch;
  /** 0 = any. */
  readonly proto: number;
  /** IPT_F_* (IPT_F_GOTO mirrors a `goto` target). */
  readonly flags: number;
  /** IPT_INV_* */
  readonly invflags: number;
}

/** A match or target instance: the extension, the revision on the wire and its decoded value. */
export interface ExtensionUse {
  readonly extension: Extension<unknown>;
  readonly revision: number;
  readonly value: unknown;
}

/**
 * Where a jump lands: a chain and a position in it. `index` 0 is the first rule (what iptables
 * always produces); `rules.length` is the chain's policy or RETURN footer; -1 is a user chain's
 * ERROR head (the kernel accepts jumps to any entry start, so the model can say so).
 */
export interface JumpTarget {
  readonly chain: string;
  readonly index: number;
}

export type RuleTarget =
  | { readonly kind: 'verdict'; readonly verdict: Verdict }
  | ({ readonly kind: 'jump' } & JumpTarget)
  | ({ readonly kind: 'goto' } & JumpTarget)
  | { readonly kind: 'extension'; readonly target: ExtensionUse }
  /**
   * A jump, in code mark_source_chains never walks (so the kernel accepts it), to a byte offset
   * that is not a rule (mid-entry, or the final ERROR entry). Never taken; kept for GET_ENTRIES.
   */
  | { readonly kind: 'rawJump'; readonly offset: number };

export interface Rule {
  readonly ip: RuleIp;
  /** ipt_entry.nfcache, kept as given (GET_ENTRIES returns it). */
  readonly nfcache: number;
  readonly matches: readonly ExtensionUse[];
  readonly target: RuleTarget;
  readonly counters: XtCounters;
  /** Bytes between the target's end and next_offset the caller left (normally 0). */
  readonly slack: number;
  /** Hooks the rule is reachable from (mark_source_chains), set when decoded from a blob. */
  readonly hookMask?: number;
}

export interface BuiltinChain {
  readonly kind: 'builtin';
  /** NF_INET_* hook. */
  readonly hook: number;
  /** INPUT, FORWARD, ... */
  readonly name: string;
  readonly rules: readonly Rule[];
  readonly policy: Policy;
  readonly policyCounters: XtCounters;
  /** The policy entry's nfcache when not 0 (the kernel keeps whatever the caller wrote). */
  readonly policyNfcache?: number;
  /**
   * Set when the hook's underflow is not this chain's last entry (the kernel accepts any
   * unconditional ACCEPT/DROP entry, ascending): the chain then has no policy entry of its own,
   * `policy` is that entry's verdict and `policyCounters` is unused. iptables never does this.
   */
  readonly underflowAt?: JumpTarget;
}

export interface UserChain {
  readonly kind: 'user';
  readonly name: string;
  readonly rules: readonly Rule[];
  /** Counters of the ERROR head entry. */
  readonly headCounters: XtCounters;
  /**
   * Counters of the unconditional RETURN footer iptables always writes. Absent when the chain's
   * last entry is anything else (the kernel allows it): the chain then falls through into the
   * entry after it, as in the kernel.
   */
  readonly returnCounters?: XtCounters;
  /**
   * The head entry in full when it is not the plain one iptables writes (conditional, with
   * matches, non-zero nfcache or extra bytes): its target is the ERROR extension whose value is
   * the chain name. Reached only by a jump to index -1 or by falling through.
   */
  readonly head?: Rule;
}

export type Chain = BuiltinChain | UserChain;

export interface Table {
  /** "filter", ... */
  readonly name: string;
  /** Bit mask of NF_INET_* hooks (ipt_replace.valid_hooks). */
  readonly validHooks: number;
  /** Chains in blob order: libiptc writes built-ins in hook order, then user chains. */
  readonly chains: readonly Chain[];
  /** The final ERROR entry: its errorname (libiptc: "ERROR"), counters, and the entry in full
   *  when it is not the plain one (as UserChain.head). */
  readonly end: {
    readonly name: string;
    readonly counters: XtCounters;
    readonly entry?: Rule;
    /** The blob had no final ERROR entry (the kernel allows it; iptables never does it). */
    readonly absent?: true;
  };
  /**
   * Entries before the first chain (hook entries moved past them): unreachable except by jumps,
   * which name them as chain "" (index = position). iptables never writes any.
   */
  readonly prelude?: readonly Rule[];
}

export const ZERO_COUNTERS: XtCounters = Object.freeze({ pcnt: 0n, bcnt: 0n });

/** Number of entries the table occupies in a blob (= num_entries, = counters count). */
export function entryCount(table: Table): number {
  let n = (table.end.absent === true ? 0 : 1) + (table.prelude?.length ?? 0);
  for (const c of table.chains) {
    const own = c.kind === 'builtin' ? c.underflowAt === undefined : c.returnCounters !== undefined;
    n += c.rules.length + (c.kind === 'user' ? 1 : 0) + (own ? 1 : 0);
  }
  return n;
}

export function findChain(table: Table, name: string): Chain | undefined {
  return table.chains.find((c) => c.name === name);
}

/**
 * What an interface field matches. The kernel compares the masked bytes; iptables writes the
 * name with its NUL under 0xff for an exact match, and for `eth+` keeps "eth+" as the name but
 * masks only "eth", which makes it a prefix match.
 */
export function ifaceWildcard(m: IfaceMatch): { name: string; prefix: boolean; any: boolean } {
  let k = 0;
  while (k < m.mask.length && m.mask[k] === 0xff) k++;
  const any = m.mask.every((b) => b === 0);
  const prefix = !any && k <= m.name.length;
  return { name: prefix ? m.name.slice(0, k) : m.name, prefix, any };
}
