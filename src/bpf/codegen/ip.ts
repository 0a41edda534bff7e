// ipt_ip as ip_packet_match tests it: addresses under masks, interfaces under masks, protocol,
// fragments — each with its IPT_INV_* flag, in the kernel's order.
import {
  And,
  Ja,
  JEq,
  JNe,
  LoadImm64,
  LoadMem,
  Or,
  R1,
  R2,
  R3,
  Size,
  Xor,
  type Insn,
} from '../asm/index.js';
import {
  IPT_F_FRAG,
  IPT_INV_DSTIP,
  IPT_INV_FRAG,
  IPT_INV_PROTO,
  IPT_INV_SRCIP,
  IPT_INV_VIA_IN,
  IPT_INV_VIA_OUT,
} from '../../translate/abi.js';
import type { IfaceMatch, RuleIp } from '../../translate/ir.js';
import type { CodegenContext } from './context.js';
import { S, STATE } from './state.js';

/** IR addresses are big-endian numbers; a u32 load of packet bytes reads them little-endian. */
const le32 = (v: number): number => Buffer.from(Uint32Array.of(v).buffer).readUInt32BE(0);

function address(
  offset: number,
  value: number,
  mask: number,
  invert: boolean,
  cg: CodegenContext,
): Insn[] {
  if (mask === 0 && value === 0 && !invert) return [];
  return [
    LoadMem(R1, STATE, offset, Size.W),
    And.imm32(R1, le32(mask)),
    invert ? JEq.imm32(R1, le32(value), cg.noMatch) : JNe.imm32(R1, le32(value), cg.noMatch),
  ];
}

function ifaceBytes(m: IfaceMatch): Buffer {
  if (m.raw) return Buffer.from(m.raw);
  const b = Buffer.alloc(16);
  b.write(m.name.slice(0, 16), 'latin1');
  return b;
}

/** ifname_compare_aligned: ((dev ^ name) & mask) over two u64 words; non-zero = differs. */
function iface(offset: number, m: IfaceMatch, invert: boolean, cg: CodegenContext): Insn[] {
  const mask = Buffer.from(m.mask);
  if (mask.every((b) => b === 0)) return invert ? [Ja(cg.noMatch)] : [];
  const name = ifaceBytes(m);
  const word = (reg: typeof R1, k: number): Insn[] => [
    LoadMem(reg, STATE, offset + 8 * k, Size.DW),
    LoadImm64(R2, name.readBigUInt64LE(8 * k)),
    Xor.reg(reg, R2),
    LoadImm64(R2, mask.readBigUInt64LE(8 * k)),
    And.reg(reg, R2),
  ];
  return [
    ...word(R1, 0),
    ...word(R3, 1),
    Or.reg(R1, R3),
    invert ? JEq.imm(R1, 0, cg.noMatch) : JNe.imm(R1, 0, cg.noMatch),
  ];
}

export function ipMatch(ip: RuleIp, cg: CodegenContext): Insn[] {
  const inv = (flag: number): boolean => (ip.invflags & flag) !== 0;
  const out: Insn[] = [
    ...address(S.IP + 12, ip.src, ip.srcMask, inv(IPT_INV_SRCIP), cg),
    ...address(S.IP + 16, ip.dst, ip.dstMask, inv(IPT_INV_DSTIP), cg),
    ...iface(S.IIF, ip.inIface, inv(IPT_INV_VIA_IN), cg),
    ...iface(S.OIF, ip.outIface, inv(IPT_INV_VIA_OUT), cg),
  ];
  if (ip.proto !== 0) {
    out.push(
      LoadMem(R1, STATE, S.IP + 9, Size.B),
      inv(IPT_INV_PROTO)
        ? JEq.imm32(R1, ip.proto, cg.noMatch)
        : JNe.imm32(R1, ip.proto, cg.noMatch),
    );
  }
  // NF_INVF(IPT_INV_FRAG, (flags & IPT_F_FRAG) && !fragoff): with -f unset the condition is
  // false, so only its inversion (which iptables never writes) can fail the rule.
  if (ip.flags & IPT_F_FRAG) {
    out.push(
      LoadMem(R1, STATE, S.FRAGOFF, Size.W),
      inv(IPT_INV_FRAG) ? JNe.imm32(R1, 0, cg.noMatch) : JEq.imm32(R1, 0, cg.noMatch),
    );
  } else if (inv(IPT_INV_FRAG)) {
    out.push(Ja(cg.noMatch));
  }
  return out;
}
