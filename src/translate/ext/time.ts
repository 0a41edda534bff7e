// -m time: struct xt_time_info (linux/netfilter/xt_time.h), revision 0, family UNSPEC.
// time_mt_check refuses a daytime above 23:59:59 (EDOM), unknown flags (EINVAL), and
// --contiguous with start < stop (EINVAL). Dates are u32 seconds since the epoch (UTC), daytimes
// seconds since midnight, monthdays bit i = day i (bit 0 unused), weekdays bit i = day i, Monday 1.
import { EDOM, EINVAL, XtError } from '../errno.js';
import { cStrtoul, OptionError, readOptions } from './args.js';
import type { Extension, RecordContext, SaveOption } from './types.js';
import { payload, readPad, writePad, zeroed } from './util.js';
import {
  Add,
  And,
  Arsh,
  Div,
  JEq,
  JGe,
  JGt,
  JLt,
  JSGt,
  JSLt,
  Ja,
  LoadMem,
  Lsh,
  Mod,
  Mov,
  Mul,
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
  Sub,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { clockState, wallSeconds } from '../../bpf/codegen/clock.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';

export const XT_TIME_LOCAL_TZ = 1 << 0;
export const XT_TIME_CONTIGUOUS = 1 << 1;
export const XT_TIME_ALL_FLAGS = XT_TIME_LOCAL_TZ | XT_TIME_CONTIGUOUS;
export const XT_TIME_ALL_MONTHDAYS = 0xfffffffe;
export const XT_TIME_ALL_WEEKDAYS = 0xfe;
export const XT_TIME_MAX_DAYTIME = 24 * 60 * 60 - 1;

export interface TimeMatch {
  readonly dateStart: number;
  readonly dateStop: number;
  readonly daytimeStart: number;
  readonly daytimeStop: number;
  readonly monthdays: number;
  readonly weekdays: number;
  readonly flags: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** libxt_time's time_init: every day, all day, no date bounds (date_stop = INT_MAX). */
export const TIME_DEFAULTS: TimeMatch = {
  dateStart: 0,
  dateStop: 0x7fffffff,
  daytimeStart: 0,
  daytimeStop: XT_TIME_MAX_DAYTIME,
  monthdays: XT_TIME_ALL_MONTHDAYS,
  weekdays: XT_TIME_ALL_WEEKDAYS,
  flags: 0,
};

const WEEK_DAYS = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
/** Five u32 and two u8: 22 bytes padded to 24. */
const SIZE = 24;
/** The record: the xt payload, then the clock's state slot. */
const REC = {
  DATE_START: 0,
  DATE_STOP: 4,
  START: 8,
  STOP: 12,
  MONTHDAYS: 16,
  WEEKDAYS: 20,
  FLAGS: 21,
  SLOT: 24,
  SIZE: 32,
} as const;

export const time: Extension<TimeMatch> = {
  kind: 'match',
  name: 'time',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): TimeMatch {
    const b = payload(data, SIZE);
    return {
      dateStart: b.readUInt32LE(0),
      dateStop: b.readUInt32LE(4),
      daytimeStart: b.readUInt32LE(8),
      daytimeStop: b.readUInt32LE(12),
      monthdays: b.readUInt32LE(16),
      weekdays: b[20] ?? 0,
      flags: b[21] ?? 0,
      ...readPad(b, 22, 2),
    };
  },
  encode(v: TimeMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.dateStart >>> 0, 0);
    b.writeUInt32LE(v.dateStop >>> 0, 4);
    b.writeUInt32LE(v.daytimeStart >>> 0, 8);
    b.writeUInt32LE(v.daytimeStop >>> 0, 12);
    b.writeUInt32LE(v.monthdays >>> 0, 16);
    b.writeUInt8(v.weekdays, 20);
    b.writeUInt8(v.flags, 21);
    writePad(b, 22, 2, v.pad);
    return b;
  },
  check(v: TimeMatch): void {
    if (v.daytimeStart > XT_TIME_MAX_DAYTIME || v.daytimeStop > XT_TIME_MAX_DAYTIME) {
      throw new XtError(EDOM, 'match "time": start or stop time greater than 23:59:59');
    }
    if ((v.flags & ~XT_TIME_ALL_FLAGS) !== 0) {
      throw new XtError(EINVAL, `match "time": unknown flags 0x${v.flags.toString(16)}`);
    }
    if ((v.flags & XT_TIME_CONTIGUOUS) !== 0 && v.daytimeStart < v.daytimeStop) {
      throw new XtError(EINVAL, 'match "time": --contiguous with start before stop');
    }
  },
  format(v: TimeMatch): string {
    // time_save's order; a date of 0 is not printed, date_stop's default INT_MAX is.
    const parts: string[] = [];
    if (v.daytimeStart !== 0 || v.daytimeStop !== XT_TIME_MAX_DAYTIME) {
      parts.push(`--timestart ${daytime(v.daytimeStart)}`, `--timestop ${daytime(v.daytimeStop)}`);
    }
    if (v.monthdays >>> 0 !== XT_TIME_ALL_MONTHDAYS) {
      const days = range(1, 31).filter((i) => (v.monthdays >>> i) & 1);
      parts.push(`--monthdays ${days.join(',')}`);
    }
    if (v.weekdays !== XT_TIME_ALL_WEEKDAYS) {
      const days = range(1, 7).filter((i) => (v.weekdays >>> i) & 1);
      parts.push(`--weekdays ${days.map((i) => WEEK_DAYS[i]).join(',')}`);
    }
    if (v.dateStart !== 0) parts.push(`--datestart ${date(v.dateStart)}`);
    if (v.dateStop !== 0) parts.push(`--datestop ${date(v.dateStop)}`);
    if (v.flags & XT_TIME_LOCAL_TZ) parts.push('--kerneltz');
    if (v.flags & XT_TIME_CONTIGUOUS) parts.push('--contiguous');
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "time"';
    const o = readOptions(what, options, {
      datestart: { names: ['datestart'] },
      datestop: { names: ['datestop'] },
      timestart: { names: ['timestart'] },
      timestop: { names: ['timestop'] },
      contiguous: { names: ['contiguous'], args: 0 },
      weekdays: { names: ['weekdays'], invert: true },
      monthdays: { names: ['monthdays'], invert: true },
      localtz: { names: ['localtz'], args: 0 },
      utc: { names: ['utc'], args: 0 },
      kerneltz: { names: ['kerneltz'], args: 0 },
    });
    if (o.utc && (o.localtz || o.kerneltz)) {
      throw new OptionError(`${what}: --utc cannot be used with --localtz or --kerneltz`);
    }
    const v = { ...TIME_DEFAULTS };
    const text = (opt: SaveOption): string => opt.args[0] ?? '';
    if (o.datestart) v.dateStart = parseDate(text(o.datestart), what);
    if (o.datestop) v.dateStop = parseDate(text(o.datestop), what);
    if (o.timestart) v.daytimeStart = parseDaytime(text(o.timestart), what);
    if (o.timestop) v.daytimeStop = parseDaytime(text(o.timestop), what);
    if (o.monthdays) {
      v.monthdays = parseMonthdays(text(o.monthdays), what);
      if (o.monthdays.invert) v.monthdays = (v.monthdays ^ XT_TIME_ALL_MONTHDAYS) >>> 0;
    }
    if (o.weekdays) {
      v.weekdays = parseWeekdays(text(o.weekdays), what);
      if (o.weekdays.invert) v.weekdays ^= XT_TIME_ALL_WEEKDAYS;
    }
    if (o.contiguous) v.flags |= XT_TIME_CONTIGUOUS;
    if (o.localtz || o.kerneltz) v.flags |= XT_TIME_LOCAL_TZ;
    if (o.contiguous && v.daytimeStart < v.daytimeStop) {
      throw new OptionError(`${what}: --contiguous only makes sense when stoptime < starttime`);
    }
    return { extension: time, revision: 0, value: v };
  },
  engine: {
    recordSize: REC.SIZE,
    record(v: TimeMatch, _revision: number, ctx: RecordContext): Buffer {
      const b = Buffer.alloc(REC.SIZE);
      time.encode(v, 0).copy(b, 0, 0, SIZE);
      b.writeUInt32LE(ctx.stateSlot(), REC.SLOT);
      return b;
    },
    state: clockState,
    evaluate: timeCode,
  },
};

const DAY = 86400;
/** Days from the epoch to 2039-01-01 and 2040-01-01: localtime_3's table ends at 2039. */
const DSE_2039 = 25202;
const DSE_2040 = DSE_2039 + 365;
/** Day of the year each month starts on, in a common year. */
const MONTH_STARTS = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/**
 * time_mt on the wall clock (bpf/codegen/clock.ts), in its own arithmetic: the date range on
 * the signed seconds, the daytime on seconds mod 86400 (a range through midnight, --contiguous
 * counting its morning as the day before), the weekday and the monthday of the u32 days since
 * the epoch. The monthday is the kernel's localtime_3, whose years stop at 2039: later days
 * count on from 2039-01-01 and the bit is tested as x86 shifts (count mod 32).
 */
function timeCode(cg: EvalContext): Insn[] {
  const wrapped = cg.label('time_wrapped');
  const dayOk = cg.label('time_dayok');
  const utc = cg.label('time_utc');
  const inRange = cg.label('time_inrange');
  const common = cg.label('time_common');
  const counted = cg.label('time_counted');
  const monthday = cg.label('time_monthday');
  const end = cg.label('time_end');
  const STAMP = R8;
  // R1 = yday, R2 = leap (0/1) → R1 = monthday - 1
  const days: Insn[] = [];
  for (let i = MONTH_STARTS.length - 1; i > 0; i--) {
    const next = cg.label('time_month');
    days.push(
      Mov.imm(R3, MONTH_STARTS[i] as number),
      ...(i >= 2 ? [Add.reg(R3, R2)] : []),
      JLt.reg(R1, R3, next),
      Sub.reg(R1, R3),
      Ja(monthday),
      withLabel(Nop(), next),
    );
  }
  return [
    ...wallSeconds(RECORD, REC.SLOT, cg.scratch, cg.noMatch),
    Mov.reg(STAMP, R1),
    LoadMem(R3, RECORD, REC.FLAGS, Size.B),
    And.imm(R3, XT_TIME_LOCAL_TZ),
    JEq.imm(R3, 0, utc),
    // stamp -= 60 * sys_tz.tz_minuteswest (an s32)
    Lsh.imm(R2, 32),
    Arsh.imm(R2, 32),
    Mul.imm(R2, 60),
    Sub.reg(STAMP, R2),
    withLabel(LoadMem(R3, RECORD, REC.DATE_START, Size.W), utc),
    JSLt.reg(STAMP, R3, cg.noMatch),
    LoadMem(R3, RECORD, REC.DATE_STOP, Size.W),
    JSGt.reg(STAMP, R3, cg.noMatch),
    Mov.reg(R4, STAMP),
    Mod.imm(R4, DAY),
    LoadMem(R3, RECORD, REC.START, Size.W),
    LoadMem(R5, RECORD, REC.STOP, Size.W),
    JGe.reg(R3, R5, wrapped),
    JLt.reg(R4, R3, cg.noMatch),
    JGt.reg(R4, R5, cg.noMatch),
    Ja(dayOk),
    withLabel(JGe.reg(R4, R3, inRange), wrapped),
    JGt.reg(R4, R5, cg.noMatch),
    withLabel(LoadMem(R3, RECORD, REC.FLAGS, Size.B), inRange),
    And.imm(R3, XT_TIME_CONTIGUOUS),
    JEq.imm(R3, 0, dayOk),
    JGt.reg(R4, R5, dayOk),
    Sub.imm(STAMP, DAY),
    // R0 = days since the epoch, as the kernel's unsigned int
    withLabel(Mov.reg(R0, STAMP), dayOk),
    Div.imm(R0, DAY),
    Mov.reg32(R0, R0),
    Mov.reg32(R4, R0),
    Add.imm32(R4, 3),
    Mod.imm32(R4, 7),
    Add.imm(R4, 1),
    LoadMem(R3, RECORD, REC.WEEKDAYS, Size.B),
    Rsh.reg(R3, R4),
    And.imm(R3, 1),
    JEq.imm(R3, 0, cg.noMatch),
    LoadMem(R3, RECORD, REC.MONTHDAYS, Size.W),
    JEq.imm32(R3, XT_TIME_ALL_MONTHDAYS | 0, end),
    // R1 = day of the year, R2 = leap: four-year cycles from 1968 (exact until 2100)
    Mov.imm(R2, 0),
    Mov.reg(R1, R0),
    Sub.imm(R1, DSE_2039),
    JGe.imm(R0, DSE_2040, counted),
    Mov.reg(R1, R0),
    Add.imm(R1, 731),
    Mod.imm(R1, 1461),
    JGe.imm(R1, 366, common),
    Mov.imm(R2, 1),
    Ja(counted),
    withLabel(Sub.imm(R1, 366), common),
    Mod.imm(R1, 365),
    withLabel(Nop(), counted),
    ...days,
    withLabel(Add.imm(R1, 1), monthday),
    And.imm(R1, 0xff),
    And.imm(R1, 31),
    LoadMem(R3, RECORD, REC.MONTHDAYS, Size.W),
    Rsh.reg(R3, R1),
    And.imm(R3, 1),
    JEq.imm(R3, 0, cg.noMatch),
    withLabel(Nop(), end),
  ];
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

function daytime(t: number): string {
  const minutes = Math.floor(t / 60);
  return `${two(Math.floor(minutes / 60))}:${two(minutes % 60)}:${two(t % 60)}`;
}

/** gmtime in the ISO 8601 "T" form time_print_date uses. */
function date(t: number): string {
  return new Date(t * 1000).toISOString().slice(0, 19);
}

/** An unsigned int read with strtoul(…, 10), as libxt_time's parsers do (truncated to 32 bits). */
function field(s: string): { n: number; rest: string } {
  const r = cStrtoul(s, 10);
  return { n: Number(r.value & 0xffffffffn), rest: s.slice(r.end) };
}

/**
 * time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]] with the year in 1970-2038, then mktime in UTC,
 * which normalizes (month 0, day 0, February 30) and refuses a time before the epoch.
 */
export function parseDate(s: string, what: string): number {
  const bad = (): OptionError => new OptionError(`${what}: invalid date "${s}"`);
  const limits: readonly (readonly [string, number, number])[] = [
    ['-', 1970, 2038],
    ['-', 0, 12],
    ['T', 0, 31],
    [':', 0, 23],
    [':', 0, 59],
    ['', 0, 59],
  ];
  const got = [1970, 1, 1, 0, 0, 0];
  let rest = s;
  for (let i = 0; i < limits.length; i++) {
    const [sep, min, max] = limits[i] ?? ['', 0, 0];
    const f = field(rest);
    if ((f.rest !== '' && (sep === '' || f.rest[0] !== sep)) || f.n < min || f.n > max) {
      throw bad();
    }
    got[i] = f.n;
    if (f.rest === '') break;
    rest = f.rest.slice(1);
  }
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0] = got;
  const t = Date.UTC(y, mo - 1, d, h, mi, sec) / 1000;
  if (t < 0) throw new OptionError(`${what}: mktime returned an error for "${s}"`);
  return t >>> 0;
}

/** time_parse_minutes: hh:mm[:ss] (the colon after hh is required). */
export function parseDaytime(s: string, what: string): number {
  const bad = (): OptionError => new OptionError(`${what}: invalid time "${s}"`);
  const h = field(s);
  if (h.rest[0] !== ':' || h.n > 23) throw bad();
  const m = field(h.rest.slice(1));
  if ((m.rest !== '' && m.rest[0] !== ':') || m.n > 59) throw bad();
  let sec = 0;
  if (m.rest !== '') {
    const x = field(m.rest.slice(1));
    if (x.rest !== '' || x.n > 59) throw bad();
    sec = x.n;
  }
  return 3600 * h.n + 60 * m.n + sec;
}

/**
 * my_strseg: comma-separated segments, each cut to `keep` characters (the C buffer), stopping
 * at the end of the text; an empty segment inside the list is a segment too.
 */
function segments(s: string, keep: number): string[] {
  const out: string[] = [];
  let rest: string | undefined = s;
  while (rest !== undefined && rest !== '') {
    const comma: number = rest.indexOf(',');
    out.push((comma === -1 ? rest : rest.slice(0, comma)).slice(0, keep));
    rest = comma === -1 ? undefined : rest.slice(comma + 1);
  }
  return out;
}

/** time_parse_monthdays: numbers 0-31 (strtoul base 0), two characters per segment. */
export function parseMonthdays(s: string, what: string): number {
  let bits = 0;
  for (const day of segments(s, 2)) {
    const r = cStrtoul(day, 0);
    const i = Number(r.value & 0xffffffffn);
    if (r.end !== day.length || i > 31) {
      throw new OptionError(`${what}: ${day} is not a valid day for --monthdays`);
    }
    bits |= 1 << i;
  }
  return bits >>> 0;
}

/**
 * time_parse_weekdays: a number (1 << n with x86's shift count masking, kept to the u8 field)
 * or a name matched on its first two letters, case-sensitively, three characters per segment.
 */
export function parseWeekdays(s: string, what: string): number {
  let bits = 0;
  for (const day of segments(s, 3)) {
    const r = cStrtoul(day, 0);
    if (r.end === day.length) {
      const i = Number(r.value & 0xffffffffn);
      if (i === 0) throw new OptionError(`${what}: no, the week does NOT begin with Sunday`);
      bits |= 1 << (i & 31);
      continue;
    }
    const hits = WEEK_DAYS.map((n, i) => (n !== '' && day.slice(0, 2) === n.slice(0, 2) ? i : 0));
    const hit = hits.reduce((a, i) => a | (i === 0 ? 0 : 1 << i), 0);
    if (hit === 0) throw new OptionError(`${what}: ${day} is not a valid day specifier`);
    bits |= hit;
  }
  return bits & 0xff;
}
