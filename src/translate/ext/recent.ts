// -m recent: struct xt_recent_mtinfo (revision 0) and xt_recent_mtinfo_v1 (revision 1, with a
// mask), linux/netfilter/xt_recent.h, registered per family. recent_mt_check refuses, all EINVAL
// unless said: unknown check_set bits; not exactly one of --set/--rcheck/--update/--remove;
// --seconds, --hitcount, --rttl or --reap with --set/--remove; --reap without --seconds;
// hit_count >= XT_RECENT_MAX_NSTAMPS; then xt_check_proc_name on the list name (empty, ".",
// ".." or with a '/'; no NUL in its 200 bytes is ENAMETOOLONG). The list itself (a
// /proc/net/xt_recent entry per name, shared by every rule naming it) is runtime state, not
// part of the payload. Revision 0 behaves as revision 1 with an all-ones mask.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseIpv4, parseUint, readOptions } from './args.js';
import type { Extension, NetnsMap, RecordContext, SaveOption } from './types.js';
import { Unsupported } from '../../bpf/codegen/eval.js';
import { lockedValueBtf } from '../../bpf/codegen/btf.js';
import {
  HDR,
  IP_LIST_TOT,
  IP_PKT_LIST_TOT,
  MAX_LIST_TOT,
  REC,
  RECENT_MAP,
  recentCode,
  STAMPS,
  TABLE_SIZE,
} from '../../bpf/codegen/recent.js';
import { HZ } from './limit.js';
import {
  checkProcName,
  cString,
  type InetAddr,
  ipv4,
  payload,
  rawChars,
  writeChars,
  zeroed,
} from './util.js';

export const XT_RECENT_CHECK = 1 << 0;
export const XT_RECENT_SET = 1 << 1;
export const XT_RECENT_UPDATE = 1 << 2;
export const XT_RECENT_REMOVE = 1 << 3;
export const XT_RECENT_TTL = 1 << 4;
export const XT_RECENT_REAP = 1 << 5;
export const XT_RECENT_VALID_FLAGS = 0x3f;
export const XT_RECENT_SOURCE = 0;
export const XT_RECENT_DEST = 1;
export const XT_RECENT_NAME_LEN = 200;
/**
 * Timestamps a list entry can hold; hit_count must stay below it. Since Linux 4.x the module
 * parameter ip_pkt_list_tot (0 on our machines) only sizes the timestamp ring, it no longer
 * bounds --hitcount.
 */
export const XT_RECENT_MAX_NSTAMPS = 65536;

const COMMANDS = XT_RECENT_SET | XT_RECENT_REMOVE | XT_RECENT_CHECK | XT_RECENT_UPDATE;
const MODIFIERS = XT_RECENT_TTL | XT_RECENT_REAP;

export interface RecentMatch {
  /** Only entries seen within this many seconds match (0 = any age). */
  readonly seconds: number;
  /** Only entries seen at least this many times match (0 = once is enough). */
  readonly hitCount: number;
  /** One command (XT_RECENT_SET/CHECK/UPDATE/REMOVE) plus modifiers (TTL, REAP). */
  readonly checkSet: number;
  /** u8; the kernel XORs the verdict with it when non-zero. */
  readonly invert: number;
  /** The list's 200 name bytes as latin1, trailing NULs dropped (the kernel reads up to a NUL). */
  readonly name: string;
  /** XT_RECENT_SOURCE or XT_RECENT_DEST: which address is looked up (any other value: source). */
  readonly side: number;
  /** Revision 1's mask applied to the address; revision 0 reads as all ones, as the kernel uses. */
  readonly mask: InetAddr;
}

const SIZES: Readonly<Record<number, number>> = { 0: 212, 1: 228 };
const NAME = 10;
const SIDE = 210;
const MASK = 212;
const DEFAULT_NAME = 'DEFAULT';
const ALL_ONES: InetAddr = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

function sizeOf(revision: number): number {
  return SIZES[revision] ?? 228;
}

export const recent: Extension<RecentMatch> = {
  kind: 'match',
  name: 'recent',
  revisions: [0, 1],
  dataSize: sizeOf,
  userSize: sizeOf,
  decode(data: Buffer, revision: number): RecentMatch {
    const b = payload(data, sizeOf(revision));
    const word = (i: number): number => b.readUInt32BE(MASK + 4 * i);
    return {
      seconds: b.readUInt32LE(0),
      hitCount: b.readUInt32LE(4),
      checkSet: b[8] ?? 0,
      invert: b[9] ?? 0,
      name: rawChars(b.subarray(NAME, NAME + XT_RECENT_NAME_LEN)),
      side: b[SIDE] ?? 0,
      mask: revision === 0 ? ALL_ONES : [word(0), word(1), word(2), word(3)],
    };
  },
  encode(v: RecentMatch, revision: number): Buffer {
    const b = zeroed(sizeOf(revision));
    b.writeUInt32LE(v.seconds >>> 0, 0);
    b.writeUInt32LE(v.hitCount >>> 0, 4);
    b.writeUInt8(v.checkSet, 8);
    b.writeUInt8(v.invert, 9);
    writeChars(b, NAME, v.name, XT_RECENT_NAME_LEN);
    b.writeUInt8(v.side, SIDE);
    if (revision !== 0) v.mask.forEach((w, i) => b.writeUInt32BE(w >>> 0, MASK + 4 * i));
    return b;
  },
  check(v: RecentMatch): void {
    const what = 'match "recent"';
    if ((v.checkSet & ~XT_RECENT_VALID_FLAGS) !== 0) {
      throw new XtError(EINVAL, `${what}: unknown flags 0x${v.checkSet.toString(16)}`);
    }
    if (bitCount(v.checkSet & COMMANDS) !== 1) {
      throw new XtError(EINVAL, `${what}: not exactly one of --set/--rcheck/--update/--remove`);
    }
    if (
      (v.checkSet & (XT_RECENT_SET | XT_RECENT_REMOVE)) !== 0 &&
      (v.seconds !== 0 || v.hitCount !== 0 || (v.checkSet & MODIFIERS) !== 0)
    ) {
      throw new XtError(
        EINVAL,
        `${what}: --set/--remove take no --seconds/--hitcount/--rttl/--reap`,
      );
    }
    if ((v.checkSet & XT_RECENT_REAP) !== 0 && v.seconds === 0) {
      throw new XtError(EINVAL, `${what}: --reap needs --seconds`);
    }
    if (v.hitCount >= XT_RECENT_MAX_NSTAMPS) {
      throw new XtError(
        EINVAL,
        `${what}: --hitcount ${v.hitCount} above ${XT_RECENT_MAX_NSTAMPS - 1}`,
      );
    }
    checkProcName(v.name, XT_RECENT_NAME_LEN, what);
  },
  format(v: RecentMatch, revision: number): string {
    // recent_save: seconds and hit_count go through printf's %d.
    let out = v.invert !== 0 ? ' !' : '';
    if (v.checkSet & XT_RECENT_SET) out += ' --set';
    if (v.checkSet & XT_RECENT_CHECK) out += ' --rcheck';
    if (v.checkSet & XT_RECENT_UPDATE) out += ' --update';
    if (v.checkSet & XT_RECENT_REMOVE) out += ' --remove';
    if (v.seconds !== 0) out += ` --seconds ${v.seconds | 0}`;
    if (v.checkSet & XT_RECENT_REAP) out += ' --reap';
    if (v.hitCount !== 0) out += ` --hitcount ${v.hitCount | 0}`;
    if (v.checkSet & XT_RECENT_TTL) out += ' --rttl';
    out += ` --name ${cString(v.name)}`;
    // Revision 0 is saved as family-independent: no mask.
    if (revision !== 0) out += ` --mask ${ipv4(v.mask[0])}`;
    if (v.side === XT_RECENT_SOURCE) out += ' --rsource';
    if (v.side === XT_RECENT_DEST) out += ' --rdest';
    return out.slice(1);
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "recent"';
    const flag = { args: 0 } as const;
    const command = { args: 0, invert: true } as const;
    const o = readOptions(what, options, {
      set: { names: ['set'], ...command },
      rcheck: { names: ['rcheck'], ...command },
      update: { names: ['update'], ...command },
      remove: { names: ['remove'], ...command },
      seconds: { names: ['seconds'] },
      reap: { names: ['reap'], ...flag },
      hitcount: { names: ['hitcount'] },
      rttl: { names: ['rttl'], ...flag },
      name: { names: ['name'] },
      rsource: { names: ['rsource'], ...flag },
      rdest: { names: ['rdest'], ...flag },
      mask: { names: ['mask'] },
    });
    const commands: readonly (readonly [SaveOption | undefined, number])[] = [
      [o.set, XT_RECENT_SET],
      [o.rcheck, XT_RECENT_CHECK],
      [o.update, XT_RECENT_UPDATE],
      [o.remove, XT_RECENT_REMOVE],
    ];
    const given = commands.filter(([opt]) => opt !== undefined);
    const [command0] = given;
    if (command0 === undefined || given.length > 1) {
      throw new OptionError(`${what}: exactly one of --set, --rcheck, --update, --remove`);
    }
    const [cmd, cmdBit] = command0;
    if (o.rttl !== undefined && (o.set !== undefined || o.remove !== undefined)) {
      throw new OptionError(`${what}: --rttl cannot be used with --set or --remove`);
    }
    if (o.reap !== undefined && o.seconds === undefined) {
      throw new OptionError(`${what}: --reap needs --seconds`);
    }
    let checkSet = cmdBit;
    if (o.rttl !== undefined) checkSet |= XT_RECENT_TTL;
    if (o.reap !== undefined) checkSet |= XT_RECENT_REAP;
    // --rsource and --rdest may both appear; the last one wins.
    const sides = options.filter((x) => x.name === 'rsource' || x.name === 'rdest');
    const last = sides[sides.length - 1];
    // xtopt_parse_string copies the text's bytes (silently cut to 199) and one NUL over the
    // "DEFAULT" recent_init wrote: a shorter name leaves the rest of it after the NUL.
    const text =
      o.name === undefined
        ? DEFAULT_NAME
        : Buffer.from(o.name.args[0] ?? '', 'utf8')
            .toString('latin1')
            .slice(0, XT_RECENT_NAME_LEN - 1);
    const name = `${text}\0${DEFAULT_NAME.slice(text.length + 1)}`.replace(/\0+$/, '');
    const u32 = (opt: SaveOption | undefined, min: number): number =>
      opt === undefined
        ? 0
        : parseUint(opt.args[0] ?? '', min, 0xffffffff, `${what}: --${opt.name}`);
    const value: RecentMatch = {
      seconds: u32(o.seconds, 1),
      hitCount: u32(o.hitcount, 0),
      checkSet,
      invert: cmd?.invert === true ? 1 : 0,
      name,
      side: last?.name === 'rdest' ? XT_RECENT_DEST : XT_RECENT_SOURCE,
      // recent_init fills the mask with ones; an XTTYPE_HOST --mask overwrites all 16 bytes.
      mask:
        o.mask === undefined
          ? ALL_ONES
          : [parseIpv4(o.mask.args[0] ?? '', `${what}: --mask`), 0, 0, 0],
    };
    return { extension: recent, revision: 1, value };
  },
  engine: {
    stateful: true,
    recordSize: REC.SIZE,
    record(v: RecentMatch, _revision: number, ctx: RecordContext): Buffer {
      if (IP_LIST_TOT > MAX_LIST_TOT) {
        throw new Unsupported(
          `match "recent": ip_list_tot ${IP_LIST_TOT} is above the ${MAX_LIST_TOT} entries a list is scanned for`,
        );
      }
      if (stampMask(v.hitCount) + 1 > STAMPS) {
        throw new Unsupported(
          `match "recent": --hitcount ${v.hitCount} needs more than the ${STAMPS} timestamps a list entry keeps here`,
        );
      }
      if ((v.checkSet & XT_RECENT_CHECK_ANY) !== 0 && v.seconds !== 0 && ctx.hz !== HZ) {
        throw new Unsupported(`match "recent": --seconds needs the kernel's HZ (${HZ})`);
      }
      const b = Buffer.alloc(REC.SIZE);
      b.writeUInt32LE(ctx.tableSlot?.(cString(v.name)) ?? 0, REC.SLOT);
      b[REC.CHECK_SET] = v.checkSet;
      b[REC.INVERT] = v.invert;
      b[REC.SIDE] = v.side === XT_RECENT_DEST ? 1 : 0;
      // info->seconds * HZ is an unsigned int product
      b.writeBigUInt64LE(BigInt(Math.imul(v.seconds, HZ) >>> 0), REC.WINDOW);
      b.writeUInt32LE(v.seconds >>> 0, REC.SECONDS);
      b.writeUInt32LE(v.hitCount >>> 0, REC.HITS);
      return b;
    },
    netns: {
      map: RECENT_MAP,
      type: 'hash',
      keySize: 4,
      valueSize: TABLE_SIZE,
      maxEntries: 256,
      btf: () => lockedValueBtf('bpfilter_recent', TABLE_SIZE),
      tables: {
        slots: 256,
        name: (v) => cString((v as RecentMatch).name),
        create: (v, revision) => newList(v as RecentMatch, revision),
        join(current: Buffer, v: unknown): Buffer | undefined {
          // recent_mt_check: a rule needing more stamps than the list keeps flushes it.
          const mask = stampMask((v as RecentMatch).hitCount);
          if (mask <= current.readUInt32LE(HDR.NMASK)) return undefined;
          const flushed = Buffer.alloc(TABLE_SIZE);
          current.copy(flushed, 0, 0, HDR.SIZE);
          flushed.writeUInt32LE(0, HDR.ENTRIES);
          flushed.writeUInt32LE(mask, HDR.NMASK);
          return flushed;
        },
        recover: (value) =>
          value.toString('latin1', HDR.NAME, HDR.NAME + HDR.NAME_LEN).replace(/\0.*$/s, ''),
      },
    } satisfies NetnsMap,
    evaluate: recentCode,
  },
};

const XT_RECENT_CHECK_ANY = XT_RECENT_CHECK | XT_RECENT_UPDATE;

function roundupPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** recent_mt_check's nstamps_max_mask for a rule's --hitcount and ip_pkt_list_tot. */
export function stampMask(hitCount: number): number {
  if (IP_PKT_LIST_TOT !== 0 && hitCount < IP_PKT_LIST_TOT) return roundupPow2(IP_PKT_LIST_TOT) - 1;
  if (hitCount !== 0) return roundupPow2(hitCount) - 1;
  return 31;
}

/** A list as the first rule naming it creates it: its mask, its stamp ring, its name. */
function newList(v: RecentMatch, revision: number): Buffer {
  const b = Buffer.alloc(TABLE_SIZE);
  const mask = revision === 0 ? 0xffffffff : (v.mask[0] ?? 0xffffffff);
  b.writeUInt32BE(mask >>> 0, HDR.MASK);
  b.writeUInt32LE(stampMask(v.hitCount), HDR.NMASK);
  b.write(cString(v.name), HDR.NAME, HDR.NAME_LEN - 1, 'latin1');
  return b;
}

function bitCount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}
