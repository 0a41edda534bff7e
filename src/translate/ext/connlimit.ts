// -m connlimit: struct xt_connlimit_info (linux/netfilter/xt_connlimit.h), revision 1 (revision
// 0 is gone from the kernel), registered per family. Only the mask, limit and flags are user
// data; the last 8 bytes are the kernel's nf_conncount pointer. connlimit_mt_check refuses no
// value: it takes a conntrack reference for the netns (so conntrack runs there from then on) and
// allocates the per-rule connection counts.
import { randomBytes } from 'node:crypto';
import { OptionError, parsePrefixLength, parseUint, prefixMask, readOptions } from './args.js';
import type { Extension, NetnsMap, SaveOption } from './types.js';
import { type InetAddr, payload, zeroed } from './util.js';
import {
  CKEY,
  CONNLIMIT_CONNS,
  CONNLIMIT_COUNTS,
  CONNS_CAPACITY,
  COUNTS_CAPACITY,
  connlimitCode,
  CVAL,
  REC,
  REC_BYTES,
  TKEY,
  TVAL,
} from '../../bpf/codegen/connlimit.js';

export const XT_CONNLIMIT_INVERT = 1 << 0;
export const XT_CONNLIMIT_DADDR = 1 << 1;

export interface ConnlimitMatch {
  /** Applied to the address before counting (union nf_inet_addr; IPv4 uses the first word). */
  readonly mask: InetAddr;
  /** Connections allowed before the match holds (or, inverted, stops holding). */
  readonly limit: number;
  /** XT_CONNLIMIT_INVERT (match while count <= limit), XT_CONNLIMIT_DADDR (count per dst). */
  readonly flags: number;
}

const SIZE = 32;
const USER_SIZE = 24;
const ALL_ONES: InetAddr = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

export const connlimit: Extension<ConnlimitMatch> = {
  kind: 'match',
  name: 'connlimit',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): ConnlimitMatch {
    const b = payload(data, SIZE);
    const w = (i: number): number => b.readUInt32BE(4 * i);
    return { mask: [w(0), w(1), w(2), w(3)], limit: b.readUInt32LE(16), flags: b.readUInt32LE(20) };
  },
  encode(v: ConnlimitMatch): Buffer {
    const b = zeroed(SIZE);
    v.mask.forEach((w, i) => b.writeUInt32BE(w >>> 0, 4 * i));
    b.writeUInt32LE(v.limit >>> 0, 16);
    b.writeUInt32LE(v.flags >>> 0, 20);
    return b;
  },
  check(): void {},
  format(v: ConnlimitMatch): string {
    const limit =
      (v.flags & XT_CONNLIMIT_INVERT) !== 0
        ? `--connlimit-upto ${v.limit}`
        : `--connlimit-above ${v.limit}`;
    const side = (v.flags & XT_CONNLIMIT_DADDR) !== 0 ? '--connlimit-daddr' : '--connlimit-saddr';
    return `${limit} --connlimit-mask ${maskBits(v.mask[0])} ${side}`;
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "connlimit"';
    const o = readOptions(what, options, {
      upto: { names: ['connlimit-upto'], invert: true },
      above: { names: ['connlimit-above'], invert: true },
      mask: { names: ['connlimit-mask'] },
      saddr: { names: ['connlimit-saddr'], args: 0 },
      daddr: { names: ['connlimit-daddr'], args: 0 },
    });
    const limitOpt = o.upto ?? o.above;
    if (limitOpt === undefined) {
      throw new OptionError(`${what}: --connlimit-above or --connlimit-upto is required`);
    }
    if (o.upto !== undefined && o.above !== undefined) {
      throw new OptionError(`${what}: --connlimit-upto and --connlimit-above exclude each other`);
    }
    if (o.saddr !== undefined && o.daddr !== undefined) {
      throw new OptionError(`${what}: --connlimit-saddr and --connlimit-daddr exclude each other`);
    }
    let flags = 0;
    // --connlimit-upto inverts without "!", --connlimit-above with it.
    if (limitOpt === o.upto ? !limitOpt.invert : limitOpt.invert) flags |= XT_CONNLIMIT_INVERT;
    if (o.daddr !== undefined) flags |= XT_CONNLIMIT_DADDR;
    const value: ConnlimitMatch = {
      // connlimit_init sets all 16 mask bytes; --connlimit-mask rewrites them as a PLENMASK.
      mask:
        o.mask === undefined
          ? ALL_ONES
          : prefixMask(parsePrefixLength(o.mask.args[0] ?? '', `${what}: --connlimit-mask`)),
      limit: parseUint(limitOpt.args[0] ?? '', 0, 0xffffffff, `${what}: --${limitOpt.name}`),
      flags,
    };
    return { extension: connlimit, revision: 1, value };
  },
  engine: {
    // Counting a connection changes what the next packet sees.
    stateful: true,
    recordSize: REC_BYTES,
    freshRecord: true,
    record(v: ConnlimitMatch): Buffer {
      const b = Buffer.alloc(REC_BYTES);
      b.writeBigUInt64LE(nextEpoch(), REC.EPOCH);
      b.writeUInt32BE(v.mask[0] >>> 0, REC.MASK);
      b.writeUInt32LE(v.limit >>> 0, REC.LIMIT);
      b.writeUInt32LE(v.flags >>> 0, REC.FLAGS);
      return b;
    },
    netns: [
      {
        map: CONNLIMIT_COUNTS,
        type: 'hash',
        keySize: CKEY.BYTES,
        valueSize: CVAL.BYTES,
        maxEntries: COUNTS_CAPACITY,
      },
      {
        map: CONNLIMIT_CONNS,
        type: 'hash',
        keySize: TKEY.BYTES,
        valueSize: TVAL.BYTES,
        maxEntries: CONNS_CAPACITY,
      },
    ] satisfies readonly NetnsMap[],
    evaluate: connlimitCode,
  },
};

/**
 * Each rule's lists are its own and fresh for every ruleset, as connlimit_mt_check allocates
 * them: records get an epoch no earlier record had (random high bits: a restarted helper's
 * epochs do not meet the ones its predecessor left in the pinned maps).
 */
let epoch = BigInt(randomBytes(4).readUInt32LE(0)) << 32n;
function nextEpoch(): bigint {
  epoch += 1n;
  return epoch;
}

/** libxt_connlimit's count_bits4: 32 minus the significant bits of the mask's complement. */
export function maskBits(mask: number): number {
  let bits = 0;
  for (let m = ~mask >>> 0; m !== 0; m >>>= 1) bits++;
  return 32 - bits;
}
