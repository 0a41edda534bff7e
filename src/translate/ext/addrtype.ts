// -m addrtype: struct xt_addrtype_info (revision 0) and xt_addrtype_info_v1 (revision 1), both in
// linux/netfilter/xt_addrtype.h, registered per family. A type mask has bit 1 << RTN_* for each
// route type the address may have (what inet_dev_addr_type answers). Revision 0 has no
// checkentry and keeps its inversions as two u32s; revision 1 (what iptables 1.8 sends) folds
// them into `flags` with the --limit-iface-in/out choice that addrtype_mt_checkentry_v1 checks
// against the hooks the rule is reachable from.
import {
  NF_INET_LOCAL_IN,
  NF_INET_LOCAL_OUT,
  NF_INET_POST_ROUTING,
  NF_INET_PRE_ROUTING,
} from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import { OptionError, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';

export const XT_ADDRTYPE_INVERT_SOURCE = 0x0001;
export const XT_ADDRTYPE_INVERT_DEST = 0x0002;
export const XT_ADDRTYPE_LIMIT_IFACE_IN = 0x0004;
export const XT_ADDRTYPE_LIMIT_IFACE_OUT = 0x0008;

/** The route types in RTN_* order: bit i of a type mask is ADDRTYPE_NAMES[i]. */
export const ADDRTYPE_NAMES = [
  'UNSPEC',
  'UNICAST',
  'LOCAL',
  'BROADCAST',
  'ANYCAST',
  'MULTICAST',
  'BLACKHOLE',
  'UNREACHABLE',
  'PROHIBIT',
  'THROW',
  'NAT',
  'XRESOLVE',
] as const;

export interface AddrtypeMatch {
  /** u16 type masks (bit 1 << RTN_*); 0 = the address is not tested. */
  readonly source: number;
  readonly dest: number;
  /** Revision 1: XT_ADDRTYPE_INVERT_* | XT_ADDRTYPE_LIMIT_IFACE_*. Always 0 in revision 0. */
  readonly flags: number;
  /**
   * Revision 0's invert_source / invert_dest u32s as stored; always 0 in revision 1. iptables
   * prints "!" for any non-zero value, while the kernel's `bool &= match ^ invert` only honours
   * the low bit.
   */
  readonly invertSource: number;
  readonly invertDest: number;
}

const SIZES: Readonly<Record<number, number>> = { 0: 12, 1: 8 };

function sizeOf(revision: number): number {
  return SIZES[revision] ?? 8;
}

const INPUT_SIDE = (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_IN);
const OUTPUT_SIDE = (1 << NF_INET_POST_ROUTING) | (1 << NF_INET_LOCAL_OUT);

export const addrtype: Extension<AddrtypeMatch> = {
  kind: 'match',
  name: 'addrtype',
  revisions: [0, 1],
  dataSize: sizeOf,
  userSize: sizeOf,
  decode(data: Buffer, revision: number): AddrtypeMatch {
    const b = payload(data, sizeOf(revision));
    const source = b.readUInt16LE(0);
    const dest = b.readUInt16LE(2);
    if (revision === 0) {
      return {
        source,
        dest,
        flags: 0,
        invertSource: b.readUInt32LE(4),
        invertDest: b.readUInt32LE(8),
      };
    }
    return { source, dest, flags: b.readUInt32LE(4), invertSource: 0, invertDest: 0 };
  },
  encode(v: AddrtypeMatch, revision: number): Buffer {
    const b = zeroed(sizeOf(revision));
    b.writeUInt16LE(v.source, 0);
    b.writeUInt16LE(v.dest, 2);
    if (revision === 0) {
      b.writeUInt32LE(v.invertSource >>> 0, 4);
      b.writeUInt32LE(v.invertDest >>> 0, 8);
    } else {
      b.writeUInt32LE(v.flags >>> 0, 4);
    }
    return b;
  },
  check(v: AddrtypeMatch, revision: number, ctx: CheckContext): void {
    if (revision === 0) return;
    const limitIn = (v.flags & XT_ADDRTYPE_LIMIT_IFACE_IN) !== 0;
    const limitOut = (v.flags & XT_ADDRTYPE_LIMIT_IFACE_OUT) !== 0;
    const what = 'match "addrtype"';
    if (limitIn && limitOut) {
      throw new XtError(EINVAL, `${what}: both --limit-iface-in and --limit-iface-out`);
    }
    if (limitOut && (ctx.hookMask & INPUT_SIDE) !== 0) {
      throw new XtError(EINVAL, `${what}: --limit-iface-out in PREROUTING or INPUT`);
    }
    if (limitIn && (ctx.hookMask & OUTPUT_SIDE) !== 0) {
      throw new XtError(EINVAL, `${what}: --limit-iface-in in POSTROUTING or OUTPUT`);
    }
  },
  format(v: AddrtypeMatch, revision: number): string {
    const invSrc =
      revision === 0 ? v.invertSource !== 0 : (v.flags & XT_ADDRTYPE_INVERT_SOURCE) !== 0;
    const invDst = revision === 0 ? v.invertDest !== 0 : (v.flags & XT_ADDRTYPE_INVERT_DEST) !== 0;
    // addrtype_save_v*: a side only when its mask is set; the names of bits 12-15 are not printed.
    let out = '';
    if (v.source !== 0) out += `${invSrc ? ' !' : ''} --src-type ${typeNames(v.source)}`;
    if (v.dest !== 0) out += `${invDst ? ' !' : ''} --dst-type ${typeNames(v.dest)}`;
    if (revision !== 0) {
      if ((v.flags & XT_ADDRTYPE_LIMIT_IFACE_IN) !== 0) out += ' --limit-iface-in';
      if ((v.flags & XT_ADDRTYPE_LIMIT_IFACE_OUT) !== 0) out += ' --limit-iface-out';
    }
    return out.slice(1);
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "addrtype"';
    const o = readOptions(what, options, {
      src: { names: ['src-type'], invert: true },
      dst: { names: ['dst-type'], invert: true },
      limitIn: { names: ['limit-iface-in'], args: 0 },
      limitOut: { names: ['limit-iface-out'], args: 0 },
    });
    if (o.src === undefined && o.dst === undefined) {
      throw new OptionError(`${what}: --src-type or --dst-type is required`);
    }
    if (o.limitIn !== undefined && o.limitOut !== undefined) {
      throw new OptionError(`${what}: --limit-iface-in and --limit-iface-out exclude each other`);
    }
    let flags = 0;
    if (o.src?.invert === true) flags |= XT_ADDRTYPE_INVERT_SOURCE;
    if (o.dst?.invert === true) flags |= XT_ADDRTYPE_INVERT_DEST;
    if (o.limitIn !== undefined) flags |= XT_ADDRTYPE_LIMIT_IFACE_IN;
    if (o.limitOut !== undefined) flags |= XT_ADDRTYPE_LIMIT_IFACE_OUT;
    const value: AddrtypeMatch = {
      source: o.src === undefined ? 0 : parseTypes(o.src.args[0] ?? '', `${what}: --src-type`),
      dest: o.dst === undefined ? 0 : parseTypes(o.dst.args[0] ?? '', `${what}: --dst-type`),
      flags,
      invertSource: 0,
      invertDest: 0,
    };
    return { extension: addrtype, revision: 1, value };
  },
};

/** The names of a type mask's bits 0-11 in RTN_* order, comma-separated. */
export function typeNames(mask: number): string {
  return ADDRTYPE_NAMES.filter((_, i) => (mask & (1 << i)) !== 0).join(',');
}

/**
 * libxt_addrtype's parse_types: comma-separated names, each matched case-insensitively as a
 * prefix of a type name, the first in RTN_* order winning ("U" is UNSPEC, "UNI" UNICAST).
 */
function parseTypes(s: string, what: string): number {
  let mask = 0;
  for (const item of s.split(',')) {
    const lower = item.toLowerCase();
    const i = ADDRTYPE_NAMES.findIndex((n) => n.toLowerCase().startsWith(lower));
    if (item === '' || i === -1) throw new OptionError(`${what}: bad type "${item}"`);
    mask |= 1 << i;
  }
  return mask;
}
