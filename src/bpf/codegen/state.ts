// The per-packet state every generated program keeps on its own stack, and the register roles.
// The prologue of each hook flavor fills it once; matches read fixed offsets from R9. Keeping it
// on the stack (not in a per-CPU map) makes it private to this invocation even when a softirq
// runs another filter program on the same CPU in the middle of this one.
import { R9, type Reg } from '../asm/index.js';

/** Register roles: R9 = state base (callee-saved across helper calls, as R6-R8 are). */
export const STATE: Reg = R9;

/** Byte offsets from R9. */
export const S = {
  /** The IPv4 header, ihl*4 bytes (≤ 60), zero past what was read. */
  IP: 0,
  /** The first ≤ 60 bytes of L4 when the fragment offset is 0. */
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
  /** u32: the verdict the chain walk ended with (NF_DROP/NF_ACCEPT). */
  VERDICT: 176,
  /** u32: jump stack depth. */
  SP: 180,
  /** u32: the entry point the next chain-walk step starts at. */
  NEXT: 184,
  /** u32: ihl * 4. */
  IHL: 188,
  /** u32: 1 when the packet has a conntrack entry (nf_ct_get() != NULL). */
  CTSET: 192,
  /** u32: 1 when the packet is a REJECT reply our helper sent (event.ts: REPLIES_MAP). */
  REPLY: 196,
  /** u64: the conntrack entry's address (skb->_nfct without ctinfo), read with probe_read. */
  CT: 200,
  /**
   * u64: the program's ctx pointer, so code in the bpf_loop callback (which has no ctx of its
   * own) can reach the skb and hook state for events.
   */
  CTX: 208,
  /** u32[]: the jump stack (entry point ids to resume at). */
  STACK: 216,
} as const;

/** enum ip_conntrack_info */
export const IP_CT_IS_REPLY = 3;
export const IP_CT_UNTRACKED = 7;

/** Size of the state for a jump stack of `slots` entries, 8-aligned. */
export function stateSize(slots: number): number {
  return (S.STACK + 4 * slots + 7) & ~7;
}
