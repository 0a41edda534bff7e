// Every match and target we understand. Adding one = one import line + one array entry.
//
// Lookups follow the kernel's xt_find_match / xt_find_target / xt_find_revision
// (net/netfilter/x_tables.c): the IPv4 list is searched first, then the family-independent
// (NFPROTO_UNSPEC) list. That order makes a wrong revision of an IPv4-only extension answer
// ENOENT (the UNSPEC search that runs last finds nothing), while a wrong revision of an UNSPEC
// one answers EPROTOTYPE.
import { XT_EXTENSION_MAXNAMELEN } from '../abi.js';
import { EINVAL, ENOENT, EPROTONOSUPPORT, EPROTOTYPE, XtError } from '../errno.js';
import { addrtype } from './addrtype.js';
import { comment } from './comment.js';
import { dccp } from './dccp.js';
import { cpu } from './cpu.js';
import { devgroup } from './devgroup.js';
import { realm } from './realm.js';
import { helper } from './helper.js';
import { connbytes } from './connbytes.js';
import { connmark } from './connmark.js';
import { time } from './time.js';
import { tos } from './tos.js';
import { statistic } from './statistic.js';
import { quota } from './quota.js';
import { tcpmss } from './tcpmss.js';
import { ipcomp } from './ipcomp.js';
import { esp } from './esp.js';
import { ecn } from './ecn.js';
import { dscp } from './dscp.js';
import { ah } from './ah.js';
import { connlimit } from './connlimit.js';
import { conntrack } from './conntrack.js';
import { error } from './error.js';
import { hashlimit } from './hashlimit.js';
import { icmp } from './icmp.js';
import { iprange } from './iprange.js';
import { length } from './length.js';
import { limit } from './limit.js';
import { LOG } from './LOG.js';
import { mac } from './mac.js';
import { mark } from './mark.js';
import { multiport } from './multiport.js';
import { owner } from './owner.js';
import { physdev } from './physdev.js';
import { policy } from './policy.js';
import { pkttype } from './pkttype.js';
import { recent } from './recent.js';
import { REJECT } from './REJECT.js';
import { state } from './state.js';
import { string } from './string.js';
import { sctp } from './sctp.js';
import { standard } from './standard.js';
import { tcp } from './tcp.js';
import { ttl } from './ttl.js';
import type { Extension } from './types.js';
import { u32 } from './u32.js';
import { udp } from './udp.js';

// The registry holds extensions of every value type; callers get Extension<unknown> back.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyExtension = Extension<any>;

export const MATCHES: readonly AnyExtension[] = [
  tcp,
  udp,
  icmp,
  multiport,
  conntrack,
  state,
  mark,
  comment,
  iprange,
  length,
  ttl,
  limit,
  tos,
  dscp,
  ecn,
  tcpmss,
  esp,
  ah,
  ipcomp,
  statistic,
  quota,
  time,
  connmark,
  connbytes,
  helper,
  realm,
  devgroup,
  cpu,
  dccp,
  string,
  u32,
  addrtype,
  recent,
  mac,
  owner,
  hashlimit,
  connlimit,
  pkttype,
  physdev,
  sctp,
  policy,
];

export const TARGETS: readonly AnyExtension[] = [standard, error, LOG, REJECT];

/**
 * Names the kernel registers with family NFPROTO_UNSPEC (xt_conntrack.c, xt_state.c, xt_mark.c,
 * xt_comment.c, xt_limit.c, xt_statistic.c, xt_quota.c, xt_time.c, xt_pkttype.c, ...).
 * Everything else we know is registered per family (NFPROTO_IPV4).
 */
const UNSPEC_FAMILY: ReadonlySet<string> = new Set([
  'match:conntrack',
  'match:state',
  'match:mark',
  'match:comment',
  'match:limit',
  'match:statistic',
  'match:quota',
  'match:time',
  'match:connmark',
  'match:connbytes',
  'match:helper',
  'match:devgroup',
  'match:cpu',
  'match:string',
  'match:u32',
  'match:pkttype',
]);

export type ExtensionKind = 'match' | 'target';

function listOf(kind: ExtensionKind): readonly AnyExtension[] {
  return kind === 'match' ? MATCHES : TARGETS;
}

function isUnspec(kind: ExtensionKind, name: string): boolean {
  return UNSPEC_FAMILY.has(`${kind}:${name}`);
}

/**
 * xt_request_find_match / xt_request_find_target without module loading: the extension at
 * exactly (name, revision). Throws EINVAL for a name without a NUL in its 29 bytes (the caller
 * passes the C string as read, so `name.length >= 29` means no terminator), ENOENT when no
 * extension has that name, EPROTOTYPE when the name exists only at other revisions (UNSPEC
 * extensions only, see the header comment).
 */
export function findExtension(
  kind: ExtensionKind,
  name: string,
  revision: number,
): Extension<unknown> {
  if (name.length >= XT_EXTENSION_MAXNAMELEN) {
    throw new XtError(
      EINVAL,
      `${kind} name is not NUL-terminated within ${XT_EXTENSION_MAXNAMELEN} bytes`,
    );
  }
  const found = listOf(kind).find((e) => e.name === name);
  if (found === undefined) {
    throw new XtError(ENOENT, `no ${kind} "${name}"`);
  }
  if (found.revisions.includes(revision)) return found;
  // An IPv4 extension with the wrong revision: the kernel's last search (UNSPEC) finds nothing.
  if (!isUnspec(kind, name)) throw new XtError(ENOENT, `no ${kind} "${name}" revision ${revision}`);
  throw new XtError(EPROTOTYPE, `${kind} "${name}" has no revision ${revision}`);
}

/**
 * IPT_SO_GET_REVISION_{MATCH,TARGET}: xt_find_revision. Returns the best (highest) revision we
 * have when `revision` itself is supported; throws EPROTONOSUPPORT when the name exists but not
 * at `revision`, ENOENT when the name is unknown.
 */
export function revisionFor(kind: ExtensionKind, name: string, revision: number): number {
  const found = listOf(kind).find((e) => e.name === name);
  if (found === undefined) throw new XtError(ENOENT, `no ${kind} "${name}"`);
  if (!found.revisions.includes(revision)) {
    throw new XtError(EPROTONOSUPPORT, `${kind} "${name}" has no revision ${revision}`);
  }
  return Math.max(...found.revisions);
}
