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
};
