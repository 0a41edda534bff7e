// Per-rule state slots under their lock (a map of BUCKET values, btf.ts): what quota and
// statistic's nth mode do around their few instructions of arithmetic.
import {
  Add,
  Call,
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
import { RECORD } from './eval.js';

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_spin_lock = 93;
export const BPF_FUNC_spin_unlock = 94;

/**
 * Looks up the slot of `map` whose index is the record's u32 at `slotAt` (missing → `none`)
 * and takes its lock: R1 = the slot. The key and the slot's address use the 16 bytes of stack
 * at FP+`scratch`. Clobbers R0-R5; until unlocked only the slot's own arithmetic may run.
 */
export function lockSlot(map: string, slotAt: number, scratch: number, none: string): Insn[] {
  const [key, ptr] = [scratch, scratch + 8];
  return [
    LoadMem(R1, RECORD, slotAt, Size.W),
    StoreMem(FP, key, R1, Size.W),
    LoadMapPtr(R1, map),
    Mov.reg(R2, FP),
    Add.imm(R2, key),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, none),
    StoreMem(FP, ptr, R0, Size.DW),
    Mov.reg(R1, R0),
    Call.helper(BPF_FUNC_spin_lock),
    LoadMem(R1, FP, ptr, Size.DW),
  ];
}
