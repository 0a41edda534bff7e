// The region of a plan entry (key.ts): what its ipt_ip part and each match say about the key.
// ip_packet_match's tests become intervals where they are intervals (prefixes, protocols, the
// fragment flag) and stay to run time where they are not (non-contiguous masks, interfaces).
import { IPT_F_FRAG, IPT_INV_DSTIP, IPT_INV_FRAG, IPT_INV_PROTO, IPT_INV_SRCIP } from '../abi.js';
import { IPT_INV_VIA_IN, IPT_INV_VIA_OUT } from '../abi.js';
import { namesIface, type IfaceMatch, type RuleIp } from '../ir.js';
import type { PlanEntry } from '../plan.js';
import {
  ANYWHERE,
  EVERYWHERE,
  L4_FRAGMENT,
  L4_SHORT,
  NOWHERE,
  inexact,
  intersect,
  interval,
  isExact,
  union,
  type Field,
  type Region,
} from './key.js';

/** (addr & mask) == value, or its inversion, over an address field. */
export function addressRegion(field: Field, value: number, mask: number, invert: boolean): Region {
  const m = mask >>> 0;
  const v = value >>> 0;
  // Bits of the value outside the mask make the equality impossible.
  if ((v & ~m) >>> 0 !== 0) return invert ? EVERYWHERE : NOWHERE;
  const host = ~m >>> 0;
  const prefix = ((host + 1) & host) >>> 0 === 0;
  if (!prefix) return ANYWHERE;
  return interval(field, v, (v | host) >>> 0, invert);
}

/** ifname_compare_aligned under IPT_INV_VIA_*: names are not in the key. */
function ifaceRegion(m: IfaceMatch, invert: boolean): Region {
  if (!namesIface(m)) return invert ? NOWHERE : EVERYWHERE;
  return ANYWHERE;
}

/** ip_packet_match: every test of `ip` as a region. */
export function ipRegion(ip: RuleIp | undefined): Region {
  if (ip === undefined) return EVERYWHERE;
  const inv = (flag: number): boolean => (ip.invflags & flag) !== 0;
  let r = intersect(
    addressRegion('src', ip.src, ip.srcMask, inv(IPT_INV_SRCIP)),
    addressRegion('dst', ip.dst, ip.dstMask, inv(IPT_INV_DSTIP)),
  );
  r = intersect(r, ifaceRegion(ip.inIface, inv(IPT_INV_VIA_IN)));
  r = intersect(r, ifaceRegion(ip.outIface, inv(IPT_INV_VIA_OUT)));
  if (ip.proto !== 0) r = intersect(r, interval('proto', ip.proto, ip.proto, inv(IPT_INV_PROTO)));
  // NF_INVF(IPT_INV_FRAG, (flags & IPT_F_FRAG) && !fragoff): -f wants a non-first fragment,
  // ! -f anything else, and the inversion alone can never hold.
  const frag = (ip.flags & IPT_F_FRAG) !== 0;
  if (frag) {
    r = intersect(
      r,
      inv(IPT_INV_FRAG)
        ? interval('l4', 0, L4_SHORT, false)
        : interval('l4', L4_FRAGMENT, L4_FRAGMENT, false),
    );
  } else if (inv(IPT_INV_FRAG)) {
    r = NOWHERE;
  }
  return r;
}

/**
 * The entry's region: its ipt_ip part and its matches in order, up to and including the first
 * match that changes state when evaluated (the kernel evaluates it whatever follows).
 */
export function entryRegion(e: PlanEntry): Region {
  // Rules decoded through an EntryMemo share ip and matches with the tables before them: their
  // region is computed once, and keeps its identity for the tree cache (incremental.ts).
  if (e.ip === undefined && e.matches.length === 0) return EVERYWHERE;
  const known = regions.get(e.matches);
  if (known !== undefined && known.ip === e.ip) return known.region;
  const region = computeRegion(e);
  regions.set(e.matches, { ip: e.ip, region });
  return region;
}

const regions = new WeakMap<readonly unknown[], { ip: RuleIp | undefined; region: Region }>();

function computeRegion(e: PlanEntry): Region {
  let r = ipRegion(e.ip);
  // What a match that hotdrops leaves undecided, kept whatever narrows after it.
  let hot: Region = NOWHERE;
  let last = e.matches.length - 1;
  while (last >= 0 && e.matches[last]?.extension.engine?.always) last--;
  for (let k = 0; k < e.matches.length; k++) {
    if (r.length === 0) break;
    const m = e.matches[k] as PlanEntry['matches'][number];
    const engine = m.extension.engine;
    const mr = engine?.region?.(m.value, m.revision) ?? (engine?.always ? EVERYWHERE : ANYWHERE);
    if (engine?.hotdrops && k < last) {
      hot = union(
        hot,
        inexact(
          intersect(
            r,
            mr.filter((b) => !isExact(b)),
          ),
        ),
      );
    }
    r = intersect(r, mr);
    if (engine?.stateful) return union(inexact(r), hot);
  }
  return union(r, hot);
}
