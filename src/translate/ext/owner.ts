// -m owner: struct xt_owner_match_info (linux/netfilter/xt_owner.h), revision 1 (revision 0,
// ipt_owner, is gone from the kernel), registered per family with .hooks = OUTPUT and
// POSTROUTING: only locally generated packets carry the socket it tests. owner_check refuses
// unknown match bits and, for --uid-owner/--gid-owner, ids the netns's user namespace cannot map
// (in the initial namespace only (u32)-1) or a range whose max is below its min, all EINVAL. It
// also refuses those options when the writer's user namespace is not the netns's; the helper
// writes from the initial namespace, where that never happens.
import { NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import { OptionError, optionBits, parseUintPrefix, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { payload, requireHooks, zeroed } from './util.js';

export const XT_OWNER_UID = 1 << 0;
export const XT_OWNER_GID = 1 << 1;
export const XT_OWNER_SOCKET = 1 << 2;
export const XT_OWNER_SUPPL_GROUPS = 1 << 3;
export const XT_OWNER_MASK = 0x0f;
export const OWNER_HOOKS = (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_POST_ROUTING);
/** INVALID_UID / INVALID_GID: the one id make_kuid never maps in the initial namespace. */
const INVALID_ID = 0xffffffff;

export interface OwnerMatch {
  /** Inclusive ranges of the socket file's fsuid / fsgid (or a supplementary group). */
  readonly uidMin: number;
  readonly uidMax: number;
  readonly gidMin: number;
  readonly gidMax: number;
  /** XT_OWNER_* tests to make. */
  readonly match: number;
  /** XT_OWNER_* tests whose result is inverted. */
  readonly invert: number;
}

/** Four u32s and two u8s, padded to 20. */
const SIZE = 20;

export const owner: Extension<OwnerMatch> = {
  kind: 'match',
  name: 'owner',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): OwnerMatch {
    const b = payload(data, SIZE);
    return {
      uidMin: b.readUInt32LE(0),
      uidMax: b.readUInt32LE(4),
      gidMin: b.readUInt32LE(8),
      gidMax: b.readUInt32LE(12),
      match: b[16] ?? 0,
      invert: b[17] ?? 0,
    };
  },
  encode(v: OwnerMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.uidMin >>> 0, 0);
    b.writeUInt32LE(v.uidMax >>> 0, 4);
    b.writeUInt32LE(v.gidMin >>> 0, 8);
    b.writeUInt32LE(v.gidMax >>> 0, 12);
    b.writeUInt8(v.match, 16);
    b.writeUInt8(v.invert, 17);
    return b;
  },
  check(v: OwnerMatch, _revision: number, ctx: CheckContext): void {
    const what = 'match "owner"';
    requireHooks(ctx, OWNER_HOOKS, what);
    if ((v.match & ~XT_OWNER_MASK) !== 0) {
      throw new XtError(EINVAL, `${what}: unknown match bits 0x${v.match.toString(16)}`);
    }
    const range = (flag: number, lo: number, hi: number, kind: string): void => {
      if ((v.match & flag) === 0) return;
      if (lo === INVALID_ID || hi === INVALID_ID || hi < lo) {
        throw new XtError(EINVAL, `${what}: ${kind} range ${lo}-${hi} is invalid`);
      }
    };
    range(XT_OWNER_UID, v.uidMin, v.uidMax, 'uid');
    range(XT_OWNER_GID, v.gidMin, v.gidMax, 'gid');
  },
  format(v: OwnerMatch): string {
    // owner_mt_save: each test its label, with "!" when its invert bit is set.
    const items: readonly (readonly [number, string, string])[] = [
      [XT_OWNER_SOCKET, '--socket-exists', ''],
      [XT_OWNER_UID, '--uid-owner', ` ${idRange(v.uidMin, v.uidMax)}`],
      [XT_OWNER_GID, '--gid-owner', ` ${idRange(v.gidMin, v.gidMax)}`],
      [XT_OWNER_SUPPL_GROUPS, '--suppl-groups', ''],
    ];
    let out = '';
    for (const [flag, label, arg] of items) {
      if ((v.match & flag) === 0) continue;
      out += `${(v.invert & flag) !== 0 ? ' !' : ''} ${label}${arg}`;
    }
    return out.slice(1);
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "owner"';
    const o = readOptions(what, options, {
      uid: { names: ['uid-owner'], invert: true },
      gid: { names: ['gid-owner'], invert: true },
      socket: { names: ['socket-exists'], args: 0, invert: true },
      suppl: { names: ['suppl-groups'], args: 0 },
    });
    if (options.length === 0) {
      throw new OptionError(`${what}: --uid-owner, --gid-owner or --socket-exists is required`);
    }
    const given = optionBits([
      [o.uid, XT_OWNER_UID],
      [o.gid, XT_OWNER_GID],
      [o.socket, XT_OWNER_SOCKET],
    ]);
    let match = given.bits;
    const invert = given.inverted;
    if (o.suppl !== undefined) {
      // libxt_owner takes options in order: --gid-owner must already have been seen.
      if (o.gid === undefined || options.indexOf(o.gid) > options.indexOf(o.suppl)) {
        throw new OptionError(`${what}: --suppl-groups needs --gid-owner first`);
      }
      match |= XT_OWNER_SUPPL_GROUPS;
    }
    const [uidMin, uidMax] = o.uid === undefined ? [0, 0] : parseIdRange(o.uid, what);
    const [gidMin, gidMax] = o.gid === undefined ? [0, 0] : parseIdRange(o.gid, what);
    const value: OwnerMatch = { uidMin, uidMax, gidMin, gidMax, match, invert };
    return { extension: owner, revision: 1, value };
  },
};

function idRange(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/**
 * owner_parse_range: `n`, `n-m` or `n:m`, each up to (u32)-1 - 1. Names are not looked up
 * (iptables would ask the passwd/group database first); iptables-save prints numbers.
 */
function parseIdRange(opt: SaveOption, what: string): [number, number] {
  const s = opt.args[0] ?? '';
  const bad = (): OptionError =>
    new OptionError(
      `${what}: --${opt.name}: bad value "${s}" (a number or range; user and group names are not resolved)`,
    );
  const lo = parseUintPrefix(s, 0, INVALID_ID - 1);
  if (lo === undefined) throw bad();
  let hi = lo;
  if (lo.rest.startsWith('-') || lo.rest.startsWith(':')) {
    const next = parseUintPrefix(lo.rest.slice(1), 0, INVALID_ID - 1);
    if (next === undefined) throw bad();
    hi = next;
  }
  if (hi.rest !== '') throw bad();
  return [lo.value, hi.value];
}
