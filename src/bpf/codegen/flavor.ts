// A hook flavor is everything that differs between attaching the same ruleset at the netfilter
// hooks, at TC or at XDP: program type, how the packet state is filled, what the program returns
// for accept and drop, and how a program is attached. Match and target codegen never sees it.
import type { Insn } from '../asm/index.js';
import type { EventKind, EventOptions } from './event.js';
import type { CtLayout } from './ct.js';

export interface PrologueOptions {
  /**
   * The helper sends packets on the ruleset's behalf (REJECT's replies): recognise them and give
   * them the conntrack state the kernel's own reply would carry (see REPLIES_MAP).
   */
  readonly replies?: boolean;
}

export interface HookFlavor {
  readonly name: string;
  readonly progType: number;
  readonly expectedAttachType: number;
  /**
   * Code that sets R9 to the packet state at `stateOff` below the frame pointer (`stateSize`
   * bytes, see state.ts) and fills it; packets it cannot parse go to `drop`.
   */
  prologue(stateOff: number, stateSize: number, drop: string, opts?: PrologueOptions): Insn[];
  /**
   * Code that sends an event record (event.ts) for the current packet to the ring buffer; may
   * clobber R0-R8. `label` makes program-unique labels.
   */
  event(
    kind: EventKind,
    info: Buffer,
    entry: number,
    hook: number,
    label: (hint: string) => string,
    opts?: EventOptions,
  ): Insn[];
  /** struct nf_conn's layout on the running kernel, when the prologue stores the entry (S.CT). */
  readonly ct?: CtLayout;
  /** CONFIG_HZ of the kernel the programs run on, when known. */
  readonly hz: number | undefined;
  /** Return values for the two verdicts. */
  readonly accept: number;
  readonly drop: number;
  /** Attaches `progFd` at `hook` (NF_INET_*) in the calling thread's netns; returns a link fd. */
  attach(progFd: number, hook: number, priority: number): number;
}
