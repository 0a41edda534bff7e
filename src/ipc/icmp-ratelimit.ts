// The kernel's limits on the ICMP errors it sends, for the replies REJECT makes us send: the
// per-netns global bucket (icmp_msgs_per_sec / icmp_msgs_burst, icmp_global_allow) and the
// per-destination bucket (icmp_ratelimit, inet_peer_xrlim_allow with its burst factor of 6),
// both only for the types in icmp_ratemask. Time is in milliseconds; the kernel counts jiffies.

export interface IcmpSysctls {
  /** net.ipv4.icmp_ratelimit (ms). */
  readonly ratelimit: number;
  /** net.ipv4.icmp_ratemask */
  readonly ratemask: number;
  /** net.ipv4.icmp_msgs_per_sec */
  readonly msgsPerSec: number;
  /** net.ipv4.icmp_msgs_burst */
  readonly msgsBurst: number;
}

export const ICMP_DEFAULTS: IcmpSysctls = {
  ratelimit: 1000,
  ratemask: 0x1818,
  msgsPerSec: 1000,
  msgsBurst: 50,
};

const XRLIM_BURST_FACTOR = 6;
/** inet_peer entries unused this long are gone (the kernel's inet_peer GC horizon). */
const PEER_TTL = 120_000;

interface Peer {
  tokens: number;
  last: number;
}

export class IcmpRateLimiter {
  private credit = 0;
  private stamp = -Infinity;
  private readonly peers = new Map<string, Peer>();

  constructor(private readonly random: () => number = Math.random) {}

  /** icmpv4_mask_allow: types the limits do not apply to. */
  private static exempt(s: IcmpSysctls, type: number, code: number): boolean {
    if (type > 18) return true;
    if (type === 3 && code === 4) return true;
    return ((1 << type) & s.ratemask) === 0;
  }

  /** icmp_global_allow */
  private globalAllow(s: IcmpSysctls, now: number): boolean {
    if (this.credit > 0) return true;
    const delta = Math.min(now - this.stamp, 1000);
    if (delta < 1000 / 50) return false;
    const incr = Math.floor((s.msgsPerSec * delta) / 1000);
    if (incr === 0) return false;
    this.stamp = now;
    this.credit = Math.min(this.credit + incr, s.msgsBurst);
    return true;
  }

  /** inet_peer_xrlim_allow for `dest` */
  private peerAllow(dest: string, timeout: number, now: number): boolean {
    for (const [k, p] of this.peers) if (now - p.last > PEER_TTL) this.peers.delete(k);
    let p = this.peers.get(dest);
    if (!p) {
      // A new inet_peer's rate_last is 60 s back, so its first bucket is full.
      p = { tokens: 0, last: now - 60_000 };
      this.peers.set(dest, p);
    }
    let token = p.tokens + (now - p.last);
    p.last = now;
    if (token > XRLIM_BURST_FACTOR * timeout) token = XRLIM_BURST_FACTOR * timeout;
    let ok = false;
    if (token >= timeout) {
      token -= timeout;
      ok = true;
    }
    p.tokens = token;
    return ok;
  }

  /**
   * Whether an ICMP error of `type`/`code` to `dest` may go out at `now`; `loopback` when its
   * route is the loopback device (no per-destination limit there).
   */
  allow(
    s: IcmpSysctls,
    type: number,
    code: number,
    dest: string,
    loopback: boolean,
    now: number,
  ): boolean {
    if (IcmpRateLimiter.exempt(s, type, code)) return true;
    if (!this.globalAllow(s, now)) return false;
    const ok = loopback || this.peerAllow(dest, s.ratelimit, now);
    // icmp_global_consume: 0 to 2 credits, at random, per message sent.
    if (ok) this.credit -= Math.floor(this.random() * 3);
    return ok;
  }
}
