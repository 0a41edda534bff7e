// -m limit: struct xt_rateinfo (linux/netfilter/xt_limit.h), revision 0, family UNSPEC.
// Only avg and burst are user data (usersize = offsetof(prev) = 8); the other 32 bytes are the
// kernel's (prev, credit, credit_cap, cost, master) and come back zeroed from GET_ENTRIES.
// iptables sends them zeroed; a caller-supplied non-zero cost/credit_cap would be honoured by
// limit_mt_check and is ignored here (decode drops it).
import { ERANGE, XtError } from '../errno.js';
import type { Extension } from './types.js';
import { payload, zeroed } from './util.js';

/** avg is in 1/XT_LIMIT_SCALE seconds per packet. */
export const XT_LIMIT_SCALE = 10000;
/** CONFIG_HZ of the kernels we mirror (Debian's 250; 1000 gives the same HZ·CPJ product). */
export const HZ = 250;
/** POW2_BELOW32(0xFFFFFFFF / (HZ*60*60*24)): credits per jiffy, as xt_limit.c computes. */
export const CREDITS_PER_JIFFY = pow2Below32(Math.floor(0xffffffff / (HZ * 60 * 60 * 24)));

function pow2Below32(x: number): number {
  let p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}

/** xt_limit.c's user2credits, in u32 arithmetic (its products wrap like the C ones). */
export function user2credits(user: number): number {
  const u = user >>> 0;
  const perSecond = HZ * CREDITS_PER_JIFFY;
  if (u > Math.floor(0xffffffff / perSecond)) {
    return Math.imul(Math.floor(u / XT_LIMIT_SCALE), perSecond) >>> 0;
  }
  return Math.floor((u * perSecond) / XT_LIMIT_SCALE);
}

export interface LimitMatch {
  readonly avg: number;
  readonly burst: number;
}

/** libxt_limit's burst when --limit-burst is not given. */
const DEFAULT_BURST = 5;

/** sizeof(struct xt_rateinfo) on x86-64. */
const SIZE = 40;
const USER_SIZE = 8;

export const limit: Extension<LimitMatch> = {
  kind: 'match',
  name: 'limit',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): LimitMatch {
    const b = payload(data, SIZE);
    return { avg: b.readUInt32LE(0), burst: b.readUInt32LE(4) };
  },
  encode(v: LimitMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.avg >>> 0, 0);
    b.writeUInt32LE(v.burst >>> 0, 4);
    return b;
  },
  check(v: LimitMatch): void {
    // limit_mt_check: avg * burst is a u32 product; a wrapped one shows as fewer credits.
    if (v.burst === 0 || user2credits(Math.imul(v.avg, v.burst)) < user2credits(v.avg)) {
      throw new XtError(ERANGE, `match "limit": avg ${v.avg} burst ${v.burst} overflows`);
    }
  },
  format(v: LimitMatch): string {
    // iptables-save leaves out the default burst.
    const burst = v.burst === DEFAULT_BURST ? '' : ` --limit-burst ${v.burst}`;
    return `--limit ${rate(v.avg)}${burst}`;
  },
};

/**
 * iptables' rate spelling (libxt_limit's print_rate): walk from days to seconds and stop before
 * the first unit the period exceeds or divides too unevenly.
 */
function rate(avg: number): string {
  const units: readonly (readonly [string, number])[] = [
    ['day', XT_LIMIT_SCALE * 24 * 60 * 60],
    ['hour', XT_LIMIT_SCALE * 60 * 60],
    ['min', XT_LIMIT_SCALE * 60],
    ['sec', XT_LIMIT_SCALE],
  ];
  if (avg === 0) return 'inf';
  let i = 1;
  for (; i < units.length; i++) {
    const mult = units[i]?.[1] ?? 1;
    if (avg > mult || Math.floor(mult / avg) < mult % avg) break;
  }
  const [name, mult] = units[i - 1] ?? ['sec', XT_LIMIT_SCALE];
  return `${Math.floor(mult / avg)}/${name}`;
}
