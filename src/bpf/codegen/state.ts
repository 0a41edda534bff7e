// The per-packet state every engine program works in, and the register roles. It lives in a
// work-area map entry the program claims for the packet (layout.ts WORK), not on the BPF stack:
// the verifier tracks no contents of map memory, so whatever the walk stores there between
// steps, it sees one state and verifies the walk once; and a claimed entry is this invocation's
// alone, however programs nest on a CPU (a softirq in the middle of a process-context hook).
import { R9, type Reg } from '../asm/index.js';

/** Register roles: R9 = state base (callee-saved across helper calls, as R6-R8 are). */
export const STATE: Reg = R9;

/** Byte offsets from R9. */
export const S = {
  /** The IPv4 header, ihl*4 bytes (≤ 60); bytes past ihl*4 are stale. */
  IP: 0,
  /** The first ≤ 60 bytes of L4 when the fragment offset is 0; bytes past L4LEN are stale. */
  L4: 64,
  /** u32: bytes of L4 in the snapshot (0 for non-first fragments or no L4 bytes). */
  L4LEN: 124,
  /** u32: skb->len, what counters add as bytes. */
  SKBLEN: 128,
  /** u32: fragment offset (ntohs(frag_off) & 0x1fff), in 8-byte units. */
  FRAGOFF: 132,
  /** u32: skb->mark. */
  MARK: 136,
  /** u32: ctinfo (skb->_nfct & 7: IP_CT_*, or IP_CT_UNTRACKED with no entry). */
  CTINFO: 140,
  /** char[16]: state->in->name, zeros when there is no input device. */
  IIF: 144,
  /** char[16]: state->out->name. */
  OIF: 160,
  /** u32: ihl * 4. */
  IHL: 176,
  /** u32: 1 when the packet has a conntrack entry (nf_ct_get() != NULL). */
  CTSET: 180,
  /** u32: 1 when the packet is a REJECT reply our helper sent (event.ts: REPLIES_MAP). */
  REPLY: 184,
  /** u32: the hook the program runs at (NF_INET_*): one program serves every hook of a table. */
  HOOK: 188,
  /** u64: the conntrack entry's address (skb->_nfct without ctinfo), read with probe_read. */
  CT: 192,
  /** u32[KEY_WORDS], padded to 8: the classifier key (classify/key.ts), host order. */
  KEY: 200,
  /** u32: what the next step of the walk does (Phase). */
  PHASE: 232,
  /** u32: the verdict the walk ended with (NF_DROP/NF_ACCEPT). */
  VERDICT: 236,
  /** u32: the block the next classify step starts (the one after the current, once started). */
  BLOCK: 240,
  /** u32: candidates with a lower entry index are skipped (a jump into the middle of a block). */
  MIN: 244,
  /** u32: the rule record of the candidate being tested. */
  RULE: 248,
  /** u32: its next match ref and one past its last. */
  MCUR: 252,
  MEND: 256,
  /** u32: the hook's underflow rule (its policy), for a RETURN with nothing pushed. */
  UNDER: 260,
  /** u32: the blob entry index of the rule whose target runs (events report it). */
  ENTRY: 264,
  /** u32: jump frames pushed. */
  DEPTH: 268,
  /** u32: odd while a program holds this work entry; each claim and release adds one. */
  OWNER: 272,
  /**
   * u32: a match of the current rule set par->hotdrop and still held (an inverted test of a
   * packet it could not read): the rule goes on, and whatever it does, the packet is dropped.
   */
  HOTDROP: 276,
  /** u32 per group (layout.ts GROUPS): the list index of its next candidate. */
  GROUPS: 280,
  /**
   * u64 per group: a copy of the list entry (layout.ts CAND) at its cursor, so that a CAND step
   * reads the four heads from here and looks up only the list that advanced.
   */
  HEADS: 296,
  /**
   * EVAL_SIZE bytes the running match evaluator may use as it likes (packet bytes past the
   * snapshot, a loop's variables): map memory, whose contents the verifier does not track, so a
   * loop keeping its variables here verifies in a few passes whatever its bound.
   */
  EVAL: 328,
  /** The jump stack: frames of FRAME bytes. */
  FRAMES: 456,
} as const;

/** Bytes at S.EVAL. */
export const EVAL_SIZE = 128;

/** A jump frame: the groups' cursors and the block after the current one. */
export const FRAME = { SIZE: 24, GROUPS: 0, BLOCK: 16 } as const;

/** Bytes of a work entry with room for `depth` jump frames. */
export function workSize(depth: number): number {
  return S.FRAMES + depth * FRAME.SIZE;
}

/** Walk phases. */
export const Phase = { CLASSIFY: 0, CAND: 1, MATCH: 2, UNDER: 3 } as const;

/** enum ip_conntrack_info */
export const IP_CT_IS_REPLY = 3;
export const IP_CT_UNTRACKED = 7;
