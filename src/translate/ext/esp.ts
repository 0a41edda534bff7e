// -m esp: struct xt_esp (linux/netfilter/xt_esp.h), revision 0 of xt_esp.c, registered per
// family with .proto = IPPROTO_ESP; checkentry refuses unknown invflags (EINVAL). Matches a
// non-fragment's SPI in [lo, hi] ^ invert. iptables defaults the range to [0, 0xffffffff].
import { spiMatch, type SpiRange } from './spi.js';

export const XT_ESP_INV_SPI = 0x01;
export const IPPROTO_ESP = 50;

export type EspMatch = SpiRange;

/** struct ip_esp_hdr: spi, seq_no. */
export const esp = spiMatch('esp', IPPROTO_ESP, 'espspi', { header: 8, offset: 0, size: 4 });
