// -m realm: struct xt_realm_info (linux/netfilter/xt_realm.h), revision 0 of xt_realm.c, with
// .hooks = POST_ROUTING | FORWARD | LOCAL_OUT | LOCAL_IN (the route's tclassid exists only after
// routing), no checkentry. Matches (id == (dst->tclassid & mask)) ^ invert.
import { OptionError, parseValMask, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { formatValMask, inv, payload, readPad, requireHooks, writePad, zeroed } from './util.js';
import {
  Add,
  And,
  Call,
  FP,
  JEq,
  JNe,
  LoadMem,
  Mov,
  R0,
  R1,
  R2,
  R3,
  Size,
  type Insn,
} from '../../bpf/asm/index.js';
import { equalHolds, unlessXor } from '../../bpf/codegen/cmp.js';
import { Unsupported, type EvalContext } from '../../bpf/codegen/eval.js';
import { BPF_FUNC_probe_read_kernel, loadSkb, SCRATCH_USE } from '../../bpf/codegen/packet.js';

export interface RealmMatch {
  readonly id: number;
  readonly mask: number;
  readonly invert: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** (1 << NF_INET_LOCAL_IN) | FORWARD | LOCAL_OUT | POST_ROUTING. */
export const REALM_HOOKS = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4);

/** Debian's /etc/iproute2/rt_realms (iptables maps names through it; the rest are comments). */
export const REALM_NAMES: readonly (readonly [number, string])[] = [[0, 'cosmos']];

const SIZE = 12;

export const realm: Extension<RealmMatch> = {
  kind: 'match',
  name: 'realm',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): RealmMatch {
    const b = payload(data, SIZE);
    return {
      id: b.readUInt32LE(0),
      mask: b.readUInt32LE(4),
      invert: b[8] ?? 0,
      ...readPad(b, 9, 3),
    };
  },
  encode(v: RealmMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.id >>> 0, 0);
    b.writeUInt32LE(v.mask >>> 0, 4);
    b.writeUInt8(v.invert, 8);
    writePad(b, 9, 3, v.pad);
    return b;
  },
  check(_v: RealmMatch, _revision: number, ctx: CheckContext): void {
    requireHooks(ctx, REALM_HOOKS, 'match "realm"');
  },
  format(v: RealmMatch): string {
    return `${inv(v.invert !== 0)}--realm ${formatValMask(v.id, v.mask, REALM_NAMES)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "realm"', options, { realm: { names: ['realm'], invert: true } });
    if (o.realm === undefined) throw new OptionError('match "realm": --realm is required');
    const r = parseValMask(o.realm.args[0] ?? '', 'match "realm": --realm', REALM_NAMES);
    const value = { id: r.value, mask: r.mask, invert: o.realm.invert ? 1 : 0 };
    return { extension: realm, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: RealmMatch) => realm.encode(v, 0),
    // (info->id == (skb_dst(skb)->tclassid & info->mask)) ^ info->invert
    evaluate: (cg: EvalContext): Insn[] => [
      ...equalHolds(tclassid(cg), 0, Size.W, cg, 4),
      ...unlessXor(8, cg),
    ],
  },
};

/** SKB_DST_NOREF, the low bit of _skb_refdst. */
const SKB_DST_NOREF = 1;

/**
 * R1 = skb_dst(skb)->tclassid, read with probe_read (the dst is not a pointer the verifier
 * knows). Realm's hooks always have a route; a packet without one (a test-run) fails the match,
 * where the kernel would dereference NULL.
 */
function tclassid(cg: EvalContext): Insn[] {
  let at: number;
  try {
    at = cg.kernel.memberOffset('dst_entry', 'tclassid');
  } catch {
    throw new Unsupported(
      'match "realm": this kernel keeps no route classids (CONFIG_IP_ROUTE_CLASSID)',
    );
  }
  const value = cg.scratch + SCRATCH_USE.FREE;
  return [
    loadSkb(cg),
    LoadMem(R3, R1, cg.kernel.memberOffset('sk_buff', '_skb_refdst'), Size.DW),
    And.imm(R3, ~SKB_DST_NOREF),
    JEq.imm(R3, 0, cg.noMatch),
    Add.imm(R3, at),
    Mov.reg(R1, FP),
    Add.imm(R1, value),
    Mov.imm(R2, 4),
    Call.helper(BPF_FUNC_probe_read_kernel),
    JNe.imm(R0, 0, cg.noMatch),
    LoadMem(R1, FP, value, Size.W),
  ];
}
