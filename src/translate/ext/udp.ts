// -p udp: struct xt_udp (linux/netfilter/xt_tcpudp.h), "udp" revision 0 of xt_tcpudp.c.
// Registered with .proto = IPPROTO_UDP (xt_check_match: `-p udp` without `!`); udp_mt_check
// refuses unknown invflags.
import { EINVAL, XtError } from '../errno.js';
import { parsePortRange, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_UDP, inv, payload, portRange, requireProto, zeroed } from './util.js';
import {
  L4_SHORT,
  L4_WHOLE,
  box,
  intersect,
  interval,
  range,
  union,
  type Region,
} from '../classify/key.js';
import { Size } from '../../bpf/asm/index.js';
import { inRange, loadBe16, requireFirstFragment, requireL4 } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { S } from '../../bpf/codegen/state.js';

export const XT_UDP_INV_SRCPT = 0x01;
export const XT_UDP_INV_DSTPT = 0x02;
export const XT_UDP_INV_MASK = 0x03;

export interface UdpMatch {
  /** Inclusive source port range [lo, hi]; [0, 65535] = any. */
  readonly spts: readonly [number, number];
  readonly dpts: readonly [number, number];
  readonly invflags: number;
}

const SIZE = 10;

export const udp: Extension<UdpMatch> = {
  kind: 'match',
  name: 'udp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): UdpMatch {
    const b = payload(data, SIZE);
    return {
      spts: [b.readUInt16LE(0), b.readUInt16LE(2)],
      dpts: [b.readUInt16LE(4), b.readUInt16LE(6)],
      invflags: b[8] ?? 0,
    };
  },
  encode(v: UdpMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.spts[0], 0);
    b.writeUInt16LE(v.spts[1], 2);
    b.writeUInt16LE(v.dpts[0], 4);
    b.writeUInt16LE(v.dpts[1], 6);
    b.writeUInt8(v.invflags, 8);
    return b;
  },
  check(v: UdpMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_UDP, 'match "udp"');
    if ((v.invflags & ~XT_UDP_INV_MASK) !== 0) {
      throw new XtError(EINVAL, `match "udp": unknown invflags 0x${v.invflags.toString(16)}`);
    }
  },
  format(v: UdpMatch): string {
    const parts: string[] = [];
    if (v.spts[0] !== 0 || v.spts[1] !== 0xffff) {
      parts.push(`${inv((v.invflags & XT_UDP_INV_SRCPT) !== 0)}--sport ${portRange(...v.spts)}`);
    }
    if (v.dpts[0] !== 0 || v.dpts[1] !== 0xffff) {
      parts.push(`${inv((v.invflags & XT_UDP_INV_DSTPT) !== 0)}--dport ${portRange(...v.dpts)}`);
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "udp"', options, {
      sport: { names: ['sport', 'source-port'], invert: true },
      dport: { names: ['dport', 'destination-port'], invert: true },
    });
    let invflags = 0;
    const ports = (opt: SaveOption | undefined, bit: number): [number, number] => {
      if (opt === undefined) return [0, 0xffff];
      if (opt.invert) invflags |= bit;
      return parsePortRange(opt.args[0] ?? '', `match "udp": --${opt.name}`);
    };
    const spts = ports(o.sport, XT_UDP_INV_SRCPT);
    const dpts = ports(o.dport, XT_UDP_INV_DSTPT);
    const value: UdpMatch = { spts, dpts, invflags };
    return { extension: udp, revision: 0, value };
  },
  engine: {
    hotdrops: true,
    region: udpRegion,
    recordSize: SIZE,
    record: (v: UdpMatch) => udp.encode(v, 0),
    evaluate: (cg: EvalContext) => [
      ...requireFirstFragment(cg),
      ...requireL4(8, cg),
      ...inRange(loadBe16(S.L4), 0, 2, Size.H, { offset: 8, bit: XT_UDP_INV_SRCPT }, cg),
      ...inRange(loadBe16(S.L4 + 2), 4, 6, Size.H, { offset: 8, bit: XT_UDP_INV_DSTPT }, cg),
    ],
  },
};

/** udp_mt's packets: whole UDP headers with ports in range, and cut-short ones it hotdrops. */
export function udpRegion(v: UdpMatch): Region {
  const whole = intersect(
    [box(true, range('proto', IPPROTO_UDP, IPPROTO_UDP), range('l4', L4_WHOLE, L4_WHOLE))],
    intersect(
      interval('sport', v.spts[0], v.spts[1], (v.invflags & XT_UDP_INV_SRCPT) !== 0),
      interval('dport', v.dpts[0], v.dpts[1], (v.invflags & XT_UDP_INV_DSTPT) !== 0),
    ),
  );
  return union(whole, [
    box(false, range('proto', IPPROTO_UDP, IPPROTO_UDP), range('l4', L4_SHORT, L4_SHORT)),
  ]);
}
