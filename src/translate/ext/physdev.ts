// -m physdev: struct xt_physdev_info (linux/netfilter/xt_physdev.h), revision 0, registered per
// family: the bridge ports a bridged packet came in on or goes out of. physdev_mt_check refuses
// (EINVAL) a bitmask with no test or unknown bits, and --physdev-out/--physdev-is-out in a rule
// reachable from OUTPUT unless --physdev-is-bridged (not inverted) is there too: locally sent
// packets only learn their bridge port after the hook. It also loads br_netfilter once.
import { NF_INET_LOCAL_OUT } from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import { OptionError, optionBits, parseInterface, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { cString, payload, rawChars, writeChars, zeroed } from './util.js';
import {
  Add,
  And,
  Call,
  FP,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Nop,
  Or,
  R1,
  R2,
  R3,
  R4,
  R5,
  R8,
  Size,
  StoreMem,
  Sub,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { CTX, RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { forEach, kread, skbExtFind } from '../../bpf/codegen/kmem.js';

export const XT_PHYSDEV_OP_IN = 0x01;
export const XT_PHYSDEV_OP_OUT = 0x02;
export const XT_PHYSDEV_OP_BRIDGED = 0x04;
export const XT_PHYSDEV_OP_ISIN = 0x08;
export const XT_PHYSDEV_OP_ISOUT = 0x10;
export const XT_PHYSDEV_OP_MASK = 0x1f;

export interface PhysdevMatch {
  /** The 16 name bytes as latin1, trailing NULs dropped; compared under the mask. */
  readonly physindev: string;
  /** 16 bytes: 0xff where the name must match (with its NUL, or up to a trailing "+"). */
  readonly inMask: readonly number[];
  readonly physoutdev: string;
  readonly outMask: readonly number[];
  /** XT_PHYSDEV_OP_* tests whose result is inverted. */
  readonly invert: number;
  /** XT_PHYSDEV_OP_* tests to make. */
  readonly bitmask: number;
}

const IFNAMSIZ = 16;
const SIZE = 4 * IFNAMSIZ + 2;

export const physdev: Extension<PhysdevMatch> = {
  kind: 'match',
  name: 'physdev',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): PhysdevMatch {
    const b = payload(data, SIZE);
    const field = (i: number): Buffer => b.subarray(IFNAMSIZ * i, IFNAMSIZ * (i + 1));
    return {
      physindev: rawChars(field(0)),
      inMask: [...field(1)],
      physoutdev: rawChars(field(2)),
      outMask: [...field(3)],
      invert: b[64] ?? 0,
      bitmask: b[65] ?? 0,
    };
  },
  encode(v: PhysdevMatch): Buffer {
    const b = zeroed(SIZE);
    writeChars(b, 0, v.physindev, IFNAMSIZ);
    b.set(v.inMask.slice(0, IFNAMSIZ), IFNAMSIZ);
    writeChars(b, 2 * IFNAMSIZ, v.physoutdev, IFNAMSIZ);
    b.set(v.outMask.slice(0, IFNAMSIZ), 3 * IFNAMSIZ);
    b.writeUInt8(v.invert, 64);
    b.writeUInt8(v.bitmask, 65);
    return b;
  },
  check(v: PhysdevMatch, _revision: number, ctx: CheckContext): void {
    const what = 'match "physdev"';
    if ((v.bitmask & XT_PHYSDEV_OP_MASK) === 0 || (v.bitmask & ~XT_PHYSDEV_OP_MASK) !== 0) {
      throw new XtError(EINVAL, `${what}: bitmask 0x${v.bitmask.toString(16)}`);
    }
    const bridged =
      (v.bitmask & XT_PHYSDEV_OP_BRIDGED) !== 0 && (v.invert & XT_PHYSDEV_OP_BRIDGED) === 0;
    if (
      (v.bitmask & (XT_PHYSDEV_OP_OUT | XT_PHYSDEV_OP_ISOUT)) !== 0 &&
      !bridged &&
      (ctx.hookMask & (1 << NF_INET_LOCAL_OUT)) !== 0
    ) {
      throw new XtError(
        EINVAL,
        `${what}: --physdev-out/--physdev-is-out from OUTPUT need --physdev-is-bridged`,
      );
    }
  },
  format(v: PhysdevMatch): string {
    // physdev_save's order.
    const items: readonly (readonly [number, string])[] = [
      [XT_PHYSDEV_OP_ISIN, '--physdev-is-in'],
      [XT_PHYSDEV_OP_IN, `--physdev-in ${cString(v.physindev)}`],
      [XT_PHYSDEV_OP_ISOUT, '--physdev-is-out'],
      [XT_PHYSDEV_OP_OUT, `--physdev-out ${cString(v.physoutdev)}`],
      [XT_PHYSDEV_OP_BRIDGED, '--physdev-is-bridged'],
    ];
    return items
      .filter(([bit]) => (v.bitmask & bit) !== 0)
      .map(([bit, text]) => `${(v.invert & bit) !== 0 ? '! ' : ''}${text}`)
      .join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "physdev"';
    const inv = { invert: true } as const;
    const flag = { args: 0, invert: true } as const;
    const o = readOptions(what, options, {
      in: { names: ['physdev-in'], ...inv },
      out: { names: ['physdev-out'], ...inv },
      isIn: { names: ['physdev-is-in'], ...flag },
      isOut: { names: ['physdev-is-out'], ...flag },
      bridged: { names: ['physdev-is-bridged'], ...flag },
    });
    if (options.length === 0) throw new OptionError(`${what}: no physdev option given`);
    const { bits: bitmask, inverted: invert } = optionBits([
      [o.in, XT_PHYSDEV_OP_IN],
      [o.out, XT_PHYSDEV_OP_OUT],
      [o.isIn, XT_PHYSDEV_OP_ISIN],
      [o.isOut, XT_PHYSDEV_OP_ISOUT],
      [o.bridged, XT_PHYSDEV_OP_BRIDGED],
    ]);
    const port = (opt: SaveOption | undefined): { name: string; mask: number[] } => {
      if (opt === undefined) return { name: '', mask: Array<number>(IFNAMSIZ).fill(0) };
      const p = parseInterface(opt.args[0] ?? '', `${what}: --${opt.name}`);
      return { name: p.name, mask: [...p.mask] };
    };
    const pin = port(o.in);
    const pout = port(o.out);
    const value: PhysdevMatch = {
      physindev: pin.name,
      inMask: pin.mask,
      physoutdev: pout.name,
      outMask: pout.mask,
      invert,
      bitmask,
    };
    return { extension: physdev, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: PhysdevMatch) => physdev.encode(v, 0),
    evaluate: physdevCode,
  },
};

const BPF_FUNC_probe_read_kernel = 113;
/** Record offsets (the xt payload). */
const REC = { IN: 0, IN_MASK: 16, OUT: 32, OUT_MASK: 48, INVERT: 64, BITMASK: 65 } as const;
/** NETDEV_HASHENTRIES: the buckets of net->dev_index_head (1 << NETDEV_HASHBITS). */
const DEV_HASH_ENTRIES = 256;
/** Devices walked in one bucket at most (the kernel walks the whole chain). */
const DEV_CHAIN_MAX = 1 << 16;

/**
 * physdev_mt on the skb's bridge netfilter extension. br_netfilter runs the IPv4 hooks for the
 * packets a bridge forwards (FORWARD) and hands up (INPUT), which is where our programs see
 * them with the extension; a locally sent packet has none at OUTPUT. The in-port is an ifindex
 * there: dev_get_by_index_rcu's walk of the netns' index hash finds its device.
 */
function physdevCode(cg: EvalContext): Insn[] {
  const k = cg.kernel;
  const [buf, outdev, ifx, iter] = [cg.scratch, cg.scratch + 8, cg.scratch + 16, cg.scratch + 24];
  /** The name read for a comparison: the 16 bytes from `ifx` on, once the walk is done. */
  const name = ifx;
  const noInfo = cg.label('phys_noinfo');
  const noIndev = cg.label('phys_noin');
  const outTest = cg.label('phys_out');
  const end = cg.label('phys_end');
  const hlist = k.memberOffset('net_device', 'index_hlist');
  const devIfindex = k.memberOffset('net_device', 'ifindex') - hlist;
  const tested = (bit: number, skip: string): Insn[] => [
    LoadMem(R2, RECORD, REC.BITMASK, Size.B),
    And.imm(R2, bit),
    JEq.imm(R2, 0, skip),
  ];
  /** R3 = 1 when `bit` is not inverted. */
  const notInverted = (bit: number): Insn[] => {
    const inv = cg.label('phys_inv');
    return [
      LoadMem(R2, RECORD, REC.INVERT, Size.B),
      And.imm(R2, bit),
      Mov.imm(R3, 0),
      JNe.imm(R2, 0, inv),
      Mov.imm(R3, 1),
      withLabel(Nop(), inv),
    ];
  };
  /** --physdev-is-*: fails when the device (R1: address or 0) is absent ^ inverted. */
  const presence = (bit: number): Insn[] => {
    const skip = cg.label('phys_skip');
    const absent = cg.label('phys_absent');
    return [
      Mov.reg(R4, R1),
      ...tested(bit, skip),
      Mov.imm(R5, 1),
      JEq.imm(R4, 0, absent),
      Mov.imm(R5, 0),
      withLabel(Nop(), absent),
      ...notInverted(bit),
      // absent ^ inverted == absent ^ !notInverted: fails when absent == notInverted
      JEq.reg(R5, R3, cg.noMatch),
      withLabel(Nop(), skip),
    ];
  };
  /** The device at R1's name against the record's: fails when equal != !(invert & bit). */
  const compare = (bit: number, at: number, mask: number): Insn[] => {
    const out: Insn[] = [
      Mov.reg(R3, R1),
      Add.imm(R3, k.memberOffset('net_device', 'name')),
      Mov.reg(R1, FP),
      Add.imm(R1, name),
      Mov.imm(R2, 16),
      Call.helper(BPF_FUNC_probe_read_kernel),
      Mov.imm(R4, 0),
    ];
    for (const half of [0, 8]) {
      out.push(
        LoadMem(R1, FP, name + half, Size.DW),
        LoadMem(R2, RECORD, at + half, Size.DW),
        Xor.reg(R1, R2),
        LoadMem(R2, RECORD, mask + half, Size.DW),
        And.reg(R1, R2),
        Or.reg(R4, R1),
      );
    }
    const differ = cg.label('phys_differ');
    return [
      ...out,
      Mov.imm(R5, 0),
      JNe.imm(R4, 0, differ),
      Mov.imm(R5, 1),
      withLabel(Nop(), differ),
      ...notInverted(bit),
      JNe.reg(R5, R3, cg.noMatch),
    ];
  };
  return [
    LoadMem(R1, CTX, cg.ctxLayout.skb, Size.DW),
    ...skbExtFind(k, R1, 'SKB_EXT_BRIDGE_NF', buf, noInfo),
    Mov.reg(R8, R1),
    ...kread(R8, k.memberOffset('nf_bridge_info', 'physoutdev'), Size.DW, buf),
    StoreMem(FP, outdev, R1, Size.DW),
    ...kread(R8, k.memberOffset('nf_bridge_info', 'physinif'), Size.W, buf),
    StoreMem(FP, ifx, R1, Size.DW),
    LoadMem(R1, FP, outdev, Size.DW),
    ...presence(XT_PHYSDEV_OP_BRIDGED),
    // R8 = dev_get_by_index_rcu(xt_net(par), physinif), by its index_hlist node
    LoadMem(R1, CTX, cg.ctxLayout.state, Size.DW),
    LoadMem(R1, R1, k.memberOffset('nf_hook_state', 'net'), Size.DW),
    ...kread(R1, k.memberOffset('net', 'dev_index_head'), Size.DW, buf),
    LoadMem(R2, FP, ifx, Size.W),
    And.imm(R2, DEV_HASH_ENTRIES - 1),
    Lsh.imm(R2, 3),
    Add.reg(R1, R2),
    ...kread(R1, k.memberOffset('hlist_head', 'first'), Size.DW, buf),
    Mov.reg(R8, R1),
    Mov.imm(R5, DEV_CHAIN_MAX),
    ...forEach(
      k,
      R5,
      iter,
      (h) => cg.label(h),
      (brk) => [
        JEq.imm(R8, 0, brk),
        ...kread(R8, devIfindex, Size.W, buf),
        LoadMem(R2, FP, ifx, Size.W),
        JEq.reg(R1, R2, brk),
        ...kread(R8, k.memberOffset('hlist_node', 'next'), Size.DW, buf),
        Mov.reg(R8, R1),
      ],
    ),
    JEq.imm(R8, 0, noIndev),
    // The walk may also have run out of steps.
    ...kread(R8, devIfindex, Size.W, buf),
    LoadMem(R2, FP, ifx, Size.W),
    Sub.imm(R8, hlist),
    JEq.reg(R1, R2, noIndev),
    Mov.imm(R8, 0),
    withLabel(Mov.reg(R1, R8), noIndev),
    ...presence(XT_PHYSDEV_OP_ISIN),
    LoadMem(R1, FP, outdev, Size.DW),
    ...presence(XT_PHYSDEV_OP_ISOUT),
    ...tested(XT_PHYSDEV_OP_IN, outTest),
    JEq.imm(R8, 0, outTest),
    Mov.reg(R1, R8),
    ...compare(XT_PHYSDEV_OP_IN, REC.IN, REC.IN_MASK),
    withLabel(Nop(), outTest),
    ...tested(XT_PHYSDEV_OP_OUT, end),
    LoadMem(R1, FP, outdev, Size.DW),
    JEq.imm(R1, 0, cg.noMatch),
    ...compare(XT_PHYSDEV_OP_OUT, REC.OUT, REC.OUT_MASK),
    Ja(end),
    // No bridge information: holds when every test asked for is inverted.
    withLabel(LoadMem(R1, RECORD, REC.INVERT, Size.B), noInfo),
    Xor.imm(R1, -1),
    LoadMem(R2, RECORD, REC.BITMASK, Size.B),
    And.reg(R1, R2),
    And.imm(R1, XT_PHYSDEV_OP_MASK),
    JNe.imm(R1, 0, cg.noMatch),
    withLabel(Nop(), end),
  ];
}
