// -m string: struct xt_string_info (linux/netfilter/xt_string.h), revision 1 (the only one the
// kernel has; iptables 1.8.9 sends it), family UNSPEC. usersize = offsetof(config) = 152: the
// textsearch config pointer is the kernel's. string_mt_check refuses (EINVAL) from > to, an
// algo without NUL in its 16 bytes, patlen > 128 and unknown flags, then textsearch_prepare
// refuses an empty pattern (EINVAL) and an algorithm it does not have (ENOENT).
import { EINVAL, ENOENT, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { cString, payload, rawChars, writeChars, zeroed } from './util.js';
import { ALGO_BM, ALGO_KMP, bmTables, kmpTables, searchCode, TS } from './textsearch.js';
import type { Insn } from '../../bpf/asm/index.js';
import { unlessInverted } from '../../bpf/codegen/cmp.js';
import { Unsupported, type EvalContext } from '../../bpf/codegen/eval.js';

export const XT_STRING_FLAG_INVERT = 0x01;
export const XT_STRING_FLAG_IGNORECASE = 0x02;
export const XT_STRING_MAX_PATTERN_SIZE = 128;
export const XT_STRING_MAX_ALGO_NAME_SIZE = 16;
/** The textsearch algorithms this kernel has (lib/ts_*.c; checked against it in the tests). */
export const TEXTSEARCH_ALGOS: readonly string[] = ['bm', 'kmp', 'fsm'];

export interface StringMatch {
  readonly from: number;
  readonly to: number;
  /** algo[16] as latin1, trailing NULs dropped. */
  readonly algo: string;
  /** pattern[128] as latin1, trailing NULs dropped; the pattern is its first `patlen` bytes. */
  readonly pattern: string;
  readonly patlen: number;
  readonly flags: number;
  /** The two padding bytes before the config pointer: user-visible, kept by the kernel. */
  readonly pad: number;
}

const SIZE = 160;
const USER_SIZE = 152;
const ALGO = 4;
const PATTERN = 20;
const PATLEN = 148;

export const string: Extension<StringMatch> = {
  kind: 'match',
  name: 'string',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): StringMatch {
    const b = payload(data, SIZE);
    return {
      from: b.readUInt16LE(0),
      to: b.readUInt16LE(2),
      algo: rawChars(b.subarray(ALGO, ALGO + XT_STRING_MAX_ALGO_NAME_SIZE)),
      pattern: rawChars(b.subarray(PATTERN, PATTERN + XT_STRING_MAX_PATTERN_SIZE)),
      patlen: b[PATLEN] ?? 0,
      flags: b[PATLEN + 1] ?? 0,
      pad: b.readUInt16LE(PATLEN + 2),
    };
  },
  encode(v: StringMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.from, 0);
    b.writeUInt16LE(v.to, 2);
    writeChars(b, ALGO, v.algo, XT_STRING_MAX_ALGO_NAME_SIZE);
    writeChars(b, PATTERN, v.pattern, XT_STRING_MAX_PATTERN_SIZE);
    b.writeUInt8(v.patlen, PATLEN);
    b.writeUInt8(v.flags, PATLEN + 1);
    b.writeUInt16LE(v.pad, PATLEN + 2);
    return b;
  },
  check(v: StringMatch): void {
    const what = 'match "string"';
    if (v.from > v.to) throw new XtError(EINVAL, `${what}: --from ${v.from} > --to ${v.to}`);
    if (v.algo.length >= XT_STRING_MAX_ALGO_NAME_SIZE) {
      throw new XtError(EINVAL, `${what}: algo name is not NUL-terminated`);
    }
    if (v.patlen > XT_STRING_MAX_PATTERN_SIZE) {
      throw new XtError(EINVAL, `${what}: pattern length ${v.patlen} > 128`);
    }
    if ((v.flags & ~(XT_STRING_FLAG_INVERT | XT_STRING_FLAG_IGNORECASE)) !== 0) {
      throw new XtError(EINVAL, `${what}: unknown flags 0x${v.flags.toString(16)}`);
    }
    if (v.patlen === 0) throw new XtError(EINVAL, `${what}: empty pattern`);
    const algo = cString(v.algo);
    if (!TEXTSEARCH_ALGOS.includes(algo)) {
      throw new XtError(ENOENT, `${what}: no textsearch algorithm "${algo}"`);
    }
    if (algo === 'fsm') checkFsm(v, what);
  },
  format(v: StringMatch): string {
    // string_save: the pattern as printed, then the options left at their defaults omitted.
    const bytes = patternBytes(v);
    const inverted = (v.flags & XT_STRING_FLAG_INVERT) !== 0 ? '! ' : '';
    const parts = [
      isHex(bytes, v)
        ? `${inverted}--hex-string "|${bytes.toString('hex')}|"`
        : `${inverted}--string ${quoted(bytes)}`,
      `--algo ${Buffer.from(cString(v.algo), 'latin1').toString('utf8')}`,
    ];
    if (v.from !== 0) parts.push(`--from ${v.from}`);
    if (v.to !== 0xffff) parts.push(`--to ${v.to}`);
    if (v.flags & XT_STRING_FLAG_IGNORECASE) parts.push('--icase');
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "string"';
    const o = readOptions(what, options, {
      from: { names: ['from'] },
      to: { names: ['to'] },
      algo: { names: ['algo'] },
      icase: { names: ['icase'], args: 0 },
      string: { names: ['string'], invert: true },
      hex: { names: ['hex-string'], invert: true },
    });
    if (o.string && o.hex) {
      throw new OptionError(`${what}: --string and --hex-string cannot be used together`);
    }
    if (o.algo === undefined) throw new OptionError(`${what}: --algo is required`);
    const text = o.string ?? o.hex;
    if (text === undefined) throw new OptionError(`${what}: --string or --hex-string is required`);
    const latin1 = (opt: SaveOption): string =>
      Buffer.from(opt.args[0] ?? '', 'utf8').toString('latin1');
    const pattern = o.string ? plainPattern(latin1(text), what) : hexPattern(latin1(text), what);
    let flags = text.invert ? XT_STRING_FLAG_INVERT : 0;
    if (o.icase) flags |= XT_STRING_FLAG_IGNORECASE;
    const num = (opt: SaveOption | undefined, dflt: number): number =>
      opt === undefined ? dflt : parseUint(opt.args[0] ?? '', 0, 0xffff, `${what}: --${opt.name}`);
    const value: StringMatch = {
      from: num(o.from, 0),
      to: num(o.to, 0xffff),
      // XTTYPE_STRING into char[16]: iptables keeps the first 15 bytes.
      algo: cString(latin1(o.algo)).slice(0, XT_STRING_MAX_ALGO_NAME_SIZE - 1),
      pattern: pattern.replace(/\0+$/, ''),
      patlen: pattern.length,
      flags,
      pad: 0,
    };
    return { extension: string, revision: 1, value };
  },
  engine: {
    recordSize: TS.SIZE,
    record: stringRecord,
    // (skb_find_text(skb, from, to, config) != UINT_MAX) ^ invert
    evaluate: (cg: EvalContext): Insn[] => [
      ...searchCode(cg),
      ...unlessInverted({ offset: TS.INVERT, bit: 1 }, cg),
    ],
  },
};

/** The pattern, its tables for the algorithm, and the search window (textsearch.ts). */
function stringRecord(v: StringMatch): Buffer {
  const algo = cString(v.algo);
  if (algo !== 'bm' && algo !== 'kmp') {
    throw new Unsupported(`match "string": --algo ${algo} is not evaluated (only bm and kmp are)`);
  }
  const raw = patternBytes(v);
  const icase = (v.flags & XT_STRING_FLAG_IGNORECASE) !== 0;
  const b = Buffer.alloc(TS.SIZE);
  b.writeUInt16LE(v.from, TS.FROM);
  b.writeUInt16LE(v.to, TS.TO);
  b[TS.PATLEN] = raw.length;
  b[TS.ICASE] = icase ? 1 : 0;
  b[TS.ALGO] = algo === 'bm' ? ALGO_BM : ALGO_KMP;
  b[TS.INVERT] = (v.flags & XT_STRING_FLAG_INVERT) !== 0 ? 1 : 0;
  if (algo === 'bm') {
    const t = bmTables(raw, icase);
    t.pattern.copy(b, TS.PATTERN);
    t.goodShift.forEach((x, i) => (b[TS.TABLE + i] = x));
    t.badShift.forEach((x, i) => (b[TS.BAD + i] = x));
  } else {
    const t = kmpTables(raw, icase);
    t.pattern.copy(b, TS.PATTERN);
    t.prefix.forEach((x, i) => (b[TS.TABLE + i] = x));
  }
  return b;
}

/** fsm_init (lib/ts_fsm.c): the pattern is ts_fsm_token {u16 type; u8 recur; u8 value}s. */
const TS_FSM_TYPE_MAX = 13;
const TS_FSM_RECUR_MAX = 4;
const TS_FSM_HEAD_IGNORE = 4;

function checkFsm(v: StringMatch, what: string): void {
  const bytes = patternBytes(v);
  const n = Math.floor(bytes.length / 4);
  const bad = (why: string): XtError => new XtError(EINVAL, `${what}: fsm pattern: ${why}`);
  if (bytes.length % 4 !== 0 || n < 1) throw bad('not a whole number of tokens');
  if (v.flags & XT_STRING_FLAG_IGNORECASE) throw bad('--icase is not supported');
  for (let i = 0; i < n; i++) {
    const type = bytes.readUInt16LE(4 * i);
    const recur = bytes[4 * i + 2] ?? 0;
    if (type > TS_FSM_TYPE_MAX || recur > TS_FSM_RECUR_MAX) throw bad(`token ${i} is invalid`);
    if (recur === TS_FSM_HEAD_IGNORE && (i !== 0 || i === n - 1)) {
      throw bad(`token ${i}: HEAD_IGNORE only first and not alone`);
    }
  }
}

/**
 * The bytes string_save prints: patlen bytes from the pattern field on. A patlen above 128
 * (refused by the kernel) reads on into patlen, flags and pad as iptables would, then zeros.
 */
function patternBytes(v: StringMatch): Buffer {
  const b = string.encode(v, 1);
  return b.subarray(PATTERN, PATTERN + Math.min(v.patlen, SIZE - PATTERN));
}

/**
 * is_hex_string: any byte outside isprint (0x20-0x7e), or a last byte '\'. For an empty
 * pattern the "last byte" is the one before it, algo[15].
 */
function isHex(bytes: Buffer, v: StringMatch): boolean {
  if (bytes.some((c) => c < 0x20 || c > 0x7e)) return true;
  const last = bytes.length > 0 ? bytes[bytes.length - 1] : v.algo.charCodeAt(15);
  return last === 0x5c;
}

/** print_string: in double quotes, `"` and `\` escaped with a backslash. */
function quoted(bytes: Buffer): string {
  return `"${bytes.toString('latin1').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** parse_string: at most 128 bytes, no NUL needed. */
function plainPattern(s: string, what: string): string {
  if (s.length > XT_STRING_MAX_PATTERN_SIZE) throw new OptionError(`${what}: STRING too long`);
  return s;
}

/**
 * parse_hex_string, quirks included: `|..|` blocks of hex pairs (a space after a pair or after
 * the opening bar skipped), `\c` a literal outside blocks, everything else copied. The character
 * right after a bar is taken as data without looking at it again (so "||" keeps the second bar).
 */
export function hexPattern(s: string, what: string): string {
  const at = (i: number): string => s.charAt(i);
  const isX = (c: string): boolean => /^[0-9a-fA-F]$/.test(c);
  const fail = (why: string): OptionError => new OptionError(`${what}: ${why}`);
  if (s.length === 0) throw fail('STRING must contain at least one char');
  let out = '';
  let hex = false;
  let literal = false;
  let i = 0;
  while (i < s.length) {
    if (out.length >= XT_STRING_MAX_PATTERN_SIZE) throw fail('STRING too long');
    if (at(i) === '\\' && !hex) {
      literal = true;
    } else if (at(i) === '\\') {
      throw fail('cannot include literals in hex data');
    } else if (at(i) === '|') {
      if (hex) {
        hex = false;
      } else {
        hex = true;
        while (at(i + 1) === ' ') i++;
      }
      if (i + 1 >= s.length) break;
      i++;
    }
    if (literal) {
      if (i + 1 >= s.length) throw fail('bad literal placement at end of string');
      out += at(i + 1);
      i += 2;
      literal = false;
    } else if (hex) {
      if (i + 1 >= s.length) throw fail('odd number of hex digits');
      if (i + 2 >= s.length) throw fail('invalid hex block');
      if (!isX(at(i)) || !isX(at(i + 1))) throw fail(`invalid hex char in "${s}"`);
      out += String.fromCharCode(parseInt(at(i) + at(i + 1), 16));
      i += at(i + 2) === ' ' ? 3 : 2;
    } else {
      out += at(i);
      i++;
    }
  }
  return out;
}
