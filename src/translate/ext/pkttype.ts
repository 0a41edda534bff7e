// -m pkttype: struct xt_pkttype_info (linux/netfilter/xt_pkttype.h), revision 0, family UNSPEC,
// no checkentry. The kernel compares skb->pkt_type (a looped-back packet counts as multicast when
// its destination is, else broadcast) with `pkttype` and XORs the C bool with `invert`, so any
// non-zero invert other than 1 makes the match always true.
import { OptionError, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import {
  And,
  JEq,
  JNe,
  LoadMem,
  Mov,
  Nop,
  R1,
  R2,
  Rsh,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { equalHolds, unlessXor } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { loadSkb } from '../../bpf/codegen/packet.js';
import { S, STATE } from '../../bpf/codegen/state.js';

/** PACKET_* of linux/if_packet.h. */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_LOOPBACK = 5;

export interface PkttypeMatch {
  /** A PACKET_* value (C int). */
  readonly pkttype: number;
  /** C int; iptables writes 1 for `!`. */
  readonly invert: number;
}

const SIZE = 8;

/** libxt_pkttype's names: the first four are what iptables prints, the rest aliases. */
const TYPE_NAMES: readonly (readonly [string, number])[] = [
  ['unicast', PACKET_HOST],
  ['broadcast', PACKET_BROADCAST],
  ['multicast', PACKET_MULTICAST],
  ['otherhost', PACKET_OTHERHOST],
  ['bcast', PACKET_BROADCAST],
  ['mcast', PACKET_MULTICAST],
  ['host', PACKET_HOST],
];

export const pkttype: Extension<PkttypeMatch> = {
  kind: 'match',
  name: 'pkttype',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): PkttypeMatch {
    const b = payload(data, SIZE);
    return { pkttype: b.readInt32LE(0), invert: b.readInt32LE(4) };
  },
  encode(v: PkttypeMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeInt32LE(v.pkttype | 0, 0);
    b.writeInt32LE(v.invert | 0, 4);
    return b;
  },
  check(): void {},
  format(v: PkttypeMatch): string {
    const name = TYPE_NAMES.find(([, t]) => t === v.pkttype)?.[0] ?? String(v.pkttype);
    return `${v.invert !== 0 ? '! ' : ''}--pkt-type ${name}`;
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "pkttype"';
    const o = readOptions(what, options, { type: { names: ['pkt-type'], invert: true } });
    if (o.type === undefined) throw new OptionError(`${what}: --pkt-type is required`);
    const text = o.type.args[0] ?? '';
    const hit = TYPE_NAMES.find(([n]) => n === text.toLowerCase());
    if (hit === undefined) throw new OptionError(`${what}: bad packet type "${text}"`);
    const value: PkttypeMatch = { pkttype: hit[1], invert: o.type.invert ? 1 : 0 };
    return { extension: pkttype, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: PkttypeMatch) => pkttype.encode(v, 0),
    evaluate: (cg: EvalContext): Insn[] => [
      ...equalHolds(packetType(cg), 0, Size.W, cg),
      ...unlessXor(4, cg, Size.W),
    ],
  },
};

/**
 * R1 = the type pkttype_mt compares: skb->pkt_type, but a looped-back packet counts as
 * multicast when its destination is (224.0.0.0/4), else as broadcast.
 */
function packetType(cg: EvalContext): Insn[] {
  const bit = cg.kernel.memberBitOffset('sk_buff', 'pkt_type');
  const done = cg.label('pkt_done');
  return [
    loadSkb(cg),
    LoadMem(R1, R1, bit >> 3, Size.B),
    Rsh.imm(R1, bit & 7),
    And.imm(R1, 7),
    JNe.imm(R1, PACKET_LOOPBACK, done),
    Mov.imm(R1, PACKET_MULTICAST),
    LoadMem(R2, STATE, S.IP + 16, Size.B),
    And.imm(R2, 0xf0),
    JEq.imm(R2, 0xe0, done),
    Mov.imm(R1, PACKET_BROADCAST),
    withLabel(Nop(), done),
  ];
}
