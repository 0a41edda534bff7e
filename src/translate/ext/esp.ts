// -m esp: struct xt_esp (linux/netfilter/xt_esp.h), revision 0 of xt_esp.c, registered per
// family with .proto = IPPROTO_ESP; checkentry refuses unknown invflags (EINVAL). Matches a
// non-fragment's SPI in [lo, hi] ^ invert. iptables defaults the range to [0, 0xffffffff].
import { readOptions } from './args.js';
import { checkSpi, decodeSpi, encodeSpi, formatSpi, parseSpi, type SpiRange } from './spi.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { requireProto, zeroed } from './util.js';

export const XT_ESP_INV_SPI = 0x01;
export const IPPROTO_ESP = 50;

export type EspMatch = SpiRange;

/** u32 spis[2], u8 invflags: 9 bytes padded to 12. */
const SIZE = 12;

export const esp: Extension<EspMatch> = {
  kind: 'match',
  name: 'esp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): EspMatch {
    const { spis, invflags } = decodeSpi(data, SIZE);
    return { spis, invflags };
  },
  encode(v: EspMatch): Buffer {
    return encodeSpi(v, zeroed(SIZE));
  },
  check(v: EspMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_ESP, 'match "esp"');
    checkSpi(v, 'match "esp"');
  },
  format(v: EspMatch): string {
    return formatSpi(v, 'espspi');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "esp"', options, { spi: { names: ['espspi'], invert: true } });
    return { extension: esp, revision: 0, value: parseSpi(o.spi, [0, 0xffffffff], 'match "esp"') };
  },
};
