// A hook flavor is everything that differs between attaching the same ruleset at the netfilter
// hooks, at TC or at XDP: program type, how the packet state is filled, what the program returns
// for accept and drop, and how a program is attached. Match and target codegen never sees it.
import type { Insn } from '../asm/index.js';
import type { Btf } from '../vmlinux.js';
import type { EvalEventOptions } from './eval.js';
import type { EventKind } from './event.js';
import type { CtLayout } from './ct.js';

export interface PrologueOptions {
  /**
   * The helper sends packets on the ruleset's behalf (REJECT's replies): recognise them and give
   * them the conntrack state the kernel's own reply would carry (see REPLIES_MAP).
   */
  readonly replies?: boolean;
}

/**
 * What the engine's main program keeps on its stack for the walk (bpf_loop's ctx points at
 * it): the state's address, the program's ctx, and the skb's dynptr.
 */
export const MAIN_FRAME = { STATE: 0, CTX: 8, DYNPTR: 16, SIZE: 32 } as const;

export interface HookFlavor {
  readonly name: string;
  readonly progType: number;
  readonly expectedAttachType: number;
  /**
   * Code that fills the packet state at R9 (state.ts) from the program's ctx in R6, the hook
   * it runs at (S.HOOK) included, with FP-`dynptr` for the packet's dynptr if it needs one;
   * packets it cannot parse go to `drop`.
   */
  prologue(dynptr: number, drop: string, opts?: PrologueOptions): Insn[];
  /**
   * Code that sends an event record (event.ts) for the current packet to the ring buffer, with
   * the first INFO_MAX bytes of the record at R7 as the target's payload and the entry in
   * S.ENTRY and the hook in S.HOOK; may clobber R0-R8. `label` makes program-unique labels;
   * `scratch` is FP-relative stack of SCRATCH bytes it may use; FP-`frame` holds the main
   * program's MAIN_FRAME.
   */
  event(
    kind: EventKind,
    label: (hint: string) => string,
    scratch: number,
    frame: number,
    opts?: EvalEventOptions,
  ): Insn[];
  /** struct nf_conn's layout on the running kernel, when the prologue stores the entry (S.CT). */
  readonly ct?: CtLayout;
  /** CONFIG_HZ of the kernel the programs run on, when known. */
  readonly hz: number | undefined;
  /** The running kernel's BTF. */
  readonly kernel: Btf;
  /** The program ctx's type name in BTF and where its skb and hook state are. */
  readonly ctxType: string;
  readonly ctxLayout: { readonly skb: number; readonly state: number };
  /** Return values for the two verdicts. */
  readonly accept: number;
  readonly drop: number;
  /** Attaches `progFd` at `hook` (NF_INET_*) in the calling thread's netns; returns a link fd. */
  attach(progFd: number, hook: number, priority: number): number;
}
