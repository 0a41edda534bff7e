// The IPv4 iptables ABI as laid out on x86-64 (linux/netfilter_ipv4/ip_tables.h,
// linux/netfilter/x_tables.h). test/abi-sizes.test.ts checks every number here against the C
// headers compiled on this machine.

/** XT_ALIGN: every entry, match and target is padded to 8 bytes on x86-64. */
export const XT_ALIGN = 8;
export function xtAlign(n: number): number {
  return (n + XT_ALIGN - 1) & ~(XT_ALIGN - 1);
}

export const XT_TABLE_MAXNAMELEN = 32;
export const XT_EXTENSION_MAXNAMELEN = 29;
export const XT_FUNCTION_MAXNAMELEN = 30;
export const IFNAMSIZ = 16;

export const SIZEOF_IPT_IP = 84;
export const SIZEOF_IPT_ENTRY = 112;
export const SIZEOF_XT_COUNTERS = 16;
export const SIZEOF_IPT_REPLACE = 96;
export const SIZEOF_IPT_GETINFO = 84;
export const SIZEOF_IPT_GET_ENTRIES = 40;
export const SIZEOF_XT_COUNTERS_INFO = 40;
export const SIZEOF_XT_GET_REVISION = 30;
export const SIZEOF_XT_ENTRY_MATCH = 32;
export const SIZEOF_XT_ENTRY_TARGET = 32;
/** xt_standard_target: header + int verdict, aligned. */
export const SIZEOF_XT_STANDARD_TARGET = 40;
/** xt_error_target: header + char errorname[XT_FUNCTION_MAXNAMELEN], aligned. */
export const SIZEOF_XT_ERROR_TARGET = 64;

/** Sockopt numbers at level IPPROTO_IP (IPT_BASE_CTL = 64). */
export const IPT_SO_SET_REPLACE = 64;
export const IPT_SO_SET_ADD_COUNTERS = 65;
export const IPT_SO_GET_INFO = 64;
export const IPT_SO_GET_ENTRIES = 65;
export const IPT_SO_GET_REVISION_MATCH = 66;
export const IPT_SO_GET_REVISION_TARGET = 67;

/** Netfilter hooks (enum nf_inet_hooks). */
export const NF_INET_PRE_ROUTING = 0;
export const NF_INET_LOCAL_IN = 1;
export const NF_INET_FORWARD = 2;
export const NF_INET_LOCAL_OUT = 3;
export const NF_INET_POST_ROUTING = 4;
export const NF_INET_NUMHOOKS = 5;
export const HOOK_NAMES = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const;

export const NFPROTO_IPV4 = 2;

/** Netfilter verdicts. A standard target's verdict is `-v - 1` for these, or a jump offset >= 0. */
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NF_QUEUE = 3;
export const NF_REPEAT = 4;
export const NF_MAX_VERDICT = 5;
/** XT_RETURN = -NF_REPEAT - 1. */
export const XT_RETURN = -NF_REPEAT - 1;

export const XT_STANDARD_TARGET = '';
export const XT_ERROR_TARGET = 'ERROR';

/** ipt_ip.flags */
export const IPT_F_FRAG = 0x01;
export const IPT_F_GOTO = 0x02;
export const IPT_F_MASK = 0x03;

/** ipt_ip.invflags */
export const IPT_INV_VIA_IN = 0x01;
export const IPT_INV_VIA_OUT = 0x02;
export const IPT_INV_TOS = 0x04;
export const IPT_INV_SRCIP = 0x08;
export const IPT_INV_DSTIP = 0x10;
export const IPT_INV_FRAG = 0x20;
export const IPT_INV_PROTO = 0x40;
export const IPT_INV_MASK = 0x7f;

/** The filter table's hooks: INPUT, FORWARD, OUTPUT. */
export const FILTER_VALID_HOOKS =
  (1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT);
