// Map helper calls on keys and values an evaluator keeps in its stack frame.
import {
  Add,
  Call,
  FP,
  LoadMapPtr,
  Mov,
  R1,
  R2,
  R3,
  R4,
  type Insn,
  type Reg,
} from '../asm/index.js';

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_map_update_elem = 2;
const BPF_FUNC_map_delete_elem = 3;

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const EEXIST = 17;

/** R0 = bpf_map_lookup_elem(map, FP + keyAt). */
export function lookupAt(map: string, keyAt: number): Insn[] {
  return [
    LoadMapPtr(R1, map),
    Mov.reg(R2, FP),
    Add.imm(R2, keyAt),
    Call.helper(BPF_FUNC_map_lookup_elem),
  ];
}

/**
 * R0 = bpf_map_update_elem(map, FP + keyAt, value, flags): the value at FP + `value`, or at
 * `[reg, offset]` (a record's bytes).
 */
export function updateAt(
  map: string,
  keyAt: number,
  value: number | readonly [Reg, number],
  flags: number,
): Insn[] {
  const [reg, off] = typeof value === 'number' ? [FP, value] : value;
  return [
    LoadMapPtr(R1, map),
    Mov.reg(R2, FP),
    Add.imm(R2, keyAt),
    Mov.reg(R3, reg),
    Add.imm(R3, off),
    Mov.imm(R4, flags),
    Call.helper(BPF_FUNC_map_update_elem),
  ];
}

/** R0 = bpf_map_delete_elem(map, FP + keyAt). */
export function deleteAt(map: string, keyAt: number): Insn[] {
  return [
    LoadMapPtr(R1, map),
    Mov.reg(R2, FP),
    Add.imm(R2, keyAt),
    Call.helper(BPF_FUNC_map_delete_elem),
  ];
}

/** Labels unique in the program for `names`, as `labels.name`. */
export function labelsFor<const N extends string>(
  label: (hint: string) => string,
  prefix: string,
  names: readonly N[],
): Record<N, string> {
  return Object.fromEntries(names.map((n) => [n, label(`${prefix}_${n}`)])) as Record<N, string>;
}
