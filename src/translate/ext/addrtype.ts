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
import type { CheckContext, Extension, NetnsMap, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import {
  Add,
  And,
  Call,
  FP,
  Ja,
  JEq,
  JNe,
  LoadMapPtr,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R8,
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  ToBe,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { CTX, RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

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
  engine: {
    recordSize: 8,
    record(v: AddrtypeMatch, revision: number): Buffer {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(v.source, 0);
      b.writeUInt16LE(v.dest, 2);
      // Revision 0's `bool &= match ^ invert` honours the low bit of its u32s only.
      const flags =
        revision === 0
          ? (v.invertSource & 1) | ((v.invertDest & 1) << 1)
          : v.flags &
            (XT_ADDRTYPE_INVERT_SOURCE |
              XT_ADDRTYPE_INVERT_DEST |
              XT_ADDRTYPE_LIMIT_IFACE_IN |
              XT_ADDRTYPE_LIMIT_IFACE_OUT);
      b[4] = flags;
      return b;
    },
    netns: {
      map: 'addrtypes',
      type: 'lpm_trie',
      keySize: 8,
      valueSize: 8,
      maxEntries: 1 << 20,
    } satisfies NetnsMap,
    evaluate: addrtypeCode,
  },
};

/** The namespace's answers of inet_dev_addr_type, by prefix (bpf/addrtypes.ts keeps them). */
export const ADDRTYPES_MAP = 'addrtypes';

const RTN_UNICAST = 1;
const RTN_BROADCAST = 3;
const RTN_MULTICAST = 5;
const BPF_FUNC_map_lookup_elem = 1;

/**
 * addrtype_mt_v1 on IPv4: each side with a mask, its address's type (R8) against the mask, the
 * side's inversion; the destination only when the source held.
 */
function addrtypeCode(cg: EvalContext): Insn[] {
  const key = cg.scratch;
  const state = cg.ctxLayout.state;
  const devIn = cg.kernel.memberOffset('nf_hook_state', 'in');
  const devOut = cg.kernel.memberOffset('nf_hook_state', 'out');
  const ifindex = cg.kernel.memberOffset('net_device', 'ifindex');
  const out: Insn[] = [];
  const sides = [
    { mask: 0, ip: S.IP + 12, inv: XT_ADDRTYPE_INVERT_SOURCE },
    { mask: 2, ip: S.IP + 16, inv: XT_ADDRTYPE_INVERT_DEST },
  ] as const;
  for (const side of sides) {
    const skip = cg.label('at_skip');
    const typed = cg.label('at_typed');
    const lookup = cg.label('at_lookup');
    const noDev = cg.label('at_nodev');
    const inverted = cg.label('at_inv');
    const pickOut = cg.label('at_out');
    out.push(
      LoadMem(R1, RECORD, side.mask, Size.H),
      JEq.imm(R1, 0, skip),
      LoadMem(R2, STATE, side.ip, Size.W),
      Mov.reg(R3, R2),
      ToBe(R3, 32),
      Mov.imm(R8, RTN_BROADCAST),
      // ipv4_is_zeronet, ipv4_is_lbcast, ipv4_is_multicast
      Mov.reg(R4, R3),
      Rsh.imm(R4, 24),
      JEq.imm(R4, 0, typed),
      JEq.imm32(R3, -1, typed),
      Mov.imm(R8, RTN_MULTICAST),
      Rsh.imm(R4, 4),
      JNe.imm(R4, 0xe, lookup),
      Ja(typed),
      withLabel(StoreImm(FP, key, 32, Size.W), lookup),
      StoreMem(FP, key + 4, R2, Size.W),
      LoadMapPtr(R1, ADDRTYPES_MAP),
      Mov.reg(R2, FP),
      Add.imm(R2, key),
      Call.helper(BPF_FUNC_map_lookup_elem),
      Mov.imm(R8, RTN_UNICAST),
      JEq.imm(R0, 0, typed),
      LoadMem(R8, R0, 0, Size.B),
      // --limit-iface-in/out: the answer holds only for the route's first nexthop device.
      LoadMem(R1, R0, 1, Size.B),
      JEq.imm(R1, 0, typed),
      LoadMem(R1, RECORD, 4, Size.B),
      Mov.reg(R3, R1),
      And.imm(R3, XT_ADDRTYPE_LIMIT_IFACE_IN | XT_ADDRTYPE_LIMIT_IFACE_OUT),
      JEq.imm(R3, 0, typed),
      LoadMem(R2, CTX, state, Size.DW),
      And.imm(R1, XT_ADDRTYPE_LIMIT_IFACE_OUT),
      JNe.imm(R1, 0, pickOut),
      LoadMem(R3, R2, devIn, Size.DW),
      Ja(noDev),
      withLabel(LoadMem(R3, R2, devOut, Size.DW), pickOut),
      withLabel(JEq.imm(R3, 0, typed), noDev),
      LoadMem(R4, R3, ifindex, Size.W),
      LoadMem(R5, R0, 4, Size.W),
      JEq.reg(R4, R5, typed),
      Mov.imm(R8, RTN_UNICAST),
      withLabel(LoadMem(R1, RECORD, side.mask, Size.H), typed),
      Rsh.reg(R1, R8),
      And.imm(R1, 1),
      LoadMem(R3, RECORD, 4, Size.B),
      And.imm(R3, side.inv),
      JNe.imm(R3, 0, inverted),
      JEq.imm(R1, 0, cg.noMatch),
      Ja(skip),
      withLabel(JNe.imm(R1, 0, cg.noMatch), inverted),
      withLabel(Nop(), skip),
    );
  }
  return out;
}

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
