// -m ah: struct ipt_ah (linux/netfilter_ipv4/ipt_ah.h), revision 0 of ipt_ah.c, IPv4 only, with
// .proto = IPPROTO_AH; checkentry refuses unknown invflags (EINVAL). The IPv4 struct has only
// the SPI range (--ahlen and --ahres are ip6t_ah's). Same layout and syntax as esp.
import { readOptions } from './args.js';
import { checkSpi, decodeSpi, encodeSpi, formatSpi, parseSpi, type SpiRange } from './spi.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { requireProto, zeroed } from './util.js';

export const IPT_AH_INV_SPI = 0x01;
export const IPPROTO_AH = 51;

export type AhMatch = SpiRange;

const SIZE = 12;

export const ah: Extension<AhMatch> = {
  kind: 'match',
  name: 'ah',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): AhMatch {
    const { spis, invflags } = decodeSpi(data, SIZE);
    return { spis, invflags };
  },
  encode(v: AhMatch): Buffer {
    return encodeSpi(v, zeroed(SIZE));
  },
  check(v: AhMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_AH, 'match "ah"');
    checkSpi(v, 'match "ah"');
  },
  format(v: AhMatch): string {
    return formatSpi(v, 'ahspi');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "ah"', options, { spi: { names: ['ahspi'], invert: true } });
    return { extension: ah, revision: 0, value: parseSpi(o.spi, [0, 0xffffffff], 'match "ah"') };
  },
};
