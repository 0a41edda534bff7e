// The fuzz cases: case i of seed s is a pure function of (s, i), so `make fuzz SEED=s CASE=i`
// replays it alone. Each starts from the base table (the client resets after any case that
// changed it) and is one to three sockopts: a mutated ipt_replace, a GET_ENTRIES or GET_INFO
// with mutated sizes and names, one or two xt_counters_info, or a mutated mbox request.
import {
  IPT_SO_GET_ENTRIES,
  IPT_SO_GET_INFO,
  IPT_SO_SET_ADD_COUNTERS,
  IPT_SO_SET_REPLACE,
  SIZEOF_IPT_GET_ENTRIES,
  SIZEOF_IPT_GETINFO,
  SIZEOF_XT_COUNTERS,
  SIZEOF_XT_COUNTERS_INFO,
} from '../../src/translate/abi.js';
import { EINVAL, EPERM } from '../../src/translate/errno.js';
import { checkReplace } from '../../src/translate/validate.js';
import { DELTAS, FIELDS, mutate, PICKS, type BaseBlob, type Mutation } from './blob.js';

export const KIND_BOTH = 0;
export const KIND_HELPER = 1;
export const KIND_HEALTH = 2;
export const KIND_SHORT_CLOSE = 3;
export const F_OWN_COUNTERS = 1;
export const F_NULL_COUNTERS = 2;
export const PLACE_ALL = 0xffffffff;
export const PLACE_NULL = 0xfffffffe;
export const PLACE_WILD = 0xfffffffd;
const PID_NAMES = ['own', 'init', 'no such pid', 'parent', '0'];

export interface Op {
  readonly kind: number;
  readonly isSet: boolean;
  readonly cmd: number;
  readonly optlen: number;
  readonly data: Buffer;
  readonly place: number;
  readonly flags: number;
  readonly pidMode: number;
  /** 1..23: the mbox request goes in two writes, split there. */
  readonly split: number;
  /** For helper-only requests: the errno the helper must answer. */
  readonly expect?: number;
  /** What was mutated, for the replay's report. */
  readonly what: string;
}

export interface Case {
  readonly family: string;
  readonly ops: readonly Op[];
}

/** xorshift32 seeded from (seed, index) through a splitmix-style mix. */
export class Rng {
  private s: number;
  constructor(seed: number, index: number) {
    let x = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    this.s = (x ^ (x >>> 16)) >>> 0 || 1;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
}

const NAMES = ['filter', 'filte', 'filterx', '', 'FILTER', 'no-such-table', 'x'.repeat(32)];
const LEN_DELTAS = [1, -1, 4, -4, 8, -8, 16, -16, 40, -40];
const HUGE = [0, 0x7fffffff, 0x80000000, 0xffffffff];

function writeName(b: Buffer, name: string): void {
  b.fill(0, 0, 32);
  b.write(name, 0, 32, 'latin1');
}

function pickName(r: Rng, p: number): string {
  return r.chance(p) ? r.pick(NAMES.slice(1)) : 'filter';
}

/** A mutated length: off by a little, or absurd. */
function mutLen(r: Rng, len: number): number {
  return r.chance(0.7) ? Math.max(0, len + r.pick(LEN_DELTAS)) : r.pick(HUGE);
}

interface Draft {
  isSet: boolean;
  cmd: number;
  optlen: number;
  data: Buffer;
  flags: number;
  what: string[];
}

function op(d: Draft, over: Partial<Op> = {}): Op {
  return {
    kind: KIND_BOTH,
    isSet: d.isSet,
    cmd: d.cmd,
    optlen: d.optlen,
    data: d.data,
    place: PLACE_ALL,
    flags: d.flags,
    pidMode: 0,
    split: 0,
    what: d.what.join(', '),
    ...over,
  };
}

/**
 * A mutated ipt_replace. Blobs our validator accepts cost the helper a BPF apply (and a reset to
 * the base after): only `keep` of them are sent, the others are drawn again, so most cases are
 * refusals and every accepted one is still compared. The kernel has the last word either way.
 */
function replace(r: Rng, base: BaseBlob, keep: number): Draft {
  let b = Buffer.from(base.blob);
  let what: string[] = [];
  for (let attempt = 0; attempt < 16; attempt++) {
    b = Buffer.from(base.blob);
    what = [];
    const n = 1 + r.int(2);
    for (let i = 0; i < n; i++) {
      const m: Mutation = [r.int(FIELDS), r.int(PICKS), r.int(PICKS), r.pick(DELTAS)];
      mutate(b, base.offsets, m);
      what.push(`mutation [${m.join(',')}]`);
    }
    if (!looksValid(b) || r.chance(keep)) break;
  }
  if (r.chance(0.1)) {
    switch (r.int(4)) {
      case 0: {
        const name = r.pick(NAMES.slice(1));
        writeName(b, name);
        what.push(`name "${name}"`);
        break;
      }
      case 1: {
        const bit = 1 << r.int(6);
        b.writeUInt32LE(b.readUInt32LE(32) ^ bit, 32);
        what.push(`valid_hooks ^ ${bit}`);
        break;
      }
      case 2: {
        const size = mutLen(r, b.readUInt32LE(40));
        b.writeUInt32LE(size >>> 0, 40);
        what.push(`size ${size}`);
        break;
      }
      default: {
        const num = r.pick([
          base.numEntries + 1,
          base.numEntries - 1,
          0,
          Math.floor(0x7fffffff / 16),
          0x10000000,
          0xffffffff,
        ]);
        b.writeUInt32LE(num >>> 0, 84);
        what.push(`num_counters ${num >>> 0}`);
      }
    }
  }
  const nullCounters = r.chance(0.05);
  if (nullCounters) what.push('counters NULL');
  return {
    isSet: true,
    cmd: IPT_SO_SET_REPLACE,
    optlen: b.length,
    data: b,
    flags: nullCounters ? F_NULL_COUNTERS : F_OWN_COUNTERS,
    what,
  };
}

function looksValid(b: Buffer): boolean {
  try {
    checkReplace(b);
    return true;
  } catch {
    return false;
  }
}

function entries(r: Rng, base: BaseBlob): Draft {
  const size0 = base.blob.length - 96;
  const name = pickName(r, 0.15);
  const size = r.chance(0.3) ? mutLen(r, size0) : size0;
  const b = Buffer.alloc(SIZEOF_IPT_GET_ENTRIES + Math.min(size, size0 + 64));
  writeName(b, name);
  b.writeUInt32LE(size >>> 0, 32);
  return {
    isSet: false,
    cmd: IPT_SO_GET_ENTRIES,
    optlen: (SIZEOF_IPT_GET_ENTRIES + size) >>> 0,
    data: b,
    flags: 0,
    what: [`GET_ENTRIES "${name}" size ${size}`],
  };
}

function info(r: Rng): Draft {
  const name = pickName(r, 0.3);
  const b = Buffer.alloc(SIZEOF_IPT_GETINFO);
  writeName(b, name);
  return {
    isSet: false,
    cmd: IPT_SO_GET_INFO,
    optlen: SIZEOF_IPT_GETINFO,
    data: b,
    flags: 0,
    what: [`GET_INFO "${name}"`],
  };
}

const COUNTS = [0n, 1n, 1500n, 1n << 32n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 2n];

function counter(r: Rng): bigint {
  return r.chance(0.5) ? r.pick(COUNTS) : (BigInt(r.u32()) << 32n) | BigInt(r.u32() >>> r.int(32));
}

function addCounters(r: Rng, base: BaseBlob): Draft {
  const name = pickName(r, 0.1);
  const n = base.numEntries;
  const num = r.chance(0.25)
    ? r.pick([n + 1, n - 1, 0, 1, Math.floor(0x7fffffff / 16), 0x10000000, 0xffffffff])
    : n;
  const held = Math.min(num, n + 2);
  const b = Buffer.alloc(SIZEOF_XT_COUNTERS_INFO + SIZEOF_XT_COUNTERS * held);
  writeName(b, name);
  b.writeUInt32LE(num >>> 0, 32);
  for (let i = 0; i < held; i++) {
    b.writeBigUInt64LE(counter(r), 40 + 16 * i);
    b.writeBigUInt64LE(counter(r), 48 + 16 * i);
  }
  const optlen = (SIZEOF_XT_COUNTERS_INFO + SIZEOF_XT_COUNTERS * num) >>> 0;
  return {
    isSet: true,
    cmd: IPT_SO_SET_ADD_COUNTERS,
    optlen,
    data: b,
    flags: 0,
    what: [`ADD_COUNTERS "${name}" num_counters ${num}`],
  };
}

/** The mbox-level mutations any request may also get: optlen, cmd, where optval is, chunking. */
function transport(r: Rng, d: Draft): Op {
  const over: { place?: number; split?: number } = {};
  if (r.chance(0.05)) {
    d.optlen = mutLen(r, d.optlen) >>> 0;
    d.what.push(`optlen ${d.optlen}`);
  }
  if (r.chance(0.03)) {
    const len = d.data.length;
    over.place = r.pick([PLACE_NULL, PLACE_WILD, 0, 1, 39, 40, 95, 96, len - 1, len >> 1]);
    d.what.push(
      `optval ${over.place === PLACE_NULL ? 'NULL' : over.place === PLACE_WILD ? 'unmapped' : `readable for ${over.place} bytes`}`,
    );
  }
  if (r.chance(0.03)) {
    // Within the range the shim and the module forward: the wrong command for the buffer.
    const isSet = r.chance(0.5);
    d.isSet = isSet;
    d.cmd = isSet ? 64 + r.int(2) : 64 + r.int(4);
    d.what.push(`sent as ${isSet ? 'set' : 'get'}sockopt ${d.cmd}`);
  }
  if (r.chance(0.02)) {
    over.split = 1 + r.int(23);
    d.what.push(`mbox request in two writes at byte ${over.split}`);
  }
  return op(d, over);
}

/** `keep`: the share of blobs our validator accepts that are sent (see replace). */
export function caseAt(seed: number, index: number, base: BaseBlob, keep: number): Case {
  const r = new Rng(seed, index);
  const roll = r.int(100);
  if (roll < 50) return { family: 'replace', ops: [transport(r, replace(r, base, keep))] };
  if (roll < 65) return { family: 'entries', ops: [transport(r, entries(r, base))] };
  if (roll < 80) {
    const ops = [transport(r, addCounters(r, base))];
    if (r.chance(0.3)) ops.push(transport(r, addCounters(r, base)));
    return { family: 'counters', ops };
  }
  if (roll < 88) return { family: 'info', ops: [transport(r, info(r))] };
  return { family: 'mbox', ops: [mbox(r, base, keep)].flat() };
}

/** Requests only the helper can get: another pid, commands outside the range, broken writes. */
function mbox(r: Rng, base: BaseBlob, keep: number): Op | Op[] {
  const health = op(
    { isSet: false, cmd: 0, optlen: 0, data: Buffer.alloc(0), flags: 0, what: ['health check'] },
    { kind: KIND_HEALTH },
  );
  const make = r.pick<(x: Rng) => Draft>([
    (x) => replace(x, base, keep),
    (x) => entries(x, base),
    (x) => addCounters(x, base),
  ]);
  const d = make(r);
  switch (r.int(4)) {
    case 0: {
      const pidMode = 1 + r.int(PID_NAMES.length - 1);
      d.what.push(`pid ${PID_NAMES[pidMode] ?? pidMode}`);
      return op(d, { kind: KIND_HELPER, pidMode, expect: EPERM });
    }
    case 1: {
      d.isSet = r.chance(0.5);
      d.cmd = r.pick(d.isSet ? [0, 1, 63, 66, 67, 96, 0xffffffff] : [0, 1, 63, 68, 96, 0xffffffff]);
      d.what.push(`${d.isSet ? 'set' : 'get'}sockopt ${d.cmd >>> 0} (not forwarded)`);
      return op(d, { kind: KIND_HELPER, expect: EINVAL });
    }
    case 2:
      return health;
    default: {
      const split = 1 + r.int(23);
      d.what.push(`${split} bytes of the request, then the connection closed`);
      return [op(d, { kind: KIND_SHORT_CLOSE, split }), health];
    }
  }
}

export function describeOp(o: Op): string {
  const who = o.kind === KIND_BOTH ? 'both' : 'helper only';
  return `${o.isSet ? 'set' : 'get'}sockopt ${o.cmd >>> 0} optlen ${o.optlen} (${who}): ${o.what}`;
}

export function encodeCase(c: Case): Buffer {
  const parts: Buffer[] = [u32s([c.ops.length])];
  for (const o of c.ops) {
    const place = o.place;
    parts.push(
      u32s([
        o.kind,
        o.isSet ? 1 : 0,
        o.cmd,
        o.optlen,
        o.data.length,
        place,
        o.flags,
        o.pidMode,
        o.split,
      ]),
      o.data,
    );
  }
  return Buffer.concat(parts);
}

export function u32s(xs: readonly number[]): Buffer {
  const b = Buffer.alloc(4 * xs.length);
  xs.forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
  return b;
}
