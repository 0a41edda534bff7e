// -m u32: struct xt_u32 (linux/netfilter/xt_u32.h), revision 0, family UNSPEC. 11 tests of 11
// location steps and 11 value ranges each; u32_mt_checkentry (Linux 6.6+) refuses (EINVAL)
// ntests, nnums or nvalues above 11. libxt_u32 allows only 10 of each. Every byte is user data,
// padding included (the kernel keeps and returns it), so decode keeps non-zero padding aside.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, readOptions, strtoul } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { inv, payload, zeroed } from './util.js';

export const XT_U32_AND = 0;
export const XT_U32_LEFTSH = 1;
export const XT_U32_RIGHTSH = 2;
export const XT_U32_AT = 3;
/** Array size of tests, location and value: XT_U32_MAXSIZE + 1. */
export const U32_SLOTS = 11;
/** libxt_u32's limit (XT_U32_MAXSIZE). */
const IPTABLES_MAX = 10;

export interface U32Location {
  readonly number: number;
  /** The operator before this number (unused for the first). */
  readonly nextop: number;
}

export interface U32Range {
  readonly min: number;
  readonly max: number;
}

export interface U32Test {
  /** location[], without its trailing all-zero slots. */
  readonly location: readonly U32Location[];
  /** value[], without its trailing all-zero slots. */
  readonly value: readonly U32Range[];
  readonly nnums: number;
  readonly nvalues: number;
}

export interface U32Match {
  /** tests[], without trailing slots that are all zero. */
  readonly tests: readonly U32Test[];
  readonly ntests: number;
  readonly invert: number;
  /** Every padding byte in struct order, only when one is not zero. */
  readonly padding?: Buffer;
}

const LOC = 8;
const TEST = 180;
const VALUES = LOC * U32_SLOTS;
const COUNTS = 2 * VALUES;
const NTESTS = TEST * U32_SLOTS;
const SIZE = NTESTS + 4;

/** Offset and length of every padding run in the struct, in order. */
const PADDING: readonly (readonly [number, number])[] = [
  ...Array.from({ length: U32_SLOTS }, (_, t) => [
    ...Array.from({ length: U32_SLOTS }, (_, l) => [TEST * t + LOC * l + 5, 3] as const),
    [TEST * t + COUNTS + 2, 2] as const,
  ]).flat(),
  [NTESTS + 2, 2],
];
const PADDING_SIZE = PADDING.reduce((n, [, len]) => n + len, 0);

function trimmed<T>(items: T[], isZero: (t: T) => boolean): T[] {
  let n = items.length;
  while (n > 0 && isZero(items[n - 1] as T)) n--;
  return items.slice(0, n);
}

export const u32: Extension<U32Match> = {
  kind: 'match',
  name: 'u32',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): U32Match {
    const b = payload(data, SIZE);
    const tests = Array.from({ length: U32_SLOTS }, (_, t): U32Test => {
      const at = TEST * t;
      const location = Array.from({ length: U32_SLOTS }, (_, i) => ({
        number: b.readUInt32LE(at + LOC * i),
        nextop: b[at + LOC * i + 4] ?? 0,
      }));
      const value = Array.from({ length: U32_SLOTS }, (_, i) => ({
        min: b.readUInt32LE(at + VALUES + LOC * i),
        max: b.readUInt32LE(at + VALUES + LOC * i + 4),
      }));
      return {
        location: trimmed(location, (l) => l.number === 0 && l.nextop === 0),
        value: trimmed(value, (r) => r.min === 0 && r.max === 0),
        nnums: b[at + COUNTS] ?? 0,
        nvalues: b[at + COUNTS + 1] ?? 0,
      };
    });
    const pad = Buffer.concat(PADDING.map(([off, len]) => b.subarray(off, off + len)));
    const v: U32Match = {
      tests: trimmed(
        tests,
        (t) => t.location.length === 0 && t.value.length === 0 && t.nnums === 0 && t.nvalues === 0,
      ),
      ntests: b[NTESTS] ?? 0,
      invert: b[NTESTS + 1] ?? 0,
    };
    return pad.some((x) => x !== 0) ? { ...v, padding: pad } : v;
  },
  encode(v: U32Match): Buffer {
    const b = zeroed(SIZE);
    v.tests.slice(0, U32_SLOTS).forEach((t, ti) => {
      const at = TEST * ti;
      t.location.slice(0, U32_SLOTS).forEach((l, i) => {
        b.writeUInt32LE(l.number >>> 0, at + LOC * i);
        b.writeUInt8(l.nextop, at + LOC * i + 4);
      });
      t.value.slice(0, U32_SLOTS).forEach((r, i) => {
        b.writeUInt32LE(r.min >>> 0, at + VALUES + LOC * i);
        b.writeUInt32LE(r.max >>> 0, at + VALUES + LOC * i + 4);
      });
      b.writeUInt8(t.nnums, at + COUNTS);
      b.writeUInt8(t.nvalues, at + COUNTS + 1);
    });
    b.writeUInt8(v.ntests, NTESTS);
    b.writeUInt8(v.invert, NTESTS + 1);
    if (v.padding !== undefined) {
      let k = 0;
      for (const [off, len] of PADDING) {
        v.padding.copy(b, off, k, Math.min(k + len, PADDING_SIZE));
        k += len;
      }
    }
    return b;
  },
  check(v: U32Match): void {
    if (v.ntests > U32_SLOTS) throw new XtError(EINVAL, `match "u32": ${v.ntests} tests > 11`);
    v.tests.slice(0, v.ntests).forEach((t, i) => {
      if (t.nnums > U32_SLOTS || t.nvalues > U32_SLOTS) {
        throw new XtError(EINVAL, `match "u32": test ${i} has ${t.nnums}/${t.nvalues} > 11`);
      }
    });
  },
  format(v: U32Match): string {
    // u32_dump; counts past the arrays (which the kernel refuses) are cut at 11 here.
    const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
    const ops = ['&', '<<', '>>', '@'];
    const text = Array.from({ length: Math.min(v.ntests, U32_SLOTS) }, (_, ti) => {
      const t = v.tests[ti];
      const loc = (i: number): U32Location => t?.location[i] ?? { number: 0, nextop: 0 };
      let s = hex(loc(0).number);
      for (let i = 1; i < Math.min(t?.nnums ?? 0, U32_SLOTS); i++) {
        s += `${ops[loc(i).nextop] ?? ''}${hex(loc(i).number)}`;
      }
      const ranges = Array.from({ length: Math.min(t?.nvalues ?? 0, U32_SLOTS) }, (_, i) => {
        const r = t?.value[i] ?? { min: 0, max: 0 };
        return r.min === r.max ? hex(r.min) : `${hex(r.min)}:${hex(r.max)}`;
      });
      return `${s}=${ranges.join(',')}`;
    });
    return `${inv(v.invert !== 0)}--u32 "${text.join('&&')}"`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "u32"', options, { u32: { names: ['u32'], invert: true } });
    if (o.u32 === undefined) throw new OptionError('match "u32": --u32 is required');
    const tests = parseTests(o.u32.args[0] ?? '');
    const value: U32Match = { tests, ntests: tests.length, invert: o.u32.invert ? 1 : 0 };
    return { extension: u32, revision: 0, value };
  },
};

/**
 * u32_parse: `location=value[&&location=value]...`, a location being `number[op number]...` with
 * op one of & << >> @, a value `range[,range]...` with range `number[:number]`; blanks allowed
 * between tokens, numbers as xtables_strtoui (0x, 0 octal); at most 10 tests, 10 numbers, 10
 * ranges.
 */
export function parseTests(arg: string): U32Test[] {
  const tests: U32Test[] = [];
  let location: U32Location[] = [];
  let value: U32Range[] = [];
  let i = 0;
  let readingValues = false;
  const fail = (why: string): OptionError => new OptionError(`match "u32": at char ${i}: ${why}`);
  const isSpace = (c: string): boolean => /^[ \t\n\v\f\r]$/.test(c);
  const number = (): number => {
    const r = strtoul(arg.slice(i));
    if (r === undefined || r.value > 0xffffffffn) throw fail('not a number or out of range');
    i += r.end;
    return Number(r.value);
  };
  const endTest = (): void => {
    tests.push({ location, value, nnums: location.length, nvalues: value.length });
    location = [];
    value = [];
  };
  for (;;) {
    while (isSpace(arg.charAt(i))) i++;
    const c = arg.charAt(i);
    if (c === '') {
      if (!readingValues) throw fail('abrupt end of input after location specifier');
      if (value.length === 0) throw fail('test ended with no value specified');
      endTest();
      if (tests.length > IPTABLES_MAX) throw fail('too many "&&"s');
      return tests;
    }
    if (!readingValues) {
      if (c === '=') {
        if (location.length === 0) throw fail('location spec missing');
        i++;
        readingValues = true;
        continue;
      }
      let nextop = XT_U32_AND;
      if (location.length !== 0) {
        if (c === '&') nextop = XT_U32_AND;
        else if (c === '<' || c === '>') {
          if (arg.charAt(++i) !== c) throw fail(`a second '${c}' was expected`);
          nextop = c === '<' ? XT_U32_LEFTSH : XT_U32_RIGHTSH;
        } else if (c === '@') nextop = XT_U32_AT;
        else throw fail('operator expected');
        i++;
      }
      location.push({ number: number(), nextop });
      if (location.length > IPTABLES_MAX) throw fail('too many operators');
      continue;
    }
    if (c === '&') {
      if (arg.charAt(++i) !== '&') throw fail("a second '&' was expected");
      if (value.length === 0) throw fail('value spec missing');
      endTest();
      if (tests.length >= IPTABLES_MAX + 1) throw fail('too many "&&"s');
      i++;
      readingValues = false;
      continue;
    }
    if (value.length > 0) {
      if (c !== ',') throw fail('expected "," or "&&"');
      i++;
    }
    const min = number();
    while (isSpace(arg.charAt(i))) i++;
    let max = min;
    if (arg.charAt(i) === ':') {
      i++;
      max = number();
    }
    value.push({ min, max });
    if (value.length > IPTABLES_MAX) throw fail('too many ","s');
  }
}
