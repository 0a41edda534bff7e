// -p tcp: struct xt_tcp (linux/netfilter/xt_tcpudp.h), "tcp" revision 0 of xt_tcpudp.c.
// Registered with .proto = IPPROTO_TCP, so xt_check_match refuses it unless the rule says
// `-p tcp` without `!`; tcp_mt_check refuses unknown invflags.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parsePortRange, parseUint, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { IPPROTO_TCP, inv, payload, portRange, requireProto, zeroed } from './util.js';
import {
  L4_FRAGMENT,
  L4_SHORT,
  L4_WHOLE,
  box,
  inexact,
  intersect,
  interval,
  range,
  union,
  type Region,
} from '../classify/key.js';
import {
  Add,
  And,
  Ja,
  JEq,
  JGe,
  JLt,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  Rsh,
  Size,
  Sub,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { inRange, loadBe16, requireL4, unlessInverted } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_TCP_INV_SRCPT = 0x01;
export const XT_TCP_INV_DSTPT = 0x02;
export const XT_TCP_INV_FLAGS = 0x04;
export const XT_TCP_INV_OPTION = 0x08;
export const XT_TCP_INV_MASK = 0x0f;

export interface TcpMatch {
  /** Inclusive source port range [lo, hi]; [0, 65535] = any. */
  readonly spts: readonly [number, number];
  readonly dpts: readonly [number, number];
  /** TCP option kind that must be present; 0 = no option test. */
  readonly option: number;
  /** (flags & flgMask) == flgCmp, TCP header byte 13. */
  readonly flgMask: number;
  readonly flgCmp: number;
  readonly invflags: number;
}

const SIZE = 12;

export const tcp: Extension<TcpMatch> = {
  kind: 'match',
  name: 'tcp',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): TcpMatch {
    const b = payload(data, SIZE);
    return {
      spts: [b.readUInt16LE(0), b.readUInt16LE(2)],
      dpts: [b.readUInt16LE(4), b.readUInt16LE(6)],
      option: b[8] ?? 0,
      flgMask: b[9] ?? 0,
      flgCmp: b[10] ?? 0,
      invflags: b[11] ?? 0,
    };
  },
  encode(v: TcpMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.spts[0], 0);
    b.writeUInt16LE(v.spts[1], 2);
    b.writeUInt16LE(v.dpts[0], 4);
    b.writeUInt16LE(v.dpts[1], 6);
    b.writeUInt8(v.option, 8);
    b.writeUInt8(v.flgMask, 9);
    b.writeUInt8(v.flgCmp, 10);
    b.writeUInt8(v.invflags, 11);
    return b;
  },
  check(v: TcpMatch, _revision: number, ctx: CheckContext): void {
    requireProto(ctx, IPPROTO_TCP, 'match "tcp"');
    if ((v.invflags & ~XT_TCP_INV_MASK) !== 0) {
      throw new XtError(EINVAL, `match "tcp": unknown invflags 0x${v.invflags.toString(16)}`);
    }
  },
  format(v: TcpMatch): string {
    const parts: string[] = [];
    if (v.spts[0] !== 0 || v.spts[1] !== 0xffff) {
      parts.push(`${inv((v.invflags & XT_TCP_INV_SRCPT) !== 0)}--sport ${portRange(...v.spts)}`);
    }
    if (v.dpts[0] !== 0 || v.dpts[1] !== 0xffff) {
      parts.push(`${inv((v.invflags & XT_TCP_INV_DSTPT) !== 0)}--dport ${portRange(...v.dpts)}`);
    }
    if (v.option !== 0 || (v.invflags & XT_TCP_INV_OPTION) !== 0) {
      parts.push(`${inv((v.invflags & XT_TCP_INV_OPTION) !== 0)}--tcp-option ${v.option}`);
    }
    if (v.flgMask !== 0 || (v.invflags & XT_TCP_INV_FLAGS) !== 0) {
      parts.push(
        `${inv((v.invflags & XT_TCP_INV_FLAGS) !== 0)}--tcp-flags ${tcpFlags(v.flgMask)} ${tcpFlags(v.flgCmp)}`,
      );
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "tcp"', options, {
      sport: { names: ['sport', 'source-port'], invert: true },
      dport: { names: ['dport', 'destination-port'], invert: true },
      flags: { names: ['tcp-flags'], args: 2, invert: true },
      syn: { names: ['syn'], args: 0, invert: true },
      option: { names: ['tcp-option'], invert: true },
    });
    if (o.flags && o.syn) {
      throw new OptionError('match "tcp": only one of --syn and --tcp-flags is allowed');
    }
    let invflags = 0;
    const ports = (opt: SaveOption | undefined, bit: number): [number, number] => {
      if (opt === undefined) return [0, 0xffff];
      if (opt.invert) invflags |= bit;
      return parsePortRange(opt.args[0] ?? '', `match "tcp": --${opt.name}`);
    };
    const spts = ports(o.sport, XT_TCP_INV_SRCPT);
    const dpts = ports(o.dport, XT_TCP_INV_DSTPT);
    let [flgMask, flgCmp] = [0, 0];
    if (o.syn) {
      // --syn is --tcp-flags SYN,RST,ACK,FIN SYN.
      [flgMask, flgCmp] = [0x17, 0x02];
      if (o.syn.invert) invflags |= XT_TCP_INV_FLAGS;
    } else if (o.flags) {
      flgMask = parseTcpFlags(o.flags.args[0] ?? '');
      flgCmp = parseTcpFlags(o.flags.args[1] ?? '');
      if (o.flags.invert) invflags |= XT_TCP_INV_FLAGS;
    }
    let option = 0;
    if (o.option) {
      option = parseUint(o.option.args[0] ?? '', 1, 255, 'match "tcp": --tcp-option');
      if (o.option.invert) invflags |= XT_TCP_INV_OPTION;
    }
    const value: TcpMatch = { spts, dpts, option, flgMask, flgCmp, invflags };
    return { extension: tcp, revision: 0, value };
  },
  engine: {
    hotdrops: true,
    region: tcpRegion,
    recordSize: SIZE,
    record: (v: TcpMatch) => tcp.encode(v, 0),
    evaluate(cg: EvalContext): Insn[] {
      const flagsEqual = cg.label('tcp_flags_eq');
      return [
        // A TCP fragment at offset 1 could rewrite the flags of the first: the kernel drops it.
        LoadMem(R1, STATE, S.FRAGOFF, Size.W),
        JEq.imm32(R1, 1, cg.hotdrop),
        JNe.imm32(R1, 0, cg.noMatch),
        ...requireL4(20, cg),
        ...inRange(loadBe16(S.L4), 0, 2, Size.H, { offset: INVFLAGS, bit: XT_TCP_INV_SRCPT }, cg),
        ...inRange(
          loadBe16(S.L4 + 2),
          4,
          6,
          Size.H,
          { offset: INVFLAGS, bit: XT_TCP_INV_DSTPT },
          cg,
        ),
        // NF_INVF(XT_TCP_INV_FLAGS, (flags & flg_mask) == flg_cmp)
        LoadMem(R1, STATE, S.L4 + 13, Size.B),
        LoadMem(R2, RECORD, FLG_MASK, Size.B),
        And.reg(R1, R2),
        LoadMem(R2, RECORD, FLG_CMP, Size.B),
        Mov.imm(R4, 1),
        JEq.reg(R1, R2, flagsEqual),
        Mov.imm(R4, 0),
        withLabel(Nop(), flagsEqual),
        ...unlessInverted({ offset: INVFLAGS, bit: XT_TCP_INV_FLAGS }, cg),
        ...optionWalk(cg),
      ];
    },
  },
};

/** Record offsets (struct xt_tcp). */
const OPTION = 8;
const FLG_MASK = 9;
const FLG_CMP = 10;
const INVFLAGS = 11;

/** Options fit in 40 bytes and every step advances at least one: 40 steps always finish. */
const MAX_OPTION_STEPS = 40;

/**
 * With an option in the record: tcp_find_option over the options in the snapshot. A header
 * shorter than 20 bytes, or options the packet does not hold, drop the packet; otherwise the
 * option found → !invert, not → invert. Unrolled, so the verifier sees a straight path per step.
 */
function optionWalk(cg: EvalContext): Insn[] {
  const none = cg.label('opt_none');
  const found = cg.label('opt_found');
  const missing = cg.label('opt_missing');
  const decide = cg.label('opt_decide');
  const out: Insn[] = [
    LoadMem(R0, RECORD, OPTION, Size.B),
    JEq.imm(R0, 0, none),
    LoadMem(R2, STATE, S.L4 + 12, Size.B),
    Rsh.imm(R2, 4),
    Lsh.imm(R2, 2),
    JLt.imm(R2, 20, cg.hotdrop),
    LoadMem(R3, STATE, S.L4LEN, Size.W),
    JLt.reg(R3, R2, cg.hotdrop),
    Sub.imm(R2, 20),
    Mov.imm(R4, 0),
  ];
  for (let k = 0; k < MAX_OPTION_STEPS; k++) {
    const next = cg.label('opt_next');
    const wide = cg.label('opt_wide');
    const len = cg.label('opt_len');
    out.push(
      JGe.reg(R4, R2, missing),
      Mov.reg(R5, STATE),
      Add.reg(R5, R4),
      LoadMem(R1, R5, S.L4 + 20, Size.B),
      JEq.reg(R1, R0, found),
      JGe.imm(R1, 2, wide),
      Add.imm(R4, 1),
      Ja(next),
      // i += op[i+1] ? : 1
      withLabel(LoadMem(R1, R5, S.L4 + 21, Size.B), wide),
      JNe.imm(R1, 0, len),
      Mov.imm(R1, 1),
      withLabel(Add.reg(R4, R1), len),
      withLabel(Nop(), next),
    );
  }
  out.push(
    withLabel(Mov.imm(R4, 0), missing),
    Ja(decide),
    withLabel(Mov.imm(R4, 1), found),
    withLabel(Nop(), decide),
    ...unlessInverted({ offset: INVFLAGS, bit: XT_TCP_INV_OPTION }, cg),
    withLabel(Nop(), none),
  );
  return out;
}

const FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;

/** libxt_tcp's parse_tcp_flag: a comma list of flag names, ALL or NONE. */
function parseTcpFlags(s: string): number {
  let bits = 0;
  for (const name of s.split(',')) {
    const upper = name.toUpperCase();
    const k = FLAG_NAMES.findIndex((f) => f === upper);
    if (upper === 'ALL') bits |= 0x3f;
    else if (upper === 'NONE') continue;
    else if (k === -1 || k > 5) throw new OptionError(`match "tcp": unknown TCP flag "${name}"`);
    else bits |= 1 << k;
  }
  return bits;
}

/** iptables-save's spelling of a TCP flag byte: "SYN,ACK", "NONE", "ALL". */
export function tcpFlags(bits: number): string {
  if (bits === 0) return 'NONE';
  if (bits === 0x3f) return 'ALL';
  return FLAG_NAMES.filter((_, i) => (bits & (1 << i)) !== 0).join(',');
}

/**
 * tcp_mt's packets: whole TCP headers whose ports are in range (exact unless flags or an option
 * are tested too), and every cut-short or fragment TCP packet, which it may hotdrop.
 */
export function tcpRegion(v: TcpMatch): Region {
  const ports = intersect(
    interval('sport', v.spts[0], v.spts[1], (v.invflags & XT_TCP_INV_SRCPT) !== 0),
    interval('dport', v.dpts[0], v.dpts[1], (v.invflags & XT_TCP_INV_DSTPT) !== 0),
  );
  const more =
    v.flgMask !== 0 || v.flgCmp !== 0 || (v.invflags & XT_TCP_INV_FLAGS) !== 0 || v.option !== 0;
  const whole = intersect(
    [box(true, range('proto', IPPROTO_TCP, IPPROTO_TCP), range('l4', L4_WHOLE, L4_WHOLE))],
    more ? inexact(ports) : ports,
  );
  return union(whole, [
    box(false, range('proto', IPPROTO_TCP, IPPROTO_TCP), range('l4', L4_SHORT, L4_FRAGMENT)),
  ]);
}
