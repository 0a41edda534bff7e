// The wall clock for evaluators (-m time). The kernel's time_mt reads ktime_get_real_seconds();
// a BPF program has no CLOCK_REALTIME helper, but it has bpf_ktime_get_tai_ns(), and TAI moves
// with the wall clock (settimeofday, NTP steps and slewing): REALTIME = TAI - the kernel's TAI
// offset, a whole number of seconds that only adjtimex(ADJ_TAI) and leap seconds change. The
// helper reads that offset and sys_tz (for --kerneltz) when it writes a ruleset, into the
// match's state slot. So the program's seconds are the kernel's but for: a TAI offset or time
// zone set after the last replace (until the next one), and ktime_get_real_seconds being the
// last tick's (it lags a second boundary by up to one jiffy; ours does not).
import {
  Add,
  Call,
  Div,
  FP,
  JEq,
  LoadMapPtr,
  LoadMem,
  Mov,
  R0,
  R1,
  R2,
  Size,
  StoreMem,
  type Insn,
} from '../asm/index.js';
import type { EngineState } from '../../translate/ext/types.js';

export const CLOCK_MAP = 'clock';
/** A slot: REALTIME - TAI in ns (s64), sys_tz.tz_minuteswest (s32). */
export const CLOCK = { OFFSET: 0, MINUTES_WEST: 8, SIZE: 16 } as const;

export function clockValue(realMinusTaiNs: bigint, minutesWest: number): Buffer {
  const b = Buffer.alloc(CLOCK.SIZE);
  b.writeBigInt64LE(realMinusTaiNs, CLOCK.OFFSET);
  b.writeInt32LE(minutesWest, CLOCK.MINUTES_WEST);
  return b;
}

export const clockState: EngineState = {
  map: CLOCK_MAP,
  valueSize: CLOCK.SIZE,
  fresh(c) {
    return clockValue(BigInt(c.realMinusTai) * 1_000_000_000n, c.minutesWest);
  },
};

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_ktime_get_tai_ns = 208;

/**
 * R1 = the wall clock in seconds since the epoch, R2 = sys_tz.tz_minuteswest, from the clock
 * slot whose index is the u32 at `slotAt` in `record`; → `none` if the slot is missing. Uses
 * 16 bytes of stack at FP+`scratch`; clobbers R0-R5.
 */
export function wallSeconds(
  record: typeof R1,
  slotAt: number,
  scratch: number,
  none: string,
): Insn[] {
  return [
    Call.helper(BPF_FUNC_ktime_get_tai_ns),
    StoreMem(FP, scratch + 8, R0, Size.DW),
    LoadMem(R1, record, slotAt, Size.W),
    StoreMem(FP, scratch, R1, Size.W),
    LoadMapPtr(R1, CLOCK_MAP),
    Mov.reg(R2, FP),
    Add.imm(R2, scratch),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, none),
    LoadMem(R1, FP, scratch + 8, Size.DW),
    LoadMem(R2, R0, CLOCK.OFFSET, Size.DW),
    Add.reg(R1, R2),
    Div.imm(R1, 1_000_000_000),
    LoadMem(R2, R0, CLOCK.MINUTES_WEST, Size.W),
  ];
}
