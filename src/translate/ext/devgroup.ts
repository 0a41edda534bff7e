// -m devgroup: struct xt_devgroup_info (linux/netfilter/xt_devgroup.h), revision 0, family
// UNSPEC. devgroup_mt_checkentry refuses (EINVAL) unknown flags, a source-group test reachable
// from a hook without an input device (OUTPUT, POSTROUTING) and a destination-group test from
// one without an output device (PREROUTING, INPUT).
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseValMask, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { formatValMask, payload, zeroed } from './util.js';
import {
  And,
  JEq,
  LoadMem,
  Mov,
  Nop,
  R1,
  R2,
  R3,
  R4,
  Size,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { unlessInverted } from '../../bpf/codegen/cmp.js';
import { CTX, RECORD, type EvalContext } from '../../bpf/codegen/eval.js';

export const XT_DEVGROUP_MATCH_SRC = 0x1;
export const XT_DEVGROUP_INVERT_SRC = 0x2;
export const XT_DEVGROUP_MATCH_DST = 0x4;
export const XT_DEVGROUP_INVERT_DST = 0x8;

/** PRE_ROUTING | LOCAL_IN | FORWARD, and FORWARD | LOCAL_OUT | POST_ROUTING. */
const SRC_HOOKS = (1 << 0) | (1 << 1) | (1 << 2);
const DST_HOOKS = (1 << 2) | (1 << 3) | (1 << 4);

/** Debian's /etc/iproute2/group. */
export const GROUP_NAMES: readonly (readonly [number, string])[] = [[0, 'default']];

export interface DevgroupMatch {
  readonly flags: number;
  readonly srcGroup: number;
  readonly srcMask: number;
  readonly dstGroup: number;
  readonly dstMask: number;
}

const SIZE = 20;

export const devgroup: Extension<DevgroupMatch> = {
  kind: 'match',
  name: 'devgroup',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): DevgroupMatch {
    const b = payload(data, SIZE);
    return {
      flags: b.readUInt32LE(0),
      srcGroup: b.readUInt32LE(4),
      srcMask: b.readUInt32LE(8),
      dstGroup: b.readUInt32LE(12),
      dstMask: b.readUInt32LE(16),
    };
  },
  encode(v: DevgroupMatch): Buffer {
    const b = zeroed(SIZE);
    [v.flags, v.srcGroup, v.srcMask, v.dstGroup, v.dstMask].forEach((x, i) =>
      b.writeUInt32LE(x >>> 0, 4 * i),
    );
    return b;
  },
  check(v: DevgroupMatch, _revision: number, ctx: CheckContext): void {
    const what = 'match "devgroup"';
    if ((v.flags & ~0xf) !== 0) {
      throw new XtError(EINVAL, `${what}: unknown flags 0x${v.flags.toString(16)}`);
    }
    if (v.flags & XT_DEVGROUP_MATCH_SRC && (ctx.hookMask & ~SRC_HOOKS) !== 0) {
      throw new XtError(EINVAL, `${what}: --src-group used from a hook without an input device`);
    }
    if (v.flags & XT_DEVGROUP_MATCH_DST && (ctx.hookMask & ~DST_HOOKS) !== 0) {
      throw new XtError(EINVAL, `${what}: --dst-group used from a hook without an output device`);
    }
  },
  format(v: DevgroupMatch): string {
    const parts: string[] = [];
    if (v.flags & XT_DEVGROUP_MATCH_SRC) {
      const neg = v.flags & XT_DEVGROUP_INVERT_SRC ? '! ' : '';
      parts.push(`${neg}--src-group ${formatValMask(v.srcGroup, v.srcMask, GROUP_NAMES)}`);
    }
    if (v.flags & XT_DEVGROUP_MATCH_DST) {
      const neg = v.flags & XT_DEVGROUP_INVERT_DST ? '! ' : '';
      parts.push(`${neg}--dst-group ${formatValMask(v.dstGroup, v.dstMask, GROUP_NAMES)}`);
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "devgroup"';
    const o = readOptions(what, options, {
      src: { names: ['src-group'], invert: true },
      dst: { names: ['dst-group'], invert: true },
    });
    if (o.src === undefined && o.dst === undefined) {
      throw new OptionError(`${what}: --src-group or --dst-group is required`);
    }
    let flags = 0;
    const group = (opt: SaveOption | undefined, match: number, invert: number) => {
      if (opt === undefined) return { value: 0, mask: 0 };
      flags |= match | (opt.invert ? invert : 0);
      return parseValMask(opt.args[0] ?? '', `${what}: --${opt.name}`, GROUP_NAMES);
    };
    const src = group(o.src, XT_DEVGROUP_MATCH_SRC, XT_DEVGROUP_INVERT_SRC);
    const dst = group(o.dst, XT_DEVGROUP_MATCH_DST, XT_DEVGROUP_INVERT_DST);
    const value: DevgroupMatch = {
      flags,
      srcGroup: src.value,
      srcMask: src.mask,
      dstGroup: dst.value,
      dstMask: dst.mask,
    };
    return { extension: devgroup, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: DevgroupMatch) => devgroup.encode(v, 0),
    evaluate: (cg: EvalContext): Insn[] => [
      ...groupTest(cg, 'in', XT_DEVGROUP_MATCH_SRC, XT_DEVGROUP_INVERT_SRC, 4),
      ...groupTest(cg, 'out', XT_DEVGROUP_MATCH_DST, XT_DEVGROUP_INVERT_DST, 12),
    ],
  },
};

/**
 * devgroup_mt for one device of the hook state: with `match` in the flags, it holds when
 * ((group ^ dev->group) & mask) == 0, unless `invert`. Checkentry keeps the test to hooks that
 * have the device; one missing anyway (a test-run) fails the match, where the kernel would
 * dereference NULL.
 */
function groupTest(
  cg: EvalContext,
  dev: 'in' | 'out',
  match: number,
  invert: number,
  group: number,
): Insn[] {
  const skip = cg.label('dg_skip');
  const holds = cg.label('dg_holds');
  return [
    LoadMem(R1, RECORD, 0, Size.W),
    And.imm(R1, match),
    JEq.imm(R1, 0, skip),
    LoadMem(R2, CTX, cg.ctxLayout.state, Size.DW),
    LoadMem(R3, R2, cg.kernel.memberOffset('nf_hook_state', dev), Size.DW),
    JEq.imm(R3, 0, cg.noMatch),
    LoadMem(R1, R3, cg.kernel.memberOffset('net_device', 'group'), Size.W),
    LoadMem(R2, RECORD, group, Size.W),
    Xor.reg(R1, R2),
    LoadMem(R2, RECORD, group + 4, Size.W),
    And.reg(R1, R2),
    Mov.imm(R4, 1),
    JEq.imm(R1, 0, holds),
    Mov.imm(R4, 0),
    withLabel(Nop(), holds),
    ...unlessInverted({ offset: 0, bit: invert }, cg),
    withLabel(Nop(), skip),
  ];
}
