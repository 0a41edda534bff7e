// -j REJECT: struct ipt_reject_info (linux/netfilter_ipv4/ipt_REJECT.h), revision 0 of
// ipt_REJECT.c: IPv4, table "filter", hooks INPUT/FORWARD/OUTPUT (xt_check_target, EINVAL).
// reject_tg_check refuses icmp-echo-reply and a tcp-reset on a rule that is not `-p tcp`
// without `!`. Values past the enum are accepted and, at run time, drop without a reply.
import { NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT } from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import type { CheckContext, Extension } from './types.js';
import { IPPROTO_TCP, payload, requireHooks, requireTable, zeroed } from './util.js';

export const IPT_ICMP_NET_UNREACHABLE = 0;
export const IPT_ICMP_HOST_UNREACHABLE = 1;
export const IPT_ICMP_PROT_UNREACHABLE = 2;
export const IPT_ICMP_PORT_UNREACHABLE = 3;
export const IPT_ICMP_ECHOREPLY = 4;
export const IPT_ICMP_NET_PROHIBITED = 5;
export const IPT_ICMP_HOST_PROHIBITED = 6;
export const IPT_TCP_RESET = 7;
export const IPT_ICMP_ADMIN_PROHIBITED = 8;

const REJECT_HOOKS = (1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT);

export interface RejectTarget {
  /** enum ipt_reject_with. */
  readonly with: number;
}

const SIZE = 4;

const WITH_NAMES: readonly string[] = [
  'icmp-net-unreachable',
  'icmp-host-unreachable',
  'icmp-proto-unreachable',
  'icmp-port-unreachable',
  'icmp-echo-reply',
  'icmp-net-prohibited',
  'icmp-host-prohibited',
  'tcp-reset',
  'icmp-admin-prohibited',
];

export const REJECT: Extension<RejectTarget> = {
  kind: 'target',
  name: 'REJECT',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): RejectTarget {
    return { with: payload(data, SIZE).readUInt32LE(0) };
  },
  encode(v: RejectTarget): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.with >>> 0, 0);
    return b;
  },
  check(v: RejectTarget, _revision: number, ctx: CheckContext): void {
    requireTable(ctx, 'filter', 'target "REJECT"');
    requireHooks(ctx, REJECT_HOOKS, 'target "REJECT"');
    if (v.with === IPT_ICMP_ECHOREPLY) {
      throw new XtError(EINVAL, 'target "REJECT": icmp-echo-reply is no longer supported');
    }
    if (v.with === IPT_TCP_RESET && (ctx.proto !== IPPROTO_TCP || ctx.invProto)) {
      throw new XtError(EINVAL, 'target "REJECT": tcp-reset needs -p tcp without "!"');
    }
  },
  format(v: RejectTarget): string {
    return `--reject-with ${WITH_NAMES[v.with] ?? String(v.with)}`;
  },
};
