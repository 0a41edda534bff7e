// -m ah: struct ipt_ah (linux/netfilter_ipv4/ipt_ah.h), revision 0 of ipt_ah.c, IPv4 only, with
// .proto = IPPROTO_AH; checkentry refuses unknown invflags (EINVAL). The IPv4 struct has only
// the SPI range (--ahlen and --ahres are ip6t_ah's). Same layout and syntax as esp.
import { spiMatch, type SpiRange } from './spi.js';

export const IPT_AH_INV_SPI = 0x01;
export const IPPROTO_AH = 51;

export type AhMatch = SpiRange;

/** struct ip_auth_hdr: nexthdr, hdrlen, reserved, spi, seq_no. */
export const ah = spiMatch('ah', IPPROTO_AH, 'ahspi', { header: 12, offset: 4, size: 4 });
