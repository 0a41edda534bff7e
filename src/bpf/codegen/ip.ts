// The part of ipt_ip that is not in the rule record: the interfaces. ip_packet_match compares
// the device names under masks (ifname_compare_aligned), which the classifier key cannot hold,
// so rules that name an interface carry this pseudo-match first among their matches (before any
// stateful one, as the kernel tests ipt_ip before every match).
import {
  And,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Nop,
  Or,
  R1,
  R2,
  R3,
  R4,
  Size,
  Xor,
  withLabel,
  type Insn,
} from '../asm/index.js';
import { IPT_INV_VIA_IN, IPT_INV_VIA_OUT } from '../../translate/abi.js';
import { namesIface, type IfaceMatch, type RuleIp } from '../../translate/ir.js';
import type { Evaluated } from '../../translate/ext/types.js';
import { RECORD, type EvalContext } from './eval.js';
import { S, STATE } from './state.js';

/** Record: in name, in mask, out name, out mask (16 bytes each), invflags. */
const REC = { IN: 0, IN_MASK: 16, OUT: 32, OUT_MASK: 48, INV: 64, SIZE: 72 } as const;

/** Whether the rule tests an interface at all (a zero mask matches every device). */
export function namesInterface(ip: RuleIp): boolean {
  return (
    namesIface(ip.inIface) ||
    namesIface(ip.outIface) ||
    (ip.invflags & (IPT_INV_VIA_IN | IPT_INV_VIA_OUT)) !== 0
  );
}

function nameBytes(m: IfaceMatch): Buffer {
  if (m.raw) return Buffer.from(m.raw);
  const b = Buffer.alloc(16);
  b.write(m.name.slice(0, 16), 'latin1');
  return b;
}

function ifaceRecord(ip: RuleIp): Buffer {
  const b = Buffer.alloc(REC.SIZE);
  nameBytes(ip.inIface).copy(b, REC.IN);
  Buffer.from(ip.inIface.mask).copy(b, REC.IN_MASK);
  nameBytes(ip.outIface).copy(b, REC.OUT);
  Buffer.from(ip.outIface.mask).copy(b, REC.OUT_MASK);
  b[REC.INV] = ip.invflags & (IPT_INV_VIA_IN | IPT_INV_VIA_OUT);
  return b;
}

/** NF_INVF(inv, ((dev ^ name) & mask) != 0) over two u64 words fails the rule. */
function side(dev: number, name: number, mask: number, inv: number, cg: EvalContext): Insn[] {
  const differs = cg.label('if_differs');
  const done = cg.label('if_done');
  const word = (reg: typeof R1, k: number): Insn[] => [
    LoadMem(reg, STATE, dev + 8 * k, Size.DW),
    LoadMem(R2, RECORD, name + 8 * k, Size.DW),
    Xor.reg(reg, R2),
    LoadMem(R2, RECORD, mask + 8 * k, Size.DW),
    And.reg(reg, R2),
  ];
  return [
    ...word(R1, 0),
    ...word(R3, 1),
    Or.reg(R1, R3),
    LoadMem(R4, RECORD, REC.INV, Size.B),
    And.imm(R4, inv),
    JNe.imm(R1, 0, differs),
    JNe.imm(R4, 0, cg.noMatch),
    Ja(done),
    withLabel(JEq.imm(R4, 0, cg.noMatch), differs),
    withLabel(Nop(), done),
  ];
}

/** The interface pseudo-match (its value is the rule's ipt_ip). */
export const IFACE: Evaluated = {
  name: 'iface',
  engine: {
    recordSize: REC.SIZE,
    record: (ip) => ifaceRecord(ip as RuleIp),
    evaluate: (cg) => [
      ...side(S.IIF, REC.IN, REC.IN_MASK, IPT_INV_VIA_IN, cg),
      ...side(S.OIF, REC.OUT, REC.OUT_MASK, IPT_INV_VIA_OUT, cg),
    ],
  },
};
