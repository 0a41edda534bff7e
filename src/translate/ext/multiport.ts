// -m multiport: struct xt_multiport_v1 (linux/netfilter/xt_multiport.h), revision 1 (the kernel
// dropped revision 0). Registered per family without .proto: multiport_mt_check itself demands a
// port-carrying -p without `!`, a known mode, count <= 15 and well-formed ranges (pflags[i] != 0
// makes ports[i]..ports[i+1] a range: it needs a following slot within count that is not itself
// a range start, and lo <= hi — multiport_valid_ranges, in the kernels we run on), all EINVAL.
import { EINVAL, XtError } from '../errno.js';
import type { CheckContext, Extension } from './types.js';
import {
  IPPROTO_DCCP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  payload,
  zeroed,
} from './util.js';

export const XT_MULTIPORT_SOURCE = 0;
export const XT_MULTIPORT_DESTINATION = 1;
export const XT_MULTIPORT_EITHER = 2;
export const XT_MULTI_PORTS = 15;

export interface MultiportMatch {
  /** XT_MULTIPORT_SOURCE / DESTINATION / EITHER. */
  readonly flags: number;
  /** How many of `ports` the kernel reads. */
  readonly count: number;
  /** All 15 slots as stored, so unused slots round-trip too. */
  readonly ports: readonly number[];
  readonly pflags: readonly number[];
  readonly invert: number;
}

const SIZE = 48;
const PFLAGS = 32;
const INVERT = 47;
const PORT_PROTOS: ReadonlySet<number> = new Set([
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  IPPROTO_SCTP,
  IPPROTO_DCCP,
]);

export const multiport: Extension<MultiportMatch> = {
  kind: 'match',
  name: 'multiport',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): MultiportMatch {
    const b = payload(data, SIZE);
    const ports: number[] = [];
    const pflags: number[] = [];
    for (let i = 0; i < XT_MULTI_PORTS; i++) {
      ports.push(b.readUInt16LE(2 + 2 * i));
      pflags.push(b[PFLAGS + i] ?? 0);
    }
    return { flags: b[0] ?? 0, count: b[1] ?? 0, ports, pflags, invert: b[INVERT] ?? 0 };
  },
  encode(v: MultiportMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.flags, 0);
    b.writeUInt8(v.count, 1);
    for (let i = 0; i < XT_MULTI_PORTS; i++) {
      b.writeUInt16LE(v.ports[i] ?? 0, 2 + 2 * i);
      b.writeUInt8(v.pflags[i] ?? 0, PFLAGS + i);
    }
    b.writeUInt8(v.invert, INVERT);
    return b;
  },
  check(v: MultiportMatch, _revision: number, ctx: CheckContext): void {
    if (!PORT_PROTOS.has(ctx.proto) || ctx.invProto) {
      throw new XtError(
        EINVAL,
        `match "multiport" needs -p tcp/udp/udplite/sctp/dccp without "!", rule has ${ctx.invProto ? '! ' : ''}-p ${ctx.proto}`,
      );
    }
    if (v.flags > XT_MULTIPORT_EITHER) {
      throw new XtError(EINVAL, `match "multiport": unknown mode ${v.flags}`);
    }
    if (v.count > XT_MULTI_PORTS) {
      throw new XtError(EINVAL, `match "multiport": ${v.count} ports, at most ${XT_MULTI_PORTS}`);
    }
    const bad = badRange(v);
    if (bad !== -1) {
      throw new XtError(EINVAL, `match "multiport": malformed port range at slot ${bad}`);
    }
  },
  format(v: MultiportMatch): string {
    const opt = ['--sports', '--dports', '--ports'][v.flags] ?? `--mode${v.flags}`;
    const items: string[] = [];
    for (let i = 0; i < v.count; i++) {
      const lo = v.ports[i] ?? 0;
      if ((v.pflags[i] ?? 0) !== 0) items.push(`${lo}:${v.ports[++i] ?? 0}`);
      else items.push(String(lo));
    }
    return `${v.invert !== 0 ? '! ' : ''}${opt} ${items.join(',')}`;
  },
};

/** multiport_valid_ranges: the slot of the first malformed range, or -1. */
function badRange(v: MultiportMatch): number {
  for (let i = 0; i < v.count; i++) {
    if ((v.pflags[i] ?? 0) === 0) continue;
    const start = i++;
    if (i >= v.count || (v.pflags[i] ?? 0) !== 0) return start;
    if ((v.ports[i - 1] ?? 0) > (v.ports[i] ?? 0)) return start;
  }
  return -1;
}
