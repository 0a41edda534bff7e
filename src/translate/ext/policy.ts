// -m policy: struct xt_policy_info (linux/netfilter/xt_policy.h), revision 0, registered per
// family: the IPsec policy (the xfrm states) a packet was decapsulated with (--dir in) or will be
// encapsulated with (--dir out). Up to four elements, tested in order with --strict, any one of
// them without. policy_mt_check refuses (EINVAL) neither direction, --dir out reachable from
// PREROUTING/INPUT, --dir in reachable from POSTROUTING/OUTPUT, and more than four elements.
import {
  NF_INET_LOCAL_IN,
  NF_INET_LOCAL_OUT,
  NF_INET_POST_ROUTING,
  NF_INET_PRE_ROUTING,
} from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import {
  OptionError,
  parseIpv4,
  parsePrefixLength,
  parseProtocol,
  parseUint,
  prefixMask,
  UnknownOption,
} from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { type InetAddr, ipv4, maskSuffix, payload, zeroed } from './util.js';
import {
  Add,
  And,
  FP,
  Ja,
  JEq,
  JGe,
  JNe,
  LoadMem,
  Mov,
  Mul,
  Nop,
  R1,
  R2,
  R3,
  R4,
  R5,
  R8,
  Rsh,
  Size,
  StoreMem,
  Sub,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { CTX, RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { forEach, kread, skbExtFind } from '../../bpf/codegen/kmem.js';

export const XT_POLICY_MAX_ELEM = 4;
export const XT_POLICY_MATCH_IN = 0x1;
export const XT_POLICY_MATCH_OUT = 0x2;
export const XT_POLICY_MATCH_NONE = 0x4;
export const XT_POLICY_MATCH_STRICT = 0x8;
export const XT_POLICY_MODE_TRANSPORT = 0;
export const XT_POLICY_MODE_TUNNEL = 1;
/** Bits of struct xt_policy_spec (GCC lays bitfields out from bit 0 on x86). */
export const POLICY_SPEC_SADDR = 0x01;
export const POLICY_SPEC_DADDR = 0x02;
export const POLICY_SPEC_PROTO = 0x04;
export const POLICY_SPEC_MODE = 0x08;
export const POLICY_SPEC_SPI = 0x10;
export const POLICY_SPEC_REQID = 0x20;
const IPPROTO_ESP = 50;
const IPPROTO_AH = 51;
const IPPROTO_COMP = 108;

export interface PolicyElem {
  /** Tunnel endpoints and masks (union nf_inet_addr; IPv4 uses the first word). */
  readonly saddr: InetAddr;
  readonly smask: InetAddr;
  readonly daddr: InetAddr;
  readonly dmask: InetAddr;
  /**
   * The SPI as iptables stores it: the number in host byte order in a field the kernel
   * compares with the state's network-order SPI.
   */
  readonly spi: number;
  readonly reqid: number;
  readonly proto: number;
  readonly mode: number;
  /** POLICY_SPEC_* fields to test, and those inverted (bits 6-7 kept as stored). */
  readonly match: number;
  readonly invert: number;
}

export interface PolicyMatch {
  /** All four element slots as stored; the kernel reads the first `len`. */
  readonly pol: readonly PolicyElem[];
  /** XT_POLICY_MATCH_* bits. */
  readonly flags: number;
  readonly len: number;
}

const ELEM_SIZE = 76;
const SIZE = XT_POLICY_MAX_ELEM * ELEM_SIZE + 4;
const NO_ADDR: InetAddr = [0, 0, 0, 0];
const EMPTY_ELEM: PolicyElem = {
  saddr: NO_ADDR,
  smask: NO_ADDR,
  daddr: NO_ADDR,
  dmask: NO_ADDR,
  spi: 0,
  reqid: 0,
  proto: 0,
  mode: 0,
  match: 0,
  invert: 0,
};

function readAddr(b: Buffer, at: number): InetAddr {
  return [
    b.readUInt32BE(at),
    b.readUInt32BE(at + 4),
    b.readUInt32BE(at + 8),
    b.readUInt32BE(at + 12),
  ];
}

const INPUT_SIDE = (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_IN);
const OUTPUT_SIDE = (1 << NF_INET_POST_ROUTING) | (1 << NF_INET_LOCAL_OUT);

export const policy: Extension<PolicyMatch> = {
  kind: 'match',
  name: 'policy',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): PolicyMatch {
    const b = payload(data, SIZE);
    const pol: PolicyElem[] = [];
    for (let i = 0; i < XT_POLICY_MAX_ELEM; i++) {
      const at = ELEM_SIZE * i;
      pol.push({
        saddr: readAddr(b, at),
        smask: readAddr(b, at + 16),
        daddr: readAddr(b, at + 32),
        dmask: readAddr(b, at + 48),
        spi: b.readUInt32LE(at + 64),
        reqid: b.readUInt32LE(at + 68),
        proto: b[at + 72] ?? 0,
        mode: b[at + 73] ?? 0,
        match: b[at + 74] ?? 0,
        invert: b[at + 75] ?? 0,
      });
    }
    const tail = ELEM_SIZE * XT_POLICY_MAX_ELEM;
    return { pol, flags: b.readUInt16LE(tail), len: b.readUInt16LE(tail + 2) };
  },
  encode(v: PolicyMatch): Buffer {
    const b = zeroed(SIZE);
    v.pol.slice(0, XT_POLICY_MAX_ELEM).forEach((e, i) => {
      const at = ELEM_SIZE * i;
      [e.saddr, e.smask, e.daddr, e.dmask].forEach((a, k) =>
        a.forEach((w, j) => b.writeUInt32BE(w >>> 0, at + 16 * k + 4 * j)),
      );
      b.writeUInt32LE(e.spi >>> 0, at + 64);
      b.writeUInt32LE(e.reqid >>> 0, at + 68);
      b.set([e.proto, e.mode, e.match, e.invert], at + 72);
    });
    const tail = ELEM_SIZE * XT_POLICY_MAX_ELEM;
    b.writeUInt16LE(v.flags, tail);
    b.writeUInt16LE(v.len, tail + 2);
    return b;
  },
  check(v: PolicyMatch, _revision: number, ctx: CheckContext): void {
    const what = 'match "policy"';
    if ((v.flags & (XT_POLICY_MATCH_IN | XT_POLICY_MATCH_OUT)) === 0) {
      throw new XtError(EINVAL, `${what}: neither --dir in nor --dir out`);
    }
    if ((ctx.hookMask & INPUT_SIDE) !== 0 && (v.flags & XT_POLICY_MATCH_OUT) !== 0) {
      throw new XtError(EINVAL, `${what}: --dir out in PREROUTING or INPUT`);
    }
    if ((ctx.hookMask & OUTPUT_SIDE) !== 0 && (v.flags & XT_POLICY_MATCH_IN) !== 0) {
      throw new XtError(EINVAL, `${what}: --dir in in POSTROUTING or OUTPUT`);
    }
    if (v.len > XT_POLICY_MAX_ELEM) {
      throw new XtError(EINVAL, `${what}: ${v.len} elements, at most ${XT_POLICY_MAX_ELEM}`);
    }
  },
  format(v: PolicyMatch): string {
    // policy4_save: the flags, then each element, "--next" between them.
    const parts = [
      (v.flags & XT_POLICY_MATCH_IN) !== 0 ? '--dir in' : '--dir out',
      (v.flags & XT_POLICY_MATCH_NONE) !== 0 ? '--pol none' : '--pol ipsec',
    ];
    if ((v.flags & XT_POLICY_MATCH_STRICT) !== 0) parts.push('--strict');
    const n = Math.min(v.len, XT_POLICY_MAX_ELEM);
    v.pol.slice(0, n).forEach((e, i) => {
      parts.push(...elemText(e));
      if (i + 1 < n) parts.push('--next');
    });
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    return { extension: policy, revision: 0, value: parsePolicy(options) };
  },
  engine: {
    recordSize: SIZE,
    record: (v: PolicyMatch) => policy.encode(v, 0),
    evaluate: policyCode,
  },
};

/** XFRM_MAX_DEPTH: states in a secpath (sp->xvec) and in a bundle. */
const XFRM_MAX_DEPTH = 6;
const FLAGS = XT_POLICY_MAX_ELEM * ELEM_SIZE;
const LEN = FLAGS + 2;
/** Results of match_policy_in/out: 0, 1, or -1 (no IPsec at all). */
const NO_POLICY = 2;

/**
 * policy_mt. --dir in reads the decapsulating states of the skb's secpath (an skb extension),
 * newest first; --dir out those of the route's xfrm bundle, outermost first. Without --strict
 * any state matching element 0 holds; with it, state k must match element k and the counts be
 * equal. No secpath (or a plain route): --pol none holds, anything else does not.
 */
function policyCode(cg: EvalContext): Insn[] {
  const k = cg.kernel;
  const [buf, carried, state, iter] = [
    cg.scratch,
    cg.scratch + 8,
    cg.scratch + 16,
    cg.scratch + 24,
  ];
  const out = cg.label('pol_out');
  const decide = cg.label('pol_decide');
  const xfrm = k.memberOffset('dst_entry', 'xfrm');
  const loop = (dir: 'in' | 'out'): Insn[] =>
    forEach(
      k,
      R5,
      iter,
      (h) => cg.label(h),
      (brk) => {
        const next = cg.label('pol_next');
        const body: Insn[] = [];
        // R8 = n, the iteration (helper calls keep it); the secpath or dst from the stack.
        if (dir === 'in') {
          // i = sp->len - 1 - n: the newest state first
          body.push(
            Mov.reg(R8, R1),
            LoadMem(R3, FP, carried, Size.DW),
            ...kread(R3, k.memberOffset('sec_path', 'len'), Size.W, buf),
            Sub.imm(R1, 1),
            Sub.reg(R1, R8),
            And.imm(R1, 7),
            Mov.imm(R2, 8),
            Mul.reg(R1, R2),
            LoadMem(R3, FP, carried, Size.DW),
            Add.reg(R3, R1),
            ...kread(R3, k.memberOffset('sec_path', 'xvec'), Size.DW, buf),
            StoreMem(FP, state, R1, Size.DW),
            Mov.reg(R1, R8),
          );
        } else {
          const end = cg.label('pol_end');
          const found = cg.label('pol_state');
          body.push(
            Mov.reg(R8, R1),
            LoadMem(R3, FP, carried, Size.DW),
            JEq.imm(R3, 0, end),
            ...kread(R3, xfrm, Size.DW, buf),
            JNe.imm(R1, 0, found),
            // Past the bundle's last state: strict holds when it had as many as elements.
            withLabel(LoadMem(R2, RECORD, FLAGS, Size.H), end),
            And.imm(R2, XT_POLICY_MATCH_STRICT),
            LoadMem(R3, RECORD, LEN, Size.H),
            Mov.reg(R4, R8),
            Mov.imm(R8, 0),
            JEq.imm(R2, 0, brk),
            JNe.reg(R4, R3, brk),
            Mov.imm(R8, 1),
            Ja(brk),
            withLabel(StoreMem(FP, state, R1, Size.DW), found),
            LoadMem(R3, FP, carried, Size.DW),
            ...kread(R3, k.memberOffset('xfrm_dst', 'child'), Size.DW, buf),
            StoreMem(FP, carried, R1, Size.DW),
            Mov.reg(R1, R8),
          );
        }
        body.push(
          // pos = strict ? n : 0; pos >= info->len → 0
          LoadMem(R2, RECORD, FLAGS, Size.H),
          And.imm(R2, XT_POLICY_MATCH_STRICT),
          JNe.imm(R2, 0, `${next}_pos`),
          Mov.imm(R1, 0),
          withLabel(Mov.imm(R8, 0), `${next}_pos`),
          LoadMem(R2, RECORD, LEN, Size.H),
          JGe.reg(R1, R2, brk),
          JGe.imm(R1, XT_POLICY_MAX_ELEM, brk),
          Mov.imm(R2, ELEM_SIZE),
          Mul.reg(R1, R2),
          Mov.reg(R8, RECORD),
          Add.reg(R8, R1),
          ...elemHolds(cg, state, buf),
          // R4: the state matched element pos. Not strict: a match decides; strict: a miss does.
          LoadMem(R2, RECORD, FLAGS, Size.H),
          And.imm(R2, XT_POLICY_MATCH_STRICT),
          Mov.reg(R8, R4),
          JEq.imm(R2, 0, `${next}_loose`),
          JEq.imm(R4, 0, brk),
          Ja(next),
          withLabel(JNe.imm(R4, 0, brk), `${next}_loose`),
          withLabel(Nop(), next),
          // Carry on: what the loop's end means.
          ...defaultResult(dir),
        );
        return body;
      },
    );
  const defaultResult = (dir: 'in' | 'out'): Insn[] =>
    dir === 'out'
      ? [Mov.imm(R8, 0)]
      : [LoadMem(R8, RECORD, FLAGS, Size.H), And.imm(R8, XT_POLICY_MATCH_STRICT), Rsh.imm(R8, 3)];
  return [
    LoadMem(R1, CTX, cg.ctxLayout.skb, Size.DW),
    Mov.imm(R8, NO_POLICY),
    LoadMem(R2, RECORD, FLAGS, Size.H),
    And.imm(R2, XT_POLICY_MATCH_IN),
    JEq.imm(R2, 0, out),
    // skb_sec_path(skb)
    ...skbExtFind(k, R1, 'SKB_EXT_SEC_PATH', buf, decide),
    Mov.reg(R8, R1),
    StoreMem(FP, carried, R8, Size.DW),
    ...kread(R8, k.memberOffset('sec_path', 'len'), Size.W, buf),
    Mov.reg(R5, R1),
    // strict && info->len != sp->len → 0
    Mov.imm(R8, 0),
    LoadMem(R2, RECORD, FLAGS, Size.H),
    And.imm(R2, XT_POLICY_MATCH_STRICT),
    JEq.imm(R2, 0, `${out}_in`),
    LoadMem(R2, RECORD, LEN, Size.H),
    JNe.reg(R5, R2, decide),
    withLabel(JGe.imm(R5, XFRM_MAX_DEPTH + 1, decide), `${out}_in`),
    ...defaultResult('in'),
    ...loop('in'),
    Ja(decide),
    // skb_dst(skb)->xfrm
    withLabel(LoadMem(R2, R1, k.memberOffset('sk_buff', '_skb_refdst'), Size.DW), out),
    And.imm(R2, -2),
    StoreMem(FP, carried, R2, Size.DW),
    JEq.imm(R2, 0, decide),
    ...kread(R2, xfrm, Size.DW, buf),
    JEq.imm(R1, 0, decide),
    Mov.imm(R5, XFRM_MAX_DEPTH + 1),
    ...defaultResult('out'),
    ...loop('out'),
    // ret < 0 → --pol none; --pol none and any state → false; else ret
    withLabel(LoadMem(R2, RECORD, FLAGS, Size.H), decide),
    And.imm(R2, XT_POLICY_MATCH_NONE),
    JEq.imm(R2, 0, `${decide}_ipsec`),
    JNe.imm(R8, NO_POLICY, cg.noMatch),
    Ja(`${decide}_end`),
    withLabel(JNe.imm(R8, 1, cg.noMatch), `${decide}_ipsec`),
    withLabel(Nop(), `${decide}_end`),
  ];
}

/**
 * match_xfrm_state for the state whose address is at FP+`state` and the element at R8 (in the
 * record): R4 = 1 when every field the element tests equals the state's, each ^ its invert.
 */
function elemHolds(cg: EvalContext, state: number, buf: number): Insn[] {
  const k = cg.kernel;
  const miss = cg.label('pol_miss');
  const done = cg.label('pol_done');
  const field = (bit: number, path: string, size: Size, at: number, mask?: number): Insn[] => {
    const skip = cg.label('pol_skip');
    const eq = cg.label('pol_eq');
    return [
      LoadMem(R2, R8, 74, Size.B),
      And.imm(R2, bit),
      JEq.imm(R2, 0, skip),
      LoadMem(R3, FP, state, Size.DW),
      ...kread(R3, k.offsetOf('xfrm_state', path), size, buf),
      LoadMem(R2, R8, at, size),
      Xor.reg(R1, R2),
      ...(mask === undefined ? [] : [LoadMem(R2, R8, mask, size), And.reg(R1, R2)]),
      // R1 = 0 when equal; fails when (equal) == (inverted)
      Mov.imm(R4, 1),
      JEq.imm(R1, 0, eq),
      Mov.imm(R4, 0),
      withLabel(LoadMem(R2, R8, 75, Size.B), eq),
      And.imm(R2, bit),
      JEq.imm(R2, 0, `${skip}_plain`),
      Xor.imm(R4, 1),
      withLabel(JEq.imm(R4, 0, miss), `${skip}_plain`),
      withLabel(Nop(), skip),
    ];
  };
  return [
    ...field(POLICY_SPEC_SADDR, 'props.saddr', Size.W, 0, 16),
    ...field(POLICY_SPEC_DADDR, 'id.daddr', Size.W, 32, 48),
    ...field(POLICY_SPEC_PROTO, 'id.proto', Size.B, 72),
    ...field(POLICY_SPEC_MODE, 'props.mode', Size.B, 73),
    ...field(POLICY_SPEC_SPI, 'id.spi', Size.W, 64),
    ...field(POLICY_SPEC_REQID, 'props.reqid', Size.W, 68),
    Mov.imm(R4, 1),
    Ja(done),
    withLabel(Mov.imm(R4, 0), miss),
    withLabel(Nop(), done),
  ];
}

function elemText(e: PolicyElem): string[] {
  const out: string[] = [];
  const item = (bit: number, text: string): void => {
    if ((e.match & bit) !== 0) out.push(`${(e.invert & bit) !== 0 ? '! ' : ''}${text}`);
  };
  const host = (addr: InetAddr, mask: InetAddr): string => {
    const suffix = maskSuffix(mask[0]);
    return `${ipv4(addr[0])}${suffix === '32' ? '' : `/${suffix}`}`;
  };
  item(POLICY_SPEC_REQID, `--reqid ${e.reqid}`);
  item(POLICY_SPEC_SPI, `--spi 0x${e.spi.toString(16)}`);
  item(POLICY_SPEC_PROTO, `--proto ${PROTO_NAMES[e.proto] ?? e.proto}`);
  item(POLICY_SPEC_MODE, `--mode ${MODE_NAMES[e.mode] ?? '???'}`);
  item(POLICY_SPEC_DADDR, `--tunnel-dst ${host(e.daddr, e.dmask)}`);
  item(POLICY_SPEC_SADDR, `--tunnel-src ${host(e.saddr, e.smask)}`);
  return out;
}

/** getprotobynumber's names for the protocols iptables lets a policy element name. */
const PROTO_NAMES: Readonly<Record<number, string>> = {
  [IPPROTO_ESP]: 'esp',
  [IPPROTO_AH]: 'ah',
  [IPPROTO_COMP]: 'ipcomp',
};
const MODE_NAMES: Readonly<Record<number, string>> = {
  [XT_POLICY_MODE_TRANSPORT]: 'transport',
  [XT_POLICY_MODE_TUNNEL]: 'tunnel',
};

type MutableElem = { -readonly [K in keyof PolicyElem]: PolicyElem[K] };

/** The element options, each settable once per element, all invertible. */
const ELEM_OPTIONS: Readonly<Record<string, number>> = {
  reqid: POLICY_SPEC_REQID,
  spi: POLICY_SPEC_SPI,
  'tunnel-src': POLICY_SPEC_SADDR,
  'tunnel-dst': POLICY_SPEC_DADDR,
  proto: POLICY_SPEC_PROTO,
  mode: POLICY_SPEC_MODE,
};

/**
 * libxt_policy's parse and final check. Options apply in order: element options to the element
 * --next last closed; --dir, --pol and --strict once each.
 */
function parsePolicy(options: readonly SaveOption[]): PolicyMatch {
  const what = 'match "policy"';
  const pol: MutableElem[] = Array.from({ length: XT_POLICY_MAX_ELEM }, () => ({ ...EMPTY_ELEM }));
  let flags = 0;
  let len = 0;
  const seen = new Set<string>();
  for (const o of options) {
    const bit = ELEM_OPTIONS[o.name];
    const known = bit !== undefined || ['dir', 'pol', 'strict', 'next'].includes(o.name);
    if (!known) throw new UnknownOption(what, o);
    const want = o.name === 'strict' || o.name === 'next' ? 0 : 1;
    if (o.args.length !== want) {
      throw new OptionError(
        `${what}: "--${o.name}" takes ${want} argument${want === 1 ? '' : 's'}`,
      );
    }
    if (o.invert && bit === undefined) {
      throw new OptionError(`${what}: "--${o.name}" cannot be inverted with "!"`);
    }
    const arg = o.args[0] ?? '';
    if (bit === undefined) {
      if (o.name !== 'next' && seen.has(o.name)) {
        throw new OptionError(`${what}: "--${o.name}" given more than once`);
      }
      seen.add(o.name);
      if (o.name === 'dir')
        flags |= oneOf(arg, { in: XT_POLICY_MATCH_IN, out: XT_POLICY_MATCH_OUT }, `${what}: --dir`);
      else if (o.name === 'pol')
        flags |= oneOf(arg, { none: XT_POLICY_MATCH_NONE, ipsec: 0 }, `${what}: --pol`);
      else if (o.name === 'strict') flags |= XT_POLICY_MATCH_STRICT;
      else if (++len === XT_POLICY_MAX_ELEM)
        throw new OptionError(`${what}: maximum policy depth reached`);
      continue;
    }
    const e = pol[len] as MutableElem;
    if ((e.match & bit) !== 0) throw new OptionError(`${what}: double --${o.name} option`);
    e.match |= bit;
    if (o.invert) e.invert |= bit;
    const where = `${what}: --${o.name}`;
    if (o.name === 'reqid') e.reqid = parseUint(arg, 0, 0xffffffff, where);
    else if (o.name === 'spi') e.spi = parseUint(arg, 0, 0xffffffff, where);
    else if (o.name === 'proto') {
      e.proto = parseProtocol(arg, where);
      if (![IPPROTO_AH, IPPROTO_ESP, IPPROTO_COMP].includes(e.proto)) {
        throw new OptionError(`${where}: protocol must be ah, esp or ipcomp`);
      }
    } else if (o.name === 'mode') {
      e.mode = oneOf(
        arg,
        { transport: XT_POLICY_MODE_TRANSPORT, tunnel: XT_POLICY_MODE_TUNNEL },
        where,
      );
    } else {
      const [addr, mask] = hostMask(arg, where);
      if (o.name === 'tunnel-src') [e.saddr, e.smask] = [addr, mask];
      else [e.daddr, e.dmask] = [addr, mask];
    }
  }
  if ((flags & (XT_POLICY_MATCH_IN | XT_POLICY_MATCH_OUT)) === 0) {
    throw new OptionError(`${what}: neither --dir in nor --dir out given`);
  }
  if ((flags & XT_POLICY_MATCH_NONE) !== 0) {
    if ((flags & XT_POLICY_MATCH_STRICT) !== 0)
      throw new OptionError(`${what}: --pol none with --strict`);
    if (len !== 0) throw new OptionError(`${what}: --pol none with policy elements`);
  } else {
    len++;
  }
  for (const [i, e] of pol.slice(0, len).entries()) {
    if ((flags & XT_POLICY_MATCH_STRICT) !== 0 && (e.match & 0x3f) === 0) {
      throw new OptionError(`${what}: element ${i} is empty under --strict`);
    }
    // Without --mode the element's mode is transport, not inverted: no tunnel addresses.
    const inv = (e.invert & POLICY_SPEC_MODE) !== 0;
    const notTunnel =
      e.mode === XT_POLICY_MODE_TUNNEL ? inv : e.mode === XT_POLICY_MODE_TRANSPORT && !inv;
    if ((e.match & (POLICY_SPEC_SADDR | POLICY_SPEC_DADDR)) !== 0 && notTunnel) {
      throw new OptionError(`${what}: --tunnel-src/--tunnel-dst need --mode tunnel`);
    }
  }
  // xtables_options_fcheck runs after libxt_policy's own check: --next's `also`.
  if (seen.has('next') && !seen.has('strict')) {
    throw new OptionError(`${what}: --next needs --strict`);
  }
  return { pol, flags, len };
}

function oneOf(s: string, values: Readonly<Record<string, number>>, what: string): number {
  const v = values[s];
  if (v === undefined) throw new OptionError(`${what}: invalid value "${s}"`);
  return v;
}

/**
 * XTTYPE_HOSTMASK: the address (not masked, its 16 bytes zero-filled) and, after a '/', a
 * PLENMASK; without one xtopt_parse_host leaves all 16 mask bytes ones.
 */
function hostMask(s: string, what: string): [InetAddr, InetAddr] {
  const slash = s.indexOf('/');
  const addr: InetAddr = [parseIpv4(slash === -1 ? s : s.slice(0, slash), what), 0, 0, 0];
  if (slash === -1) return [addr, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]];
  return [addr, prefixMask(parsePrefixLength(s.slice(slash + 1), what))];
}
