// -p dccp: struct xt_dccp_info (linux/netfilter/xt_dccp.h), revision 0 of xt_dccp.c, registered
// per family with .proto = IPPROTO_DCCP; dccp_mt_check refuses (EINVAL) flags or invflags
// outside XT_DCCP_VALID_FLAGS and an invflags bit whose test is not enabled in flags.
// Note the layout: destination ports come first.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parsePortRC, parseUint, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import {
  IPPROTO_DCCP,
  inv,
  payload,
  portRange,
  readPad,
  requireProto,
  writePad,
  zeroed,
} from './util.js';

export const XT_DCCP_SRC_PORTS = 0x01;
export const XT_DCCP_DEST_PORTS = 0x02;
export const XT_DCCP_TYPE = 0x04;
export const XT_DCCP_OPTION = 0x08;
export const XT_DCCP_VALID_FLAGS = 0x0f;

/** DCCP packet types by number (linux/dccp.h); a name's bit is 1 << its index. */
export const DCCP_TYPES = [
  'REQUEST',
  'RESPONSE',
  'DATA',
  'ACK',
  'DATAACK',
  'CLOSEREQ',
  'CLOSE',
  'RESET',
  'SYNC',
  'SYNCACK',
  'INVALID',
] as const;
const DCCP_PKT_INVALID = 10;
/** libxt_dccp adds the reserved types 11-15 to INVALID. */
const INVALID_OTHER_TYPE_MASK = 0xf800;

export interface DccpMatch {
  readonly dpts: readonly [number, number];
  readonly spts: readonly [number, number];
  readonly flags: number;
  readonly invflags: number;
  readonly typemask: number;
  readonly option: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** Six u16 and a u8: 15 bytes padded to 16. */
const SIZE = 16;

export const dccp: Extension<DccpMatch> = {
  kind: 'match',
  name: 'dccp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): DccpMatch {
    const b = payload(data, SIZE);
    return {
      dpts: [b.readUInt16LE(0), b.readUInt16LE(2)],
      spts: [b.readUInt16LE(4), b.readUInt16LE(6)],
      flags: b.readUInt16LE(8),
      invflags: b.readUInt16LE(10),
      typemask: b.readUInt16LE(12),
      option: b[14] ?? 0,
      ...readPad(b, 15, 1),
    };
  },
  encode(v: DccpMatch): Buffer {
    const b = zeroed(SIZE);
    [v.dpts[0], v.dpts[1], v.spts[0], v.spts[1], v.flags, v.invflags, v.typemask].forEach((x, i) =>
      b.writeUInt16LE(x, 2 * i),
    );
    b.writeUInt8(v.option, 14);
    writePad(b, 15, 1, v.pad);
    return b;
  },
  check(v: DccpMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_DCCP, 'match "dccp"');
    if (
      (v.flags & ~XT_DCCP_VALID_FLAGS) !== 0 ||
      (v.invflags & ~XT_DCCP_VALID_FLAGS) !== 0 ||
      (v.invflags & ~v.flags) !== 0
    ) {
      throw new XtError(
        EINVAL,
        `match "dccp": flags 0x${v.flags.toString(16)} invflags 0x${v.invflags.toString(16)}`,
      );
    }
  },
  format(v: DccpMatch): string {
    const parts: string[] = [];
    const neg = (bit: number): string => inv((v.invflags & bit) !== 0);
    if (v.flags & XT_DCCP_SRC_PORTS) {
      parts.push(`${neg(XT_DCCP_SRC_PORTS)}--sport ${portRange(...v.spts)}`);
    }
    if (v.flags & XT_DCCP_DEST_PORTS) {
      parts.push(`${neg(XT_DCCP_DEST_PORTS)}--dport ${portRange(...v.dpts)}`);
    }
    if (v.flags & XT_DCCP_TYPE) {
      parts.push(`${neg(XT_DCCP_TYPE)}--dccp-types ${typeNames(v.typemask)}`);
    }
    if (v.flags & XT_DCCP_OPTION) parts.push(`${neg(XT_DCCP_OPTION)}--dccp-option ${v.option}`);
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "dccp"';
    const o = readOptions(what, options, {
      sport: { names: ['sport', 'source-port'], invert: true },
      dport: { names: ['dport', 'destination-port'], invert: true },
      types: { names: ['dccp-types'], invert: true },
      option: { names: ['dccp-option'], invert: true },
    });
    let flags = 0;
    let invflags = 0;
    const use = (opt: SaveOption | undefined, bit: number): opt is SaveOption => {
      if (opt === undefined) return false;
      flags |= bit;
      if (opt.invert) invflags |= bit;
      return true;
    };
    const text = (opt: SaveOption): string => opt.args[0] ?? '';
    const spts = use(o.sport, XT_DCCP_SRC_PORTS)
      ? parsePortRC(text(o.sport), `${what}: --${o.sport.name}`)
      : ([0, 0] as [number, number]);
    const dpts = use(o.dport, XT_DCCP_DEST_PORTS)
      ? parsePortRC(text(o.dport), `${what}: --${o.dport.name}`)
      : ([0, 0] as [number, number]);
    const typemask = use(o.types, XT_DCCP_TYPE) ? parseTypes(text(o.types), what) : 0;
    const option = use(o.option, XT_DCCP_OPTION)
      ? parseUint(text(o.option), 1, 255, `${what}: --dccp-option`)
      : 0;
    const value: DccpMatch = { dpts, spts, flags, invflags, typemask, option };
    return { extension: dccp, revision: 0, value };
  },
};

/** parse_dccp_types: comma list (empty items skipped), names case-insensitive. */
function parseTypes(s: string, what: string): number {
  let mask = 0;
  for (const item of s.split(',').filter((x) => x !== '')) {
    const i = DCCP_TYPES.findIndex((n) => n === item.toUpperCase());
    if (i === -1) throw new OptionError(`${what}: unknown DCCP type "${item}"`);
    mask |= 1 << i;
  }
  return mask & (1 << DCCP_PKT_INVALID) ? mask | INVALID_OTHER_TYPE_MASK : mask;
}

/**
 * print_types: names from the lowest bit up, stopping after INVALID (which stands for 11-15
 * too). A reserved type without INVALID makes iptables read past its name table; we print its
 * number instead.
 */
function typeNames(mask: number): string {
  const names: string[] = [];
  for (let i = 0; i < 16; i++) {
    if ((mask & (1 << i)) === 0) continue;
    names.push(DCCP_TYPES[i] ?? String(i));
    if (i === DCCP_PKT_INVALID) break;
  }
  return names.join(',');
}
