// -m u32: struct xt_u32 (linux/netfilter/xt_u32.h), revision 0, family UNSPEC. 11 tests of 11
// location steps and 11 value ranges each; u32_mt_checkentry (Linux 6.6+) refuses (EINVAL)
// ntests, nnums or nvalues above 11, and a shift by 32 or more. libxt_u32 allows only 10 of
// each. Every byte is user data,
// padding included (the kernel keeps and returns it), so decode keeps non-zero padding aside.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, readOptions, strtoul } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { inv, payload, zeroed } from './util.js';
import {
  Add,
  And,
  Ja,
  JEq,
  JGe,
  JGt,
  JLe,
  JLt,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Mul,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R8,
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  ToBe,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { unlessXor } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { boundedLoop, readPacket, skbDynptr } from '../../bpf/codegen/packet.js';
import { S, STATE } from '../../bpf/codegen/state.js';

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
      t.location.slice(1, t.nnums).forEach((l, j) => {
        const shift = l.nextop === XT_U32_LEFTSH || l.nextop === XT_U32_RIGHTSH;
        if (shift && l.number >>> 0 >= 32) {
          throw new XtError(EINVAL, `match "u32": test ${i} shifts by ${l.number} (step ${j + 1})`);
        }
      });
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
  engine: {
    hotdrops: true,
    recordSize: SIZE,
    record: (v: U32Match) => u32.encode(v, 0),
    evaluate: u32Code,
  },
};

/** The walk's variables in S.EVAL. */
const E = {
  /** u32: the test being run. */
  TEST: S.EVAL,
  /** u32: the outcome (U_*). */
  RES: S.EVAL + 4,
  /** u32s: val, at. */
  VAL: S.EVAL + 8,
  AT: S.EVAL + 12,
  /** The 32 bits read. */
  WORD: S.EVAL + 16,
} as const;
const U_FALSE = 0;
const U_TRUE = 1;
const U_HOTDROP = 2;

/**
 * u32_mt: every test of the record in turn (one loop iteration each), ^ invert. A read the
 * bounds checks allowed yet failing would be skb_copy_bits' error: a hotdrop.
 */
function u32Code(cg: EvalContext): Insn[] {
  return [
    StoreImm(STATE, E.TEST, 0, Size.W),
    StoreImm(STATE, E.RES, U_HOTDROP, Size.W),
    ...skbDynptr(cg),
    JNe.imm(R0, 0, cg.hotdrop),
    ...boundedLoop(cg, U32_SLOTS + 1, (next, exit) => u32Test(cg, next, exit)),
    LoadMem(R1, STATE, E.RES, Size.W),
    JEq.imm(R1, U_HOTDROP, cg.hotdrop),
    Mov.reg(R4, R1),
    ...unlessXor(NTESTS + 1, cg),
  ];
}

/** One test, R8 = its struct xt_u32_test in the record; leaves with E.RES set on a decision. */
function u32Test(cg: EvalContext, next: string, exit: string): Insn[] {
  const result = (r: number): Insn => StoreImm(STATE, E.RES, r, Size.W);
  const values = cg.label('u32_values');
  const out: Insn[] = [
    result(U_TRUE),
    LoadMem(R1, STATE, E.TEST, Size.W),
    LoadMem(R2, RECORD, NTESTS, Size.B),
    JGe.reg(R1, R2, exit),
    JGe.imm(R1, U32_SLOTS, exit),
    Add.imm(R1, 1),
    StoreMem(STATE, E.TEST, R1, Size.W),
    Sub.imm(R1, 1),
    Mul.imm(R1, TEST),
    Mov.reg(R8, RECORD),
    Add.reg(R8, R1),
    result(U_FALSE),
    // pos = location[0].number: 4 bytes there, or the match fails
    StoreImm(STATE, E.AT, 0, Size.W),
    LoadMem(R4, R8, 0, Size.W),
    LoadMem(R2, STATE, S.SKBLEN, Size.W),
    JLt.imm(R2, 4, exit),
    Sub.imm(R2, 4),
    JGt.reg(R4, R2, exit),
    ...readWord(cg, exit),
  ];
  for (let i = 1; i < U32_SLOTS; i++) out.push(...locationStep(cg, i, values, exit));
  out.push(withLabel(Nop(), values));
  // the first range holding val passes the test
  for (let i = 0; i < U32_SLOTS; i++) {
    const miss = cg.label('u32_miss');
    out.push(
      LoadMem(R1, R8, COUNTS + 1, Size.B),
      JLe.imm(R1, i, exit),
      LoadMem(R1, STATE, E.VAL, Size.W),
      LoadMem(R2, R8, VALUES + LOC * i, Size.W),
      JLt.reg(R1, R2, miss),
      LoadMem(R2, R8, VALUES + LOC * i + 4, Size.W),
      JGt.reg(R1, R2, miss),
      Ja(next),
      withLabel(Nop(), miss),
    );
  }
  out.push(Ja(exit));
  return out;
}

/** E.VAL = ntohl of the 4 packet bytes at R4 (bounds already checked). */
function readWord(cg: EvalContext, exit: string): Insn[] {
  return [
    StoreImm(STATE, E.RES, U_HOTDROP, Size.W),
    ...readPacket(cg, E.WORD, 4),
    JNe.imm(R0, 0, exit),
    StoreImm(STATE, E.RES, U_FALSE, Size.W),
    LoadMem(R1, STATE, E.WORD, Size.W),
    ToBe(R1, 32),
    StoreMem(STATE, E.VAL, R1, Size.W),
  ];
}

/** location[i] with its operator, unless i >= nnums (→ `values`). */
function locationStep(cg: EvalContext, i: number, values: string, exit: string): Insn[] {
  const at = LOC * i;
  const [and, lsh, rsh, atOp, done] = ['u32_and', 'u32_lsh', 'u32_rsh', 'u32_at', 'u32_done'].map(
    (h) => cg.label(h),
  ) as [string, string, string, string, string];
  return [
    LoadMem(R1, R8, COUNTS, Size.B),
    JLe.imm(R1, i, values),
    LoadMem(R3, R8, at, Size.W),
    LoadMem(R1, STATE, E.VAL, Size.W),
    LoadMem(R2, R8, at + 4, Size.B),
    JEq.imm(R2, XT_U32_AND, and),
    JEq.imm(R2, XT_U32_LEFTSH, lsh),
    JEq.imm(R2, XT_U32_RIGHTSH, rsh),
    JEq.imm(R2, XT_U32_AT, atOp),
    Ja(done),
    withLabel(And.reg32(R1, R3), and),
    Ja(`${done}_store`),
    // checkentry refused shifts of 32 or more: the mask changes nothing
    withLabel(And.imm(R3, 31), lsh),
    Lsh.reg32(R1, R3),
    Ja(`${done}_store`),
    withLabel(And.imm(R3, 31), rsh),
    Rsh.reg32(R1, R3),
    Ja(`${done}_store`),
    // at += val (no u32 wrap); pos = number; at + pos + 4 <= skb->len, each without wrap
    withLabel(LoadMem(R2, STATE, E.AT, Size.W), atOp),
    Add.reg(R2, R1),
    Mov.reg(R4, R2),
    Rsh.imm(R4, 32),
    JNe.imm(R4, 0, exit),
    StoreMem(STATE, E.AT, R2, Size.W),
    Add.imm(R2, 4),
    Mov.reg(R4, R2),
    Rsh.imm(R4, 32),
    JNe.imm(R4, 0, exit),
    LoadMem(R4, STATE, S.SKBLEN, Size.W),
    JLt.reg(R4, R2, exit),
    Sub.reg(R4, R2),
    JGt.reg(R3, R4, exit),
    LoadMem(R4, STATE, E.AT, Size.W),
    Add.reg(R4, R3),
    ...readWord(cg, exit),
    Ja(done),
    withLabel(StoreMem(STATE, E.VAL, R1, Size.W), `${done}_store`),
    withLabel(Nop(), done),
  ];
}

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
