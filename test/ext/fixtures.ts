// Values iptables starts a match from (its init functions and defaults), shared by the tests
// that build expected payloads from them.
import type { HashlimitMatch } from '../../src/translate/ext/hashlimit.js';
import type { PolicyElem } from '../../src/translate/ext/policy.js';
import type { RecentMatch } from '../../src/translate/ext/recent.js';
import type { SctpFlagInfo, SctpMatch } from '../../src/translate/ext/sctp.js';
import type { InetAddr } from '../../src/translate/ext/util.js';

export const NO_ADDR: InetAddr = [0, 0, 0, 0];
export const ALL_ONES: InetAddr = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

/** libxt_hashlimit revision 3 for IPv4 with `--hashlimit-upto 5/sec --hashlimit-name h`. */
export const HASHLIMIT: HashlimitMatch = {
  name: 'h',
  mode: 0,
  avg: 200000n,
  burst: 5n,
  size: 0,
  max: 0,
  gcInterval: 1000,
  expire: 1000,
  interval: 0,
  srcmask: 32,
  dstmask: 32,
};

/** libxt_recent's init: list DEFAULT, source address, all-ones mask (no command yet). */
export const RECENT: RecentMatch = {
  seconds: 0,
  hitCount: 0,
  checkSet: 0,
  invert: 0,
  name: 'DEFAULT',
  side: 0,
  mask: ALL_ONES,
};

/** A policy element no option touched. */
export const NO_POLICY_ELEM: PolicyElem = {
  saddr: NO_ADDR,
  smask: NO_ADDR,
  daddr: NO_ADDR,
  dmask: NO_ADDR,
  spi: 0,
  reqid: 0,
  proto: 0,
  mode: 0,
  match: 0,
  invert: 0,
};

/** sctp_init marks the four flag slots unused (chunk type 0xff). */
export const NO_SCTP_SLOT: SctpFlagInfo = { chunktype: 0xff, flag: 0, flagMask: 0 };
export const SCTP: SctpMatch = {
  dpts: [0, 0],
  spts: [0, 0],
  chunkmap: Array<number>(64).fill(0),
  chunkMatchType: 0,
  flagInfo: [NO_SCTP_SLOT, NO_SCTP_SLOT, NO_SCTP_SLOT, NO_SCTP_SLOT],
  flagCount: 0,
  flags: 0,
  invflags: 0,
};

/** A 64-word SCTP chunk map with `types` set. */
export function chunkMap(...types: number[]): number[] {
  const m = Array<number>(64).fill(0);
  for (const t of types) m[t >> 5] = ((m[t >> 5] ?? 0) | (1 << (t & 31))) >>> 0;
  return m;
}
