// -m hashlimit: struct xt_hashlimit_mtinfo{1,2,3} (linux/netfilter/xt_hashlimit.h), registered
// per family; revision 0 (xt_hashlimit_info) is gone from the kernel. The revisions differ in:
//   rev 1: name[16],  u32 avg/burst (1/10000 s units)                      (56 bytes)
//   rev 2: name[255], u64 avg/burst (1/1000000 s units)                    (304 bytes)
//   rev 3: as rev 2 plus `interval` for --hashlimit-rate-match            (312 bytes)
// The last 8 bytes are the kernel's htable pointer (usersize stops before it). The table itself
// (per name and family, /proc/net/ipt_hashlimit/NAME) is runtime state shared by rules that name
// it: the first rule's configuration wins. hashlimit_mt_check refuses, in order: a bad /proc
// name (EINVAL, or ENAMETOOLONG without a NUL), gc_interval or expire 0 (EINVAL), masks above 32
// (EINVAL), unknown mode bits (EINVAL), then by mode: rate-match below revision 3 (EINVAL, since
// Linux 6.1x; 6.12 ignored the bit) or with avg 0 or above u32 (ERANGE) or interval 0 (EINVAL);
// byte mode whose cost rounds to 0 (EINVAL); packet mode with burst 0 or avg·burst credits
// wrapping below avg's (ERANGE). It clamps size and max to 2^20: in place for revision 3
// (GET_ENTRIES shows it: writeBack), on a copy for revisions 1 and 2. Not modelled here (it
// needs the tables other rules created): a rule naming an existing table whose rate-match
// setting differs is EINVAL, even when that table belongs to the ruleset being replaced.
import { EINVAL, ERANGE, XtError } from '../errno.js';
import {
  OptionError,
  parseBigUintPrefix,
  parsePrefixLength,
  parseUint,
  readOptions,
} from './args.js';
import { HZ } from './limit.js';
import type { Extension, NetnsMap, NetnsTables, RecordContext, SaveOption } from './types.js';
import { checkProcName, cString, payload, rawChars, writeChars, zeroed } from './util.js';
import { lockedValueBtf } from '../../bpf/codegen/btf.js';
import { Unsupported } from '../../bpf/codegen/eval.js';
import {
  BYTES_CAP,
  CPJ_SHIFT,
  CPJ_SHIFT_V1,
  ENT,
  ENTRY_CAPACITY,
  HASHLIMIT_ENTRIES,
  HASHLIMIT_TABLES,
  hashlimitCode,
  KEY,
  REC,
  TABLE_SLOTS,
  TBL,
  totalRamPages,
} from '../../bpf/codegen/hashlimit.js';

export const XT_HASHLIMIT_HASH_DIP = 1 << 0;
export const XT_HASHLIMIT_HASH_DPT = 1 << 1;
export const XT_HASHLIMIT_HASH_SIP = 1 << 2;
export const XT_HASHLIMIT_HASH_SPT = 1 << 3;
export const XT_HASHLIMIT_INVERT = 1 << 4;
export const XT_HASHLIMIT_BYTES = 1 << 5;
export const XT_HASHLIMIT_RATE_MATCH = 1 << 6;
export const XT_HASHLIMIT_ALL = 0x7f;
/** avg units: rev 1 in 1/10000 s, rev 2 and 3 in 1/1000000 s. */
export const XT_HASHLIMIT_SCALE = 10000n;
export const XT_HASHLIMIT_SCALE_V2 = 1000000n;
/** HASHLIMIT_MAX_SIZE: checkentry's cap on htable size and max. */
export const HASHLIMIT_MAX_SIZE = 1048576;

export interface HashlimitMatch {
  /** The table's name bytes (16 in rev 1, 255 after) as latin1, trailing NULs dropped. */
  readonly name: string;
  /** XT_HASHLIMIT_* bits. */
  readonly mode: number;
  /**
   * Packet mode: time between packets in SCALE units; byte mode: the cost of a 16-byte chunk
   * (u32 max / (bytes/s ÷ 16 + 1)). u32 in revision 1, u64 after.
   */
  readonly avg: bigint;
  /** Packet mode: bucket depth in packets; byte mode: in avg-sized chunks. */
  readonly burst: bigint;
  /** Buckets (0 = sized from RAM), entries (0 = 8 × buckets), in ms: gc interval, expiry. */
  readonly size: number;
  readonly max: number;
  readonly gcInterval: number;
  readonly expire: number;
  /** Revision 3's rate-match interval in seconds; always 0 in revisions 1 and 2. */
  readonly interval: number;
  /** Prefix lengths the addresses are hashed under. */
  readonly srcmask: number;
  readonly dstmask: number;
}

interface Layout {
  readonly size: number;
  readonly user: number;
  readonly nameLen: number;
  readonly wide: boolean;
  /** Offsets of the cfg fields. */
  readonly avg: number;
  readonly burst: number;
  readonly mode: number;
  readonly htSize: number;
  readonly interval?: number;
  readonly srcmask: number;
}

/** Revision 2's layout; revision 3 inserts `interval` before the masks. */
const LAYOUT_V2: Layout = {
  size: 304,
  user: 296,
  nameLen: 255,
  wide: true,
  avg: 256,
  burst: 264,
  mode: 272,
  htSize: 276,
  srcmask: 292,
};

const LAYOUTS: Readonly<Record<number, Layout>> = {
  1: {
    size: 56,
    user: 48,
    nameLen: 16,
    wide: false,
    mode: 16,
    avg: 20,
    burst: 24,
    htSize: 28,
    srcmask: 44,
  },
  2: LAYOUT_V2,
  3: { ...LAYOUT_V2, size: 312, user: 304, interval: 292, srcmask: 296 },
};

function layoutOf(revision: number): Layout {
  return LAYOUTS[revision] ?? (LAYOUTS[3] as Layout);
}

const U32 = 0xffffffffn;
const U64 = (1n << 64n) - 1n;
const HZ_N = BigInt(HZ);

function pow2Below(x: bigint): bigint {
  let p = 1n;
  while (p * 2n <= x) p *= 2n;
  return p;
}

/** xt_hashlimit.c's CREDITS_PER_JIFFY(_v1, _BYTES) for the kernel's HZ. */
const CPJ_V1 = pow2Below(U32 / (HZ_N * 86400n));
const CPJ = pow2Below(U64 / (HZ_N * 86400n));
const CPJ_BYTES = pow2Below(U32 / HZ_N);

/** xt_hashlimit.c's user2credits in u64 arithmetic. */
export function user2credits(user: bigint, revision: number): bigint {
  const scale = revision === 1 ? XT_HASHLIMIT_SCALE : XT_HASHLIMIT_SCALE_V2;
  const perSecond = HZ_N * (revision === 1 ? CPJ_V1 : CPJ);
  if (scale >= perSecond) return user / (scale / perSecond);
  return (user * (perSecond / scale)) & U64;
}

/** user2credits_byte: the u32 cost times HZ·CPJ_BYTES, high 32 bits. */
export function user2creditsByte(user: bigint): bigint {
  return ((user & U32) * ((HZ_N * CPJ_BYTES) & U32)) >> 32n;
}

export const hashlimit: Extension<HashlimitMatch> = {
  kind: 'match',
  name: 'hashlimit',
  revisions: [1, 2, 3],
  dataSize: (revision) => layoutOf(revision).size,
  userSize: (revision) => layoutOf(revision).user,
  decode(data: Buffer, revision: number): HashlimitMatch {
    const l = layoutOf(revision);
    const b = payload(data, l.size);
    const word = (off: number): bigint =>
      l.wide ? b.readBigUInt64LE(off) : BigInt(b.readUInt32LE(off));
    return {
      name: rawChars(b.subarray(0, l.nameLen)),
      mode: b.readUInt32LE(l.mode),
      avg: word(l.avg),
      burst: word(l.burst),
      size: b.readUInt32LE(l.htSize),
      max: b.readUInt32LE(l.htSize + 4),
      gcInterval: b.readUInt32LE(l.htSize + 8),
      expire: b.readUInt32LE(l.htSize + 12),
      interval: l.interval === undefined ? 0 : b.readUInt32LE(l.interval),
      srcmask: b[l.srcmask] ?? 0,
      dstmask: b[l.srcmask + 1] ?? 0,
    };
  },
  encode(v: HashlimitMatch, revision: number): Buffer {
    const l = layoutOf(revision);
    const b = zeroed(l.size);
    writeChars(b, 0, v.name, l.nameLen);
    const word = (x: bigint, off: number): void => {
      if (l.wide) b.writeBigUInt64LE(x & U64, off);
      else b.writeUInt32LE(Number(x & U32), off);
    };
    b.writeUInt32LE(v.mode >>> 0, l.mode);
    word(v.avg, l.avg);
    word(v.burst, l.burst);
    b.writeUInt32LE(v.size >>> 0, l.htSize);
    b.writeUInt32LE(v.max >>> 0, l.htSize + 4);
    b.writeUInt32LE(v.gcInterval >>> 0, l.htSize + 8);
    b.writeUInt32LE(v.expire >>> 0, l.htSize + 12);
    if (l.interval !== undefined) b.writeUInt32LE(v.interval >>> 0, l.interval);
    b.writeUInt8(v.srcmask, l.srcmask);
    b.writeUInt8(v.dstmask, l.srcmask + 1);
    return b;
  },
  check(v: HashlimitMatch, revision: number): void {
    const what = 'match "hashlimit"';
    checkProcName(v.name, layoutOf(revision).nameLen, what);
    if (v.gcInterval === 0 || v.expire === 0) {
      throw new XtError(EINVAL, `${what}: gc interval and expiry must not be 0`);
    }
    if (v.srcmask > 32 || v.dstmask > 32) {
      throw new XtError(EINVAL, `${what}: masks /${v.srcmask} /${v.dstmask}, at most /32`);
    }
    if ((v.mode & ~XT_HASHLIMIT_ALL) !== 0) {
      throw new XtError(EINVAL, `${what}: unknown mode bits 0x${v.mode.toString(16)}`);
    }
    if ((v.mode & XT_HASHLIMIT_RATE_MATCH) !== 0) {
      if (revision < 3) throw new XtError(EINVAL, `${what}: rate-match needs revision 3`);
      if (v.avg === 0n || v.avg > U32) {
        throw new XtError(ERANGE, `${what}: rate-match rate ${v.avg} out of range`);
      }
      if (v.interval === 0) throw new XtError(EINVAL, `${what}: rate-match interval 0`);
    } else if ((v.mode & XT_HASHLIMIT_BYTES) !== 0) {
      if (user2creditsByte(v.avg) === 0n) {
        throw new XtError(EINVAL, `${what}: byte rate too high (cost ${v.avg})`);
      }
    } else if (
      v.burst === 0n ||
      user2credits((v.avg * v.burst) & U64, revision) < user2credits(v.avg, revision)
    ) {
      throw new XtError(ERANGE, `${what}: avg ${v.avg} burst ${v.burst} overflows`);
    }
  },
  writeBack(data: Buffer, revision: number): void {
    if (revision !== 3) return;
    const at = layoutOf(3).htSize;
    for (const off of [at, at + 4]) {
      if (data.readUInt32LE(off) > HASHLIMIT_MAX_SIZE) data.writeUInt32LE(HASHLIMIT_MAX_SIZE, off);
    }
  },
  format(v: HashlimitMatch, revision: number): string {
    // hashlimit_mt_save, with the IPv4 default masks (32).
    let out = (v.mode & XT_HASHLIMIT_INVERT) !== 0 ? ' --hashlimit-above' : ' --hashlimit-upto';
    let quantum: number;
    if ((v.mode & XT_HASHLIMIT_BYTES) !== 0) {
      const bytes = bytesText(v.avg, v.burst);
      out += bytes.text;
      quantum = bytes.quantum;
    } else {
      const rate = rateText(v.avg, revision);
      out += ` ${rate.text} --hashlimit-burst ${v.burst}`;
      quantum = rate.quantum;
    }
    const hashed = XT_HASHLIMIT_HASH_SIP | XT_HASHLIMIT_HASH_SPT | XT_HASHLIMIT_HASH_DIP;
    if ((v.mode & (hashed | XT_HASHLIMIT_HASH_DPT)) !== 0)
      out += ` --hashlimit-mode ${modeText(v.mode)}`;
    out += ` --hashlimit-name ${cString(v.name)}`;
    if (v.size !== 0) out += ` --hashlimit-htable-size ${v.size}`;
    if (v.max !== 0) out += ` --hashlimit-htable-max ${v.max}`;
    if (v.gcInterval !== DEFAULT_GC_INTERVAL)
      out += ` --hashlimit-htable-gcinterval ${v.gcInterval}`;
    if (v.expire !== quantum) out += ` --hashlimit-htable-expire ${v.expire}`;
    if (v.srcmask !== 32) out += ` --hashlimit-srcmask ${v.srcmask}`;
    if (v.dstmask !== 32) out += ` --hashlimit-dstmask ${v.dstmask}`;
    if (revision === 3 && (v.mode & XT_HASHLIMIT_RATE_MATCH) !== 0) {
      out += ' --hashlimit-rate-match';
      if (v.interval !== 1) out += ` --hashlimit-rate-interval ${v.interval}`;
    }
    return out.slice(1);
  },
  parse(options: readonly SaveOption[]) {
    return { extension: hashlimit, revision: 3, value: parseV3(options) };
  },
  engine: {
    stateful: true,
    recordSize: REC.BYTES,
    record(v: HashlimitMatch, revision: number, ctx: RecordContext): Buffer {
      if (ctx.hz !== HZ) {
        throw new Unsupported(
          `match "hashlimit": the kernel's HZ (${ctx.hz ?? 'unknown'}) is not the ${HZ} its arithmetic is written for`,
        );
      }
      if (!ctx.tableSlot) throw new Unsupported('match "hashlimit": no namespace tables here');
      const b = Buffer.alloc(REC.BYTES);
      b.writeUInt32LE(ctx.tableSlot(cString(v.name)), REC.SLOT);
      b.writeUInt32LE(v.mode >>> 0, REC.MODE);
      b.writeUInt32LE(revision, REC.REVISION);
      b.writeUInt32LE(revision === 1 ? CPJ_SHIFT_V1 : CPJ_SHIFT, REC.CPJ_SHIFT);
      b.writeUInt32LE(TBL.INIT + 32 * (Math.min(Math.max(revision, 1), 3) - 1), REC.INIT);
      return b;
    },
    netns: [
      {
        map: HASHLIMIT_TABLES,
        type: 'hash',
        keySize: 4,
        valueSize: TBL.BYTES,
        maxEntries: TABLE_SLOTS,
        btf: () => lockedValueBtf('bpfilter_hl_table', TBL.BYTES),
        tables: {
          slots: TABLE_SLOTS,
          name: (value: unknown) => cString((value as HashlimitMatch).name),
          create: (value: unknown, revision: number) =>
            tableValue(value as HashlimitMatch, revision, totalRamPages()),
          join: (current: Buffer, value: unknown) => joinTable(current, value as HashlimitMatch),
          recover: tableName,
        } satisfies NetnsTables,
      },
      {
        map: HASHLIMIT_ENTRIES,
        type: 'hash',
        keySize: KEY.BYTES,
        valueSize: ENT.BYTES,
        maxEntries: ENTRY_CAPACITY,
        btf: () => lockedValueBtf('bpfilter_hl_entry', ENT.BYTES, KEY.BYTES),
        slotsOf: HASHLIMIT_TABLES,
      },
    ] satisfies readonly NetnsMap[],
    evaluate: hashlimitCode,
  },
};

/** maskl's mask for a prefix length, as the bytes lie in the packet. */
function netMask(len: number): number {
  const host = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(host, 0);
  return b.readUInt32LE(0);
}

/** msecs_to_jiffies at HZ 250: rounded up; a "negative" (≥ 2^31) time is MAX_JIFFY_OFFSET. */
export function msecsToJiffies(ms: number): bigint {
  if (ms >= 0x80000000) return (((1n << 63n) - 1n) >> 1n) - 1n;
  const per = BigInt(1000 / HZ);
  return (BigInt(ms) + per - 1n) / per;
}

/** htable_create's size: the rule's, else 1/16384 of RAM in list heads, 8192 above 1 GiB. */
export function tableSize(size: number, ramPages: number): number {
  if (size !== 0) return size;
  let n = Math.floor((ramPages * 4096) / 16384 / 8);
  if (ramPages > (1024 * 1024 * 1024) / 4096) n = 8192;
  return Math.max(n, 16);
}

/**
 * rateinfo_init's bucket for a rule of `revision` on a table made from `v` (the configuration
 * of the rule that created it): the four words after prev, as struct dsthash_ent lays them out.
 */
export function initialBucket(v: HashlimitMatch, revision: number): readonly bigint[] {
  const u64 = (x: bigint): bigint => x & U64;
  if (revision >= 3 && (v.mode & XT_HASHLIMIT_RATE_MATCH) !== 0) {
    let rate: bigint;
    let burst: bigint;
    if ((v.mode & XT_HASHLIMIT_BYTES) !== 0) {
      const avg = v.avg & U32;
      rate = u64(((avg !== 0n ? U32 / avg : U32) - 1n) << 4n);
      burst = v.burst !== 0n ? u64(v.burst * rate) : rate;
    } else {
      rate = v.avg !== 0n ? XT_HASHLIMIT_SCALE_V2 / v.avg : 0n;
      burst = u64(v.burst + rate);
    }
    // interval and prev_window share the first word
    return [BigInt(v.interval >>> 0), 0n, rate, burst];
  }
  if ((v.mode & XT_HASHLIMIT_BYTES) !== 0) {
    return [BYTES_CAP, u64(v.burst), user2creditsByte(v.avg), 0n];
  }
  const credit = user2credits(u64(v.avg * v.burst), revision);
  return [credit, credit, user2credits(v.avg, revision), 0n];
}

/** A new table's value: what htable_create keeps of the creating rule's configuration. */
export function tableValue(v: HashlimitMatch, _revision: number, ramPages: number): Buffer {
  const b = Buffer.alloc(TBL.BYTES);
  const size = tableSize(Math.min(v.size, HASHLIMIT_MAX_SIZE), ramPages);
  const cfgMax = Math.min(v.max, HASHLIMIT_MAX_SIZE);
  const max = cfgMax === 0 ? 8 * size : Math.max(cfgMax, size);
  b.writeUInt32LE(max >>> 0, TBL.MAX);
  b.writeUInt32LE(v.mode >>> 0, TBL.MODE);
  b.writeUInt32LE(netMask(v.srcmask), TBL.SRCMASK);
  b.writeUInt32LE(netMask(v.dstmask), TBL.DSTMASK);
  b.writeBigUInt64LE(msecsToJiffies(v.expire), TBL.EXPIRE);
  for (let r = 1; r <= 3; r++) {
    initialBucket(v, r).forEach((w, i) => b.writeBigUInt64LE(w, TBL.INIT + 32 * (r - 1) + 8 * i));
  }
  b.writeUInt32LE(v.gcInterval >>> 0, TBL.GC_INTERVAL);
  b.writeUInt32LE(size >>> 0, TBL.SIZE);
  b.write(cString(v.name), TBL.NAME, TBL.BYTES - TBL.NAME - 1, 'latin1');
  return b;
}

/** A table's name, from its value. */
export function tableName(value: Buffer): string | undefined {
  const raw = value.subarray(TBL.NAME, TBL.BYTES);
  const name = cString(raw.toString('latin1'));
  return name === '' ? undefined : name;
}

/**
 * A rule naming a table that exists keeps it as it is (htable_find_get ignores the rule's
 * configuration); since 6.1x one whose rate-match setting differs is refused.
 */
function joinTable(current: Buffer, v: HashlimitMatch): undefined {
  const mode = current.readUInt32LE(TBL.MODE);
  if (((mode ^ v.mode) & XT_HASHLIMIT_RATE_MATCH) !== 0) {
    throw new XtError(
      EINVAL,
      `match "hashlimit": table "${cString(v.name)}" exists with${(mode & XT_HASHLIMIT_RATE_MATCH) !== 0 ? '' : 'out'} rate-match`,
    );
  }
  return undefined;
}

/** libxt_hashlimit's defaults. */
const DEFAULT_BURST = 5n;
const DEFAULT_GC_INTERVAL = 1000;
const BURST_MAX = 1000000n;
/** Seconds of expiry per unit of rate: the byte modes' fixed ones. */
const BYTE_EXPIRE = 15;
const BYTE_EXPIRE_BURST = 60;

const RATES: readonly (readonly [string, bigint])[] = [
  ['day', 24n * 60n * 60n],
  ['hour', 60n * 60n],
  ['min', 60n],
  ['sec', 1n],
];

/**
 * print_rate: the coarsest unit the period divides well enough, and the expiry (ms) iptables
 * treats as the default for it. A period of 0 is printed as printf's "%f" of infinity.
 */
function rateText(period: bigint, revision: number): { text: string; quantum: number } {
  if (period === 0n) return { text: 'inf', quantum: 0 };
  const scale = revision === 1 ? XT_HASHLIMIT_SCALE : XT_HASHLIMIT_SCALE_V2;
  let i = 1;
  for (; i < RATES.length; i++) {
    const mult = (RATES[i]?.[1] ?? 1n) * scale;
    if (period > mult || mult / period < mult % period) break;
  }
  const [name, secs] = RATES[i - 1] ?? ['sec', 1n];
  const mult = secs * scale;
  return { text: `${mult / period}/${name}`, quantum: Number(((mult / scale) * 1000n) & U32) };
}

/** cost_to_bytes: bytes per second a chunk cost stands for, in u64 arithmetic. */
function costToBytes(cost: bigint): bigint {
  const r = cost !== 0n ? U32 / cost : U32;
  return ((r - 1n) << 4n) & U64;
}

/**
 * bytes_to_cost: u32 max over the rate's 16-byte chunks plus one, in u32 arithmetic. A chunk
 * count that wraps to 0 would make iptables divide by zero: 0 here, which parse refuses.
 */
function bytesToCost(bytes: bigint): bigint {
  const chunks = (((bytes >> 4n) & U32) + 1n) & U32;
  return chunks === 0n ? 0n : U32 / chunks;
}

const UNITS: readonly (readonly [string, bigint])[] = [
  ['m', 1024n * 1024n],
  ['k', 1024n],
  ['', 1n],
];

/** print_bytes with the "--hashlimit-" prefix: the rate, and the burst when there is one. */
function bytesText(avg: bigint, burst: bigint): { text: string; quantum: number } {
  let r = costToBytes(avg);
  let i = 0;
  for (; i < UNITS.length - 1; i++) {
    const thresh = UNITS[i]?.[1] ?? 1n;
    // ~(thresh - 1) is a u32 there: it also clears the bits above 32.
    if (r >= thresh && bytesToCost(r & (~(thresh - 1n) & U32)) === avg) break;
  }
  const [unit, thresh] = UNITS[i] ?? ['', 1n];
  let text = ` ${r / thresh}${unit}b/s`;
  if (burst === 0n) return { text, quantum: BYTE_EXPIRE * 1000 };
  r = (r * burst) & U64;
  let j = 0;
  for (; j < UNITS.length - 1; j++) if (r >= (UNITS[j]?.[1] ?? 1n)) break;
  const [bunit, bthresh] = UNITS[j] ?? ['', 1n];
  text += ` --hashlimit-burst ${r / bthresh}${bunit}b`;
  return { text, quantum: BYTE_EXPIRE_BURST * 1000 };
}

const MODE_NAMES: readonly (readonly [number, string])[] = [
  [XT_HASHLIMIT_HASH_SIP, 'srcip'],
  [XT_HASHLIMIT_HASH_SPT, 'srcport'],
  [XT_HASHLIMIT_HASH_DIP, 'dstip'],
  [XT_HASHLIMIT_HASH_DPT, 'dstport'],
];

function modeText(mode: number): string {
  return MODE_NAMES.filter(([bit]) => (mode & bit) !== 0)
    .map(([, n]) => n)
    .join(',');
}

/** atoll: optional blanks and sign, then digits (none: 0), clamped to the long long range. */
function atoll(s: string): bigint {
  const m = /^\s*([+-]?)(\d*)/.exec(s);
  const digits = m?.[2] ?? '';
  const v = digits === '' ? 0n : BigInt(digits);
  const max = (1n << 63n) - 1n;
  return m?.[1] === '-' ? -(v > max + 1n ? max + 1n : v) : v > max ? max : v;
}

interface Rate {
  readonly avg: bigint;
  /** Seconds per unit: expiry default and the rate-match interval. */
  readonly mult: number;
  readonly bytes: boolean;
}

/** parse_bytes, then parse_rate, for revisions 2 and 3 (u64 avg). */
function parseRateArg(s: string, what: string): Rate {
  const at = s.indexOf('b/s');
  if (at > 0) {
    const r = atoll(s);
    if (r !== 0n) {
      if (r < 0n) throw new OptionError(`${what}: negative byte rate "${s}"`);
      const factor = s[at - 1] === 'm' ? 1024n * 1024n : s[at - 1] === 'k' ? 1024n : 1n;
      const cost = bytesToCost((r * factor) & U64);
      if (cost === 0n) throw new OptionError(`${what}: rate too high "${s}"`);
      return { avg: cost, mult: BYTE_EXPIRE, bytes: true };
    }
  }
  const slash = s.indexOf('/');
  let mult = 1;
  if (slash !== -1) {
    const unit = s.slice(slash + 1).toLowerCase();
    const units: readonly (readonly [string, number])[] = [
      ['second', 1],
      ['minute', 60],
      ['hour', 3600],
      ['day', 86400],
    ];
    const hit = unit === '' ? undefined : units.find(([name]) => name.startsWith(unit));
    if (hit === undefined) throw new OptionError(`${what}: bad rate "${s}"`);
    mult = hit[1];
  }
  const r = atoll(s) & U64;
  if (r === 0n) throw new OptionError(`${what}: bad rate "${s}"`);
  const avg = (XT_HASHLIMIT_SCALE_V2 * BigInt(mult)) / r;
  if (avg === 0n) throw new OptionError(`${what}: rate too fast "${s}"`);
  return { avg, mult, bytes: false };
}

/** parse_burst for revisions 2 and 3: a number, optionally followed by k or m. */
function parseBurst(s: string, what: string): bigint {
  const n = parseBigUintPrefix(s, 1n, U64);
  if (n === undefined || (n.rest === '' && n.value > BURST_MAX)) {
    throw new OptionError(`${what}: bad value "${s}" (1-${BURST_MAX})`);
  }
  const c = n.rest[0];
  const factor = c === 'm' ? 1024n * 1024n : c === 'k' ? 1024n : 1n;
  return (n.value * factor) & U64;
}

/** libxt_hashlimit's revision 3 parse and final check. */
function parseV3(options: readonly SaveOption[]): HashlimitMatch {
  const what = 'match "hashlimit"';
  const o = readOptions(what, options, {
    upto: { names: ['hashlimit-upto', 'hashlimit'], invert: true },
    above: { names: ['hashlimit-above'], invert: true },
    srcmask: { names: ['hashlimit-srcmask'] },
    dstmask: { names: ['hashlimit-dstmask'] },
    burst: { names: ['hashlimit-burst'] },
    size: { names: ['hashlimit-htable-size'] },
    max: { names: ['hashlimit-htable-max'] },
    gc: { names: ['hashlimit-htable-gcinterval'] },
    expire: { names: ['hashlimit-htable-expire'] },
    mode: { names: ['hashlimit-mode'] },
    name: { names: ['hashlimit-name'] },
    rateMatch: { names: ['hashlimit-rate-match'], args: 0 },
    interval: { names: ['hashlimit-rate-interval'] },
  });
  const arg = (opt: SaveOption): string => opt.args[0] ?? '';
  const limitOpt = o.upto ?? o.above;
  if (limitOpt === undefined)
    throw new OptionError(`${what}: --hashlimit-upto or --hashlimit-above is required`);
  if (o.upto !== undefined && o.above !== undefined) {
    throw new OptionError(`${what}: --hashlimit-upto and --hashlimit-above exclude each other`);
  }
  if (o.name === undefined) throw new OptionError(`${what}: --hashlimit-name is required`);
  const nameText = Buffer.from(arg(o.name), 'utf8').toString('latin1');
  if (nameText === '') throw new OptionError(`${what}: --hashlimit-name is empty`);
  let mode = 0;
  // --hashlimit-upto inverts with "!", --hashlimit-above without.
  if ((o.upto?.invert ?? false) || (o.above !== undefined && !o.above.invert))
    mode |= XT_HASHLIMIT_INVERT;
  const rate = parseRateArg(arg(limitOpt), `${what}: --${limitOpt.name}`);
  if (rate.bytes) mode |= XT_HASHLIMIT_BYTES;
  if (o.mode !== undefined) {
    for (const tok of arg(o.mode).split(/[,|]/)) {
      if (tok === '') continue;
      const hit = MODE_NAMES.find(([, n]) => n === tok);
      if (hit === undefined)
        throw new OptionError(`${what}: bad --hashlimit-mode "${arg(o.mode)}"`);
      mode |= hit[0];
    }
  }
  if (o.rateMatch !== undefined) mode |= XT_HASHLIMIT_RATE_MATCH;
  const u32 = (opt: SaveOption | undefined, dflt: number): number =>
    opt === undefined ? dflt : parseUint(arg(opt), 0, 0xffffffff, `${what}: --${opt.name}`);
  let interval = 0;
  if (o.interval !== undefined) {
    // parse_interval: atoi, so the low 32 bits of a clamped long, signed; at least 1.
    interval = Number(BigInt.asIntN(32, atoll(arg(o.interval))));
    if (interval <= 0)
      throw new OptionError(`${what}: bad --hashlimit-rate-interval "${arg(o.interval)}"`);
  }
  let burst =
    o.burst === undefined ? DEFAULT_BURST : parseBurst(arg(o.burst), `${what}: --hashlimit-burst`);
  let expire = o.expire === undefined ? rate.mult * 1000 : u32(o.expire, 0);
  let avg = rate.avg;
  if (rate.bytes) {
    // hashlimit_mt_check: a byte burst becomes a count of avg-sized chunks, in u32 arithmetic.
    let chunks = 0n;
    if (o.burst !== undefined) {
      const unit = costToBytes(avg);
      if (burst < unit) throw new OptionError(`${what}: burst cannot be smaller than ${unit}b`);
      // Below 16 bytes/s a chunk is 0 bytes: iptables dies dividing by it.
      if (unit === 0n) throw new OptionError(`${what}: a byte burst needs a rate of 16b/s or more`);
      chunks = ((burst & U32) / unit) & U32;
      if (burst % unit !== 0n) chunks = (chunks + 1n) & U32;
      if (o.expire === undefined) expire = BYTE_EXPIRE_BURST * 1000;
    }
    burst = chunks;
  } else if (burst > BURST_MAX) {
    throw new OptionError(`${what}: --hashlimit-burst ${burst} above ${BURST_MAX}`);
  }
  if (o.rateMatch !== undefined) {
    if (!rate.bytes) avg /= BigInt(rate.mult);
    if (interval === 0) interval = rate.bytes ? 1 : rate.mult;
  }
  return {
    name: nameText.slice(0, layoutOf(3).nameLen - 1),
    mode,
    avg,
    burst,
    size: u32(o.size, 0),
    max: u32(o.max, 0),
    gcInterval: u32(o.gc, DEFAULT_GC_INTERVAL),
    expire,
    interval,
    srcmask:
      o.srcmask === undefined
        ? 32
        : parsePrefixLength(arg(o.srcmask), `${what}: --hashlimit-srcmask`),
    dstmask:
      o.dstmask === undefined
        ? 32
        : parsePrefixLength(arg(o.dstmask), `${what}: --hashlimit-dstmask`),
  };
}
