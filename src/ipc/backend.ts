// Where a validated table goes to be enforced. The service core hands every accepted
// SET_REPLACE to a backend and asks it for packet counts; the BPF translator is one backend.
import type { TableRef } from '../bpf/engine/compute.js';
import type { XtCounters } from '../translate/ir.js';

/** A network namespace. */
export interface NetnsRef {
  /** Its cookie (SO_NETNS_COOKIE) as a decimal string: unique for the life of the system. */
  readonly id: string;
  /** A path that opens it (e.g. /proc/<pid>/ns/net) while the caller lives. */
  readonly path: string;
}

/**
 * What a backend holds in the kernel for one namespace, for `bpfilter status`: plain data, every
 * id as `bpftool -j prog show / link show / map show` prints it, read from the objects themselves
 * (not remembered), so a status never shows an id the kernel does not have.
 */
export interface BackendProgram {
  /** The hook it runs at: INPUT, FORWARD, OUTPUT, ... */
  readonly hook: string;
  /** Its kernel name (bpftool's "name"). */
  readonly name: string;
  readonly id: number;
}

export interface BackendLink {
  readonly hook: string;
  readonly id: number;
  /** The program the link runs (bpftool's "prog_id"). */
  readonly progId: number;
}

export interface BackendMap {
  readonly name: string;
  readonly id: number;
}

export interface BackendNetnsStatus {
  /** Every program that runs for the namespace. */
  readonly programs: readonly BackendProgram[];
  /** Every attached link. */
  readonly links: readonly BackendLink[];
  /** Every map those programs use. */
  readonly maps: readonly BackendMap[];
  /** Every pinned path the backend keeps for the namespace (absolute). */
  readonly pins: readonly string[];
  /** Events the programs could not hand over (ring full), when the backend counts them. */
  readonly eventsDropped?: number;
}

/** A table a restarted helper may find running, and the tag it was applied with. */
export interface Candidate {
  readonly ref: TableRef;
  readonly tag: bigint;
}

/** What a replace does around the backend's switch, on the backend's schedule. */
export interface ApplyAround {
  /**
   * Settled before the switch; a rejection refuses the table with nothing changed (its error is
   * the refusal). The backend compiles while it is pending.
   */
  readonly ready?: Promise<void>;
}

export interface RulesetBackend {
  /** Shown in logs. */
  readonly name: string;
  /**
   * Makes `table` (held by the service's compute) the ruleset enforced in `netns`, atomically. Throws XtError to refuse it; the
   * previous ruleset must then stay in force. Returns what the previous ruleset counted, read
   * after the swap (undefined when nothing counts). `phase`, when given, is called at the end
   * of each phase with its name (the log shows where the time went).
   */
  apply(
    netns: NetnsRef,
    table: TableRef,
    phase?: (name: string) => void,
    tag?: bigint,
    around?: ApplyAround,
  ): Promise<readonly XtCounters[] | undefined>;
  /**
   * After a helper restart: the tables an earlier helper may have left running in `netns`, the
   * last one it completed first, then the one it was applying when it died (each with the `tag`
   * it was applied with). Adopt whichever the kernel runs and return its index; when none can
   * be told running, apply the first again and return 0. Packets must keep being filtered.
   */
  resume(netns: NetnsRef, candidates: readonly Candidate[]): Promise<number>;
  /**
   * Packets and bytes each entry (by blob entry index) matched since `table` was applied, or
   * undefined when the backend counts nothing.
   */
  counters(netns: NetnsRef, table: TableRef): Promise<readonly XtCounters[] | undefined>;
  /**
   * Drops everything kept for namespaces `alive` says are gone (in memory and pinned, also
   * what an earlier helper left); returns their ids.
   */
  collect(alive: (netns: string) => boolean): string[];
  /**
   * What runs in the kernel for `netnsId` (its cookie), also what an earlier helper left pinned
   * and this one has not adopted yet; undefined when nothing does. Must not change anything.
   */
  describe?(netnsId: string): BackendNetnsStatus | undefined;
}

/**
 * Keeps rulesets without enforcing them: every table is accepted and no packet is counted. It is
 * what the helper runs with until a packet-filtering backend is configured, and it says so in
 * the log at start-up.
 */
export class StoreOnlyBackend implements RulesetBackend {
  readonly name = 'store-only (rules are kept and listed, not enforced)';

  async apply(
    _netns: NetnsRef,
    _table: TableRef,
    _phase?: (name: string) => void,
    _tag?: bigint,
    around?: ApplyAround,
  ): Promise<undefined> {
    await around?.ready;
    return undefined;
  }

  /** Nothing runs: the table last completed is the one to serve. */
  async resume(): Promise<number> {
    return 0;
  }

  async counters(): Promise<undefined> {
    return undefined;
  }

  collect(): string[] {
    return [];
  }
}
