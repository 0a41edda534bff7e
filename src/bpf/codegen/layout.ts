// The ruleset as data: the records the engine program reads from its maps, written by the image
// builder (engine/image.ts). Every index in a record is absolute (it already includes the
// generation's half of the map), so a packet that reads one hook word of the header sees one
// whole generation. Little-endian, as the program loads them.

/** Map names the engine program references (the loader resolves them to fds). */
export const MAPS = {
  HEADER: 'header',
  BLOCKS: 'blocks',
  NODES: 'nodes',
  LISTS: 'lists',
  RULES: 'rules',
  MREFS: 'mrefs',
  COUNTERS: 'counters',
  WORK: 'work',
  STATS: 'stats',
} as const;

/** The record map of an extension: one per match or target kind the program evaluates. */
export const kindMap = (name: string): string => `k_${name}`;

/**
 * Header: one 64-byte value, mmapped. Per hook a u64 {u32 block, u32 underflow rule} written
 * with one atomic 8-byte store: the generation switch.
 */
export const HEADER = {
  SIZE: 64,
  hook: (hook: number): number => hook * 8,
  BLOCK: 0,
  UNDERFLOW: 4,
  /** u32: the half the hooks point at, for a helper that adopts the maps (not read by BPF). */
  HALF: 48,
  /**
   * u64 per half: the tag of the table written there (the helper's, not read by BPF), so a
   * helper restarted mid-replace tells which of the saved tables the kernel is running.
   */
  tag: (half: number): number => (half === 0 ? 40 : 56),
} as const;

/** "No block": the walk fell off the end of the table (the kernel's blob never lets it). */
export const NO_BLOCK = 0xffffffff;

/** Most groups (trees) a block has; must match classify/hypersplit.ts MAX_GROUPS. */
export const GROUPS = 4;

/**
 * A block: where the walk goes after it, and the root node of each group's tree (a block with
 * fewer groups names the half's sentinel leaf for the rest).
 */
export const BLOCK = { SIZE: 32, NEXT: 0, ROOT: 8, FIRST: 24 } as const;

/**
 * A tree node: internal {kind 0, dim, thr, left, right} (key[dim] <= thr goes left), or a leaf
 * {kind 1, start}: its list from entry `start` up to a sentinel. Node 0 of each half is a leaf
 * whose list is only the sentinel.
 */
export const NODE = { SIZE: 16, KIND: 0, DIM: 1, THR: 4, LEFT: 8, RIGHT: 12, START: 4 } as const;
export const NODE_LEAF = 1;

/**
 * A candidate in a leaf's list: the rule record, and its entry index shifted left once with bit 0
 * set when the rule's classified parts hold for the whole leaf (nothing to test). Every list ends
 * with a sentinel whose POS is NO_CAND; list entry 0 of each half is one too.
 */
export const CAND = { SIZE: 8, RULE: 0, POS: 4 } as const;
export const NO_CAND = 0xffffffff;

/** Rule record actions. */
export const Act = {
  /** ARG0: the verdict (0 drop, 1 accept). */
  VERDICT: 0,
  /** Push the walk, go to block ARG0 from entry ARG1 on. */
  JUMP: 1,
  /** Go to block ARG0 from entry ARG1 on. */
  GOTO: 2,
  /** XT_CONTINUE: the next candidate. */
  CONTINUE: 3,
  RETURN: 4,
  /** Target kind ARG0 with its record ARG1, then the next candidate. */
  TARGET_CONTINUE: 5,
  /** Target kind ARG0 with its record ARG1, then NF_DROP. */
  TARGET_DROP: 6,
  /** ERROR (chain heads, the table's end) and what the kernel never runs: NF_DROP. */
  DROP: 7,
} as const;

/**
 * ipt_ip tests a rule record asks for (RULE.IPF). EXACT: the record's exact box decides the whole
 * rule for keys inside it (nothing else to test).
 */
export const Ipf = { SRC: 1, DST: 2, PROTO: 4, FRAG: 8, NEVER: 16, EXACT: 32 } as const;

/**
 * A rule record (one per blob entry, at the entry's index in the generation's half): the entry
 * index, its matches (MCOUNT match refs from MFIRST), its action, and ipt_ip's address, proto and
 * fragment tests. Addresses and masks are stored as the packet's bytes read as a u32.
 *
 * Then two boxes of the key (classify/key.ts), KEY_WORDS lo words then KEY_WORDS hi words each:
 * HULL holds every key the rule could match or hotdrop (a key outside it skips the rule with no
 * test at all), EXACT every key it surely matches (Ipf.EXACT: such a key acts at once). A leaf's
 * candidates are mostly decided by these two, in the candidate's own step, so a rule that fails
 * on its ports costs no match step and one that holds none either.
 */
export const RULE = {
  SIZE: 136,
  ENTRY: 0,
  MFIRST: 4,
  MCOUNT: 8,
  ACTION: 10,
  IPF: 11,
  ARG0: 12,
  ARG1: 16,
  SRC: 20,
  SMSK: 24,
  DST: 28,
  DMSK: 32,
  PROTO: 36,
  FLAGS: 37,
  INV: 38,
  HULL: 40,
  EXACT: 88,
} as const;

/** A match ref: which kind's evaluator, and the index of the record in that kind's map. */
export const MREF = { SIZE: 8, KIND: 0, INDEX: 4 } as const;

/** Work entries per possible CPU: the nesting a CPU can see (process, softirq, preemption). */
export const WORK_PER_CPU = 8;

/** Stats counters (per-CPU u64): the walk's own failures, which should never happen. */
export const Stat = { CORRUPT: 0, OVERFLOW: 1, STEPS: 2, NO_WORK: 3 } as const;
export const STATS = 4;
