// Conntrack state as xt_state and xt_conntrack see it. The hooks run after conntrack, so the
// entry is already on the skb: nothing here tracks connections, it only reads the kernel's.
import {
  Add,
  Ja,
  JNe,
  LoadMem,
  Lsh,
  Mod,
  Mov,
  Nop,
  R1,
  R2,
  R3,
  Size,
  withLabel,
  type Insn,
} from '../asm/index.js';
import type { CodegenContext } from './context.js';
import { IP_CT_IS_REPLY, IP_CT_UNTRACKED, S, STATE } from './state.js';

/**
 * R3 = the state bit both matches test: with an entry 1 << (ctinfo % IP_CT_IS_REPLY + 1)
 * (XT_STATE_BIT), without one `untracked` for IP_CT_UNTRACKED and `invalid` otherwise.
 */
export function ctStateBit(untracked: number, invalid: number, cg: CodegenContext): Insn[] {
  const has = cg.label('ct_has');
  const done = cg.label('ct_done');
  return [
    LoadMem(R2, STATE, S.CTINFO, Size.W),
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JNe.imm32(R1, 0, has),
    Mov.imm(R3, invalid),
    JNe.imm32(R2, IP_CT_UNTRACKED, done),
    Mov.imm(R3, untracked),
    Ja(done),
    withLabel(Mod.imm(R2, IP_CT_IS_REPLY), has),
    Add.imm(R2, 1),
    Mov.imm(R3, 1),
    Lsh.reg(R3, R2),
    withLabel(Nop(), done),
  ];
}
