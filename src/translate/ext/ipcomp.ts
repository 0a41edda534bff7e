// -m ipcomp: struct xt_ipcomp (linux/netfilter/xt_ipcomp.h), revision 0 of xt_ipcomp.c,
// registered per family with .proto = IPPROTO_COMP; comp_mt_check refuses unknown invflags
// (EINVAL). Matches a non-fragment's 16-bit CPI in [lo, hi] ^ invert; hdrres is stored but never
// tested by the kernel. libxt_ipcomp has no init, so without --ipcompspi the range is [0, 0]
// (which iptables-save then prints as "--ipcompspi 0").
import { readOptions } from './args.js';
import {
  checkSpi,
  decodeSpi,
  encodeSpi,
  formatSpi,
  parseSpi,
  spiEngine,
  SPI_SIZE as SIZE,
  type SpiRange,
} from './spi.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { requireProto } from './util.js';

export const XT_IPCOMP_INV_SPI = 0x01;
export const IPPROTO_COMP = 108;

export interface IpcompMatch extends SpiRange {
  readonly hdrres: number;
}

export const ipcomp: Extension<IpcompMatch> = {
  kind: 'match',
  name: 'ipcomp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): IpcompMatch {
    const { rest, ...spi } = decodeSpi(data, 10);
    return { ...spi, hdrres: rest[9] ?? 0 };
  },
  encode(v: IpcompMatch): Buffer {
    const b = encodeSpi(v, 10);
    b.writeUInt8(v.hdrres, 9);
    return b;
  },
  check(v: IpcompMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_COMP, 'match "ipcomp"');
    checkSpi(v, 'match "ipcomp"');
  },
  format(v: IpcompMatch): string {
    const spi = formatSpi(v, 'ipcompspi');
    const res = v.hdrres !== 0 ? '--compres' : '';
    return [spi, res].filter((s) => s !== '').join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "ipcomp"', options, {
      spi: { names: ['ipcompspi'], invert: true },
      res: { names: ['compres'], args: 0 },
    });
    const spi = parseSpi(o.spi, [0, 0], 'match "ipcomp"');
    return { extension: ipcomp, revision: 0, value: { ...spi, hdrres: o.res ? 1 : 0 } };
  },
  // struct ip_comp_hdr: nexthdr, flags, cpi (16 bits).
  engine: spiEngine({ header: 4, offset: 2, size: 2 }, (v: IpcompMatch) => ipcomp.encode(v, 0)),
};
