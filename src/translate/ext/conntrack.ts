// -m conntrack: struct xt_conntrack_mtinfo{1,2,3} (linux/netfilter/xt_conntrack.h), family
// UNSPEC. The three revisions share one prefix and differ in:
//   rev 1: state_mask/status_mask are u8, ports are __be16 exact values      (152 bytes)
//   rev 2: state_mask/status_mask are u16, ports are __be16 exact values      (156 bytes)
//   rev 3: u16 masks, ports are host-order u16 ranges [port, port_high]       (164 bytes)
// conntrack_mt_check only takes a conntrack reference, so no value is refused. Addresses are
// union nf_inet_addr (16 bytes); for IPv4 only the first 4 are read, the rest iptables zeroes.
import {
  OptionError,
  parseAddrMask,
  parseFlagList,
  parsePortRange,
  parseProtocol,
  parseUint,
  readOptions,
} from './args.js';
import type { Extension, RecordContext, SaveOption } from './types.js';
import { inv, ipv4, maskSuffix, payload, zeroed } from './util.js';
import {
  Add,
  And,
  Call,
  Div,
  FP,
  Ja,
  JEq,
  JGt,
  JLt,
  JNe,
  JSGe,
  LoadMem,
  Mov,
  Nop,
  Or,
  Lsh,
  Arsh,
  Xor,
  StoreMem,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  Size,
  Sub,
  ToBe,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { RECORD, Unsupported, type EvalContext } from '../../bpf/codegen/eval.js';
import { ctStateBit, type CtLayout } from '../../bpf/codegen/ct.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_CONNTRACK_STATE = 1 << 0;
export const XT_CONNTRACK_PROTO = 1 << 1;
export const XT_CONNTRACK_ORIGSRC = 1 << 2;
export const XT_CONNTRACK_ORIGDST = 1 << 3;
export const XT_CONNTRACK_REPLSRC = 1 << 4;
export const XT_CONNTRACK_REPLDST = 1 << 5;
export const XT_CONNTRACK_STATUS = 1 << 6;
export const XT_CONNTRACK_EXPIRES = 1 << 7;
export const XT_CONNTRACK_ORIGSRC_PORT = 1 << 8;
export const XT_CONNTRACK_ORIGDST_PORT = 1 << 9;
export const XT_CONNTRACK_REPLSRC_PORT = 1 << 10;
export const XT_CONNTRACK_REPLDST_PORT = 1 << 11;
export const XT_CONNTRACK_DIRECTION = 1 << 12;
export const XT_CONNTRACK_STATE_ALIAS = 1 << 13;

/** ctstate bits: XT_CONNTRACK_STATE_BIT(ctinfo) plus the specials (IP_CT_NUMBER = 5). */
export const XT_CONNTRACK_STATE_INVALID = 1 << 0;
export const XT_CONNTRACK_STATE_ESTABLISHED = 1 << 1;
export const XT_CONNTRACK_STATE_RELATED = 1 << 2;
export const XT_CONNTRACK_STATE_NEW = 1 << 3;
export const XT_CONNTRACK_STATE_SNAT = 1 << 6;
export const XT_CONNTRACK_STATE_DNAT = 1 << 7;
export const XT_CONNTRACK_STATE_UNTRACKED = 1 << 8;

/** One address/mask pair as network-order u32s (1.2.3.4 → 0x01020304). */
export interface CtAddr {
  readonly addr: number;
  readonly mask: number;
  /**
   * The rest of the nf_inet_addr mask is 0xff too: what iptables writes for an address given
   * without a prefix. The kernel compares only the IPv4 word, but GET_ENTRIES shows the bytes.
   */
  readonly wideMask?: true;
}

/** Bytes of an nf_inet_addr mask past its IPv4 word. */
const MASK_TAIL = 12;

/** One port test as an inclusive host-order range; revisions 1 and 2 always have lo == hi. */
export interface CtPort {
  readonly lo: number;
  readonly hi: number;
}

export interface ConntrackMatch {
  readonly origsrc: CtAddr;
  readonly origdst: CtAddr;
  readonly replsrc: CtAddr;
  readonly repldst: CtAddr;
  readonly expiresMin: number;
  readonly expiresMax: number;
  readonly l4proto: number;
  readonly origsrcPort: CtPort;
  readonly origdstPort: CtPort;
  readonly replsrcPort: CtPort;
  readonly repldstPort: CtPort;
  readonly matchFlags: number;
  readonly invertFlags: number;
  /** Revision 1 stores only the low 8 bits. */
  readonly stateMask: number;
  readonly statusMask: number;
}

const SIZES: Readonly<Record<number, number>> = { 1: 152, 2: 156, 3: 164 };
const EXPIRES = 128;
const L4PROTO = 136;
const PORTS = 138;
const FLAGS = 146;
const MASKS = 150;
const PORTS_HIGH = 154;
const PORT_NAMES = ['origsrcPort', 'origdstPort', 'replsrcPort', 'repldstPort'] as const;

/**
 * The record every revision becomes: addresses and masks as host-order u32s, ports as host-order
 * [lo, hi] (revisions 1 and 2 compare one port for equality: lo = hi), flags and masks as u16.
 */
const REC = {
  ADDR: 0,
  EXPIRES_MIN: 32,
  EXPIRES_MAX: 36,
  L4PROTO: 40,
  PORTS: 42,
  MATCH: 58,
  INVERT: 60,
  STATE: 62,
  STATUS: 64,
  SIZE: 72,
} as const;

function sizeOf(revision: number): number {
  return SIZES[revision] ?? SIZES[3] ?? 0;
}

function readAddr(b: Buffer, i: number): CtAddr {
  const a = { addr: b.readUInt32BE(32 * i), mask: b.readUInt32BE(32 * i + 16) };
  const tail = 32 * i + 20;
  for (let k = tail; k < tail + MASK_TAIL; k++) if (b[k] !== 0xff) return a;
  return { ...a, wideMask: true };
}

export const conntrack: Extension<ConntrackMatch> = {
  kind: 'match',
  name: 'conntrack',
  revisions: [1, 2, 3],
  dataSize: sizeOf,
  userSize: sizeOf,
  decode(data: Buffer, revision: number): ConntrackMatch {
    const b = payload(data, sizeOf(revision));
    const port = (i: number): CtPort => {
      if (revision < 3) {
        const p = b.readUInt16BE(PORTS + 2 * i);
        return { lo: p, hi: p };
      }
      return { lo: b.readUInt16LE(PORTS + 2 * i), hi: b.readUInt16LE(PORTS_HIGH + 2 * i) };
    };
    const wide = revision >= 2;
    return {
      origsrc: readAddr(b, 0),
      origdst: readAddr(b, 1),
      replsrc: readAddr(b, 2),
      repldst: readAddr(b, 3),
      expiresMin: b.readUInt32LE(EXPIRES),
      expiresMax: b.readUInt32LE(EXPIRES + 4),
      l4proto: b.readUInt16LE(L4PROTO),
      origsrcPort: port(0),
      origdstPort: port(1),
      replsrcPort: port(2),
      repldstPort: port(3),
      matchFlags: b.readUInt16LE(FLAGS),
      invertFlags: b.readUInt16LE(FLAGS + 2),
      stateMask: wide ? b.readUInt16LE(MASKS) : (b[MASKS] ?? 0),
      statusMask: wide ? b.readUInt16LE(MASKS + 2) : (b[MASKS + 1] ?? 0),
    };
  },
  encode(v: ConntrackMatch, revision: number): Buffer {
    const b = zeroed(sizeOf(revision));
    [v.origsrc, v.origdst, v.replsrc, v.repldst].forEach((a, i) => {
      b.writeUInt32BE(a.addr >>> 0, 32 * i);
      b.writeUInt32BE(a.mask >>> 0, 32 * i + 16);
      if (a.wideMask) b.fill(0xff, 32 * i + 20, 32 * i + 20 + MASK_TAIL);
    });
    b.writeUInt32LE(v.expiresMin >>> 0, EXPIRES);
    b.writeUInt32LE(v.expiresMax >>> 0, EXPIRES + 4);
    b.writeUInt16LE(v.l4proto, L4PROTO);
    PORT_NAMES.forEach((name, i) => {
      const p = v[name];
      if (revision < 3) {
        b.writeUInt16BE(p.lo, PORTS + 2 * i);
      } else {
        b.writeUInt16LE(p.lo, PORTS + 2 * i);
        b.writeUInt16LE(p.hi, PORTS_HIGH + 2 * i);
      }
    });
    b.writeUInt16LE(v.matchFlags, FLAGS);
    b.writeUInt16LE(v.invertFlags, FLAGS + 2);
    if (revision >= 2) {
      b.writeUInt16LE(v.stateMask, MASKS);
      b.writeUInt16LE(v.statusMask, MASKS + 2);
    } else {
      b.writeUInt8(v.stateMask & 0xff, MASKS);
      b.writeUInt8(v.statusMask & 0xff, MASKS + 1);
    }
    return b;
  },
  check(): void {},
  format(v: ConntrackMatch): string {
    const parts: string[] = [];
    const has = (f: number): boolean => (v.matchFlags & f) !== 0;
    const neg = (f: number): string => inv((v.invertFlags & f) !== 0);
    if (has(XT_CONNTRACK_STATE)) {
      parts.push(`${neg(XT_CONNTRACK_STATE)}--ctstate ${ctStateNames(v.stateMask)}`);
    }
    if (has(XT_CONNTRACK_PROTO)) parts.push(`${neg(XT_CONNTRACK_PROTO)}--ctproto ${v.l4proto}`);
    const addrs: readonly (readonly [number, string, CtAddr])[] = [
      [XT_CONNTRACK_ORIGSRC, 'ctorigsrc', v.origsrc],
      [XT_CONNTRACK_ORIGDST, 'ctorigdst', v.origdst],
      [XT_CONNTRACK_REPLSRC, 'ctreplsrc', v.replsrc],
      [XT_CONNTRACK_REPLDST, 'ctrepldst', v.repldst],
    ];
    for (const [f, opt, a] of addrs) {
      if (has(f)) parts.push(`${neg(f)}--${opt} ${ipv4(a.addr)}/${maskSuffix(a.mask)}`);
    }
    const ports: readonly (readonly [number, string, CtPort])[] = [
      [XT_CONNTRACK_ORIGSRC_PORT, 'ctorigsrcport', v.origsrcPort],
      [XT_CONNTRACK_ORIGDST_PORT, 'ctorigdstport', v.origdstPort],
      [XT_CONNTRACK_REPLSRC_PORT, 'ctreplsrcport', v.replsrcPort],
      [XT_CONNTRACK_REPLDST_PORT, 'ctrepldstport', v.repldstPort],
    ];
    for (const [f, opt, p] of ports) {
      if (has(f)) parts.push(`${neg(f)}--${opt} ${p.lo === p.hi ? p.lo : `${p.lo}:${p.hi}`}`);
    }
    if (has(XT_CONNTRACK_STATUS)) {
      parts.push(`${neg(XT_CONNTRACK_STATUS)}--ctstatus ${ctStatusNames(v.statusMask)}`);
    }
    if (has(XT_CONNTRACK_EXPIRES)) {
      parts.push(`${neg(XT_CONNTRACK_EXPIRES)}--ctexpire ${v.expiresMin}:${v.expiresMax}`);
    }
    if (has(XT_CONNTRACK_DIRECTION)) {
      parts.push(
        `--ctdir ${(v.invertFlags & XT_CONNTRACK_DIRECTION) !== 0 ? 'REPLY' : 'ORIGINAL'}`,
      );
    }
    return parts.join(' ');
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "conntrack"';
    const inv = { invert: true } as const;
    const o = readOptions(what, options, {
      ctstate: { names: ['ctstate'], ...inv },
      ctproto: { names: ['ctproto'], ...inv },
      ctorigsrc: { names: ['ctorigsrc'], ...inv },
      ctorigdst: { names: ['ctorigdst'], ...inv },
      ctreplsrc: { names: ['ctreplsrc'], ...inv },
      ctrepldst: { names: ['ctrepldst'], ...inv },
      ctstatus: { names: ['ctstatus'], ...inv },
      ctexpire: { names: ['ctexpire'], ...inv },
      ctorigsrcport: { names: ['ctorigsrcport'], ...inv },
      ctorigdstport: { names: ['ctorigdstport'], ...inv },
      ctreplsrcport: { names: ['ctreplsrcport'], ...inv },
      ctrepldstport: { names: ['ctrepldstport'], ...inv },
      ctdir: { names: ['ctdir'] },
    });
    // Revision 3, what iptables picks on kernels that have it; unset fields stay zero.
    const v: { -readonly [K in keyof ConntrackMatch]: ConntrackMatch[K] } = conntrack.decode(
      Buffer.alloc(0),
      3,
    );
    const use = (opt: SaveOption | undefined, flag: number): string | undefined => {
      if (opt === undefined) return undefined;
      v.matchFlags |= flag;
      if (opt.invert) v.invertFlags |= flag;
      return opt.args[0] ?? '';
    };
    const state = use(o.ctstate, XT_CONNTRACK_STATE);
    if (state !== undefined)
      v.stateMask = parseFlagList(state, CT_STATE_NAMES, `${what}: --ctstate`);
    const proto = use(o.ctproto, XT_CONNTRACK_PROTO);
    if (proto !== undefined) v.l4proto = parseProtocol(proto, `${what}: --ctproto`);
    const addr = (opt: SaveOption | undefined, flag: number): CtAddr => {
      const s = use(opt, flag);
      if (s === undefined) return { addr: 0, mask: 0 };
      const a = parseAddrMask(s, `${what}: --${opt?.name ?? ''}`);
      return s.includes('/') ? a : { ...a, wideMask: true };
    };
    v.origsrc = addr(o.ctorigsrc, XT_CONNTRACK_ORIGSRC);
    v.origdst = addr(o.ctorigdst, XT_CONNTRACK_ORIGDST);
    v.replsrc = addr(o.ctreplsrc, XT_CONNTRACK_REPLSRC);
    v.repldst = addr(o.ctrepldst, XT_CONNTRACK_REPLDST);
    const status = use(o.ctstatus, XT_CONNTRACK_STATUS);
    if (status !== undefined) {
      v.statusMask = parseFlagList(
        status,
        [[0, 'NONE'], ...CT_STATUS_NAMES],
        `${what}: --ctstatus`,
      );
    }
    const expire = use(o.ctexpire, XT_CONNTRACK_EXPIRES);
    if (expire !== undefined) {
      const [lo = '', hi] = expire.split(':');
      v.expiresMin = parseUint(lo, 0, 0xffffffff, `${what}: --ctexpire`);
      v.expiresMax =
        hi === undefined ? v.expiresMin : parseUint(hi, 0, 0xffffffff, `${what}: --ctexpire`);
      if (v.expiresMin > v.expiresMax) {
        throw new OptionError(`${what}: --ctexpire: min ${v.expiresMin} > max ${v.expiresMax}`);
      }
    }
    const port = (opt: SaveOption | undefined, flag: number): CtPort => {
      const s = use(opt, flag);
      if (s === undefined) return { lo: 0, hi: 0 };
      const [lo, hi] = parsePortRange(s, `${what}: --${opt?.name ?? ''}`);
      return { lo, hi };
    };
    v.origsrcPort = port(o.ctorigsrcport, XT_CONNTRACK_ORIGSRC_PORT);
    v.origdstPort = port(o.ctorigdstport, XT_CONNTRACK_ORIGDST_PORT);
    v.replsrcPort = port(o.ctreplsrcport, XT_CONNTRACK_REPLSRC_PORT);
    v.repldstPort = port(o.ctrepldstport, XT_CONNTRACK_REPLDST_PORT);
    if (o.ctdir !== undefined) {
      const dir = (o.ctdir.args[0] ?? '').toUpperCase();
      if (dir !== 'ORIGINAL' && dir !== 'REPLY') {
        throw new OptionError(
          `${what}: --ctdir: "${o.ctdir.args[0] ?? ''}" is not ORIGINAL or REPLY`,
        );
      }
      v.matchFlags |= XT_CONNTRACK_DIRECTION;
      if (dir === 'REPLY') v.invertFlags |= XT_CONNTRACK_DIRECTION;
    }
    return { extension: conntrack, revision: 3, value: v };
  },
  engine: {
    recordSize: REC.SIZE,
    record: conntrackRecord,
    evaluate: conntrackCode,
  },
};

const CT_STATE_NAMES: readonly (readonly [number, string])[] = [
  [XT_CONNTRACK_STATE_INVALID, 'INVALID'],
  [XT_CONNTRACK_STATE_NEW, 'NEW'],
  [XT_CONNTRACK_STATE_RELATED, 'RELATED'],
  [XT_CONNTRACK_STATE_ESTABLISHED, 'ESTABLISHED'],
  [XT_CONNTRACK_STATE_UNTRACKED, 'UNTRACKED'],
  [XT_CONNTRACK_STATE_SNAT, 'SNAT'],
  [XT_CONNTRACK_STATE_DNAT, 'DNAT'],
];

export function ctStateNames(mask: number): string {
  const names = CT_STATE_NAMES.filter(([bit]) => (mask & bit) !== 0).map(([, n]) => n);
  return names.length === 0 ? 'none' : names.join(',');
}

const CT_STATUS_NAMES: readonly (readonly [number, string])[] = [
  [1 << 0, 'EXPECTED'],
  [1 << 1, 'SEEN_REPLY'],
  [1 << 2, 'ASSURED'],
  [1 << 3, 'CONFIRMED'],
];

/** IPS_* status bits as libxt_conntrack names them. */
export function ctStatusNames(mask: number): string {
  const names = CT_STATUS_NAMES.filter(([bit]) => (mask & bit) !== 0).map(([, n]) => n);
  return names.length === 0 ? 'NONE' : names.join(',');
}

const BPF_FUNC_probe_read_kernel = 113;
const BPF_FUNC_jiffies64 = 118;
const IPS_SRC_NAT = 1 << 4;
const IPS_DST_NAT = 1 << 5;
const IP_CT_IS_REPLY = 3;

function conntrackRecord(v: ConntrackMatch, revision: number, ctx: RecordContext): Buffer {
  if ((v.matchFlags & XT_CONNTRACK_EXPIRES) !== 0 && ctx.hz === undefined) {
    throw new Unsupported('match "conntrack": --ctexpire needs the kernel\'s CONFIG_HZ');
  }
  const b = Buffer.alloc(REC.SIZE);
  [v.origsrc, v.origdst, v.replsrc, v.repldst].forEach((a, i) => {
    b.writeUInt32LE(a.addr >>> 0, REC.ADDR + 8 * i);
    b.writeUInt32LE(a.mask >>> 0, REC.ADDR + 8 * i + 4);
  });
  b.writeUInt32LE(v.expiresMin >>> 0, REC.EXPIRES_MIN);
  b.writeUInt32LE(v.expiresMax >>> 0, REC.EXPIRES_MAX);
  b.writeUInt16LE(v.l4proto, REC.L4PROTO);
  PORT_NAMES.forEach((name, i) => {
    const p = v[name];
    b.writeUInt16LE(p.lo, REC.PORTS + 4 * i);
    b.writeUInt16LE(revision < 3 ? p.lo : p.hi, REC.PORTS + 4 * i + 2);
  });
  b.writeUInt16LE(v.matchFlags & ~XT_CONNTRACK_STATE_ALIAS & 0xffff, REC.MATCH);
  b.writeUInt16LE(v.invertFlags & 0xffff, REC.INVERT);
  b.writeUInt16LE(v.stateMask & 0xffff, REC.STATE);
  b.writeUInt16LE(v.statusMask & 0xffff, REC.STATUS);
  return b;
}

/** With an entry, adds the SNAT/DNAT bits of ct->status to the state bit in R3. */
function natBits(ct: CtLayout, cg: EvalContext): Insn[] {
  const skip = cg.label('ct_nonat');
  const noSnat = cg.label('ct_nosnat');
  const saved = cg.scratch + 16;
  return [
    LoadMem(R1, RECORD, REC.STATE, Size.H),
    And.imm(R1, XT_CONNTRACK_STATE_SNAT | XT_CONNTRACK_STATE_DNAT),
    JEq.imm(R1, 0, skip),
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JEq.imm(R1, 0, skip),
    StoreMem(FP, saved, R3, Size.DW),
    ...ctLoad(ct.status, Size.DW, cg),
    LoadMem(R3, FP, saved, Size.DW),
    Mov.reg(R2, R1),
    And.imm(R2, IPS_SRC_NAT),
    JEq.imm(R2, 0, noSnat),
    Or.imm(R3, XT_CONNTRACK_STATE_SNAT),
    withLabel(Mov.reg(R2, R1), noSnat),
    And.imm(R2, IPS_DST_NAT),
    JEq.imm(R2, 0, skip),
    Or.imm(R3, XT_CONNTRACK_STATE_DNAT),
    withLabel(Nop(), skip),
  ];
}

/** R1 = `size` bytes of the conntrack entry at `off` (probe_read into the match scratch). */
function ctLoad(off: number, size: Size, cg: EvalContext): Insn[] {
  const bytes = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 }[size];
  return [
    Mov.reg(R1, FP),
    Add.imm(R1, cg.scratch),
    Mov.imm(R2, bytes),
    LoadMem(R3, STATE, S.CT, Size.DW),
    Add.imm(R3, off),
    Call.helper(BPF_FUNC_probe_read_kernel),
    LoadMem(R1, FP, cg.scratch, size),
  ];
}

/** Skips `body` unless the record's match flags have `flag`; the body's R4 then decides. */
function tested(flag: number, body: readonly Insn[], cg: EvalContext): Insn[] {
  const skip = cg.label('ct_skip');
  return [
    LoadMem(R1, RECORD, REC.MATCH, Size.H),
    And.imm(R1, flag),
    JEq.imm(R1, 0, skip),
    ...body,
    ...unlessInvertedU16(flag, cg),
    withLabel(Nop(), skip),
  ];
}

/** unlessInverted on the u16 invert flags of the record. */
function unlessInvertedU16(flag: number, cg: EvalContext): Insn[] {
  const plain = cg.label('ct_plain');
  const done = cg.label('ct_inv_done');
  return [
    LoadMem(R5, RECORD, REC.INVERT, Size.H),
    And.imm(R5, flag),
    JEq.imm(R5, 0, plain),
    JNe.imm(R4, 0, cg.noMatch),
    Ja(done),
    withLabel(JEq.imm(R4, 0, cg.noMatch), plain),
    withLabel(Nop(), done),
  ];
}

/** R4 = 1 when `jumpIfHolds` takes its branch, else 0. */
function holds(jumpIfHolds: (yes: string) => Insn[], cg: EvalContext): Insn[] {
  const yes = cg.label('ct_yes');
  const done = cg.label('ct_done');
  return [
    ...jumpIfHolds(yes),
    Mov.imm(R4, 0),
    Ja(done),
    withLabel(Mov.imm(R4, 1), yes),
    withLabel(Nop(), done),
  ];
}

/** conntrack_mt over the record: every test its flags ask for, in the kernel's order. */
function conntrackCode(cg: EvalContext): Insn[] {
  const ct = cg.ct;
  if (ct === undefined) {
    throw new Unsupported('match "conntrack": this hook flavor does not expose the entry');
  }
  const end = cg.label('ct_end');
  const noEntry = cg.label('ct_noentry');
  const out: Insn[] = [];
  out.push(
    ...tested(XT_CONNTRACK_STATE, stateHolds(ct, cg), cg),
    // Only --ctstate (or nothing) asked: the entry is not read.
    LoadMem(R1, RECORD, REC.MATCH, Size.H),
    And.imm(R1, ~XT_CONNTRACK_STATE & 0xffff),
    JEq.imm(R1, 0, end),
    // Without an entry the match is decided: it holds only if --ctstate was there (and passed).
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JNe.imm(R1, 0, noEntry),
    LoadMem(R1, RECORD, REC.MATCH, Size.H),
    And.imm(R1, XT_CONNTRACK_STATE),
    JEq.imm(R1, 0, cg.noMatch),
    Ja(end),
    withLabel(Nop(), noEntry),
    ...tested(
      XT_CONNTRACK_DIRECTION,
      holds((yes) => [LoadMem(R1, STATE, S.CTINFO, Size.W), JLt.imm(R1, IP_CT_IS_REPLY, yes)], cg),
      cg,
    ),
  );
  const addrs: readonly (readonly [number, number])[] = [
    [XT_CONNTRACK_ORIGSRC, ct.tuple[0].srcIp],
    [XT_CONNTRACK_ORIGDST, ct.tuple[0].dstIp],
    [XT_CONNTRACK_REPLSRC, ct.tuple[1].srcIp],
    [XT_CONNTRACK_REPLDST, ct.tuple[1].dstIp],
  ];
  addrs.forEach(([f, off], i) => {
    out.push(
      ...tested(
        f,
        holds(
          (yes) => [
            ...ctLoad(off, Size.W, cg),
            ToBe(R1, 32),
            LoadMem(R2, RECORD, REC.ADDR + 8 * i, Size.W),
            Xor.reg(R1, R2),
            LoadMem(R2, RECORD, REC.ADDR + 8 * i + 4, Size.W),
            And.reg(R1, R2),
            JEq.imm(R1, 0, yes),
          ],
          cg,
        ),
        cg,
      ),
    );
  });
  out.push(
    ...tested(
      XT_CONNTRACK_PROTO,
      holds(
        (yes) => [
          ...ctLoad(ct.tuple[0].protonum, Size.B, cg),
          LoadMem(R2, RECORD, REC.L4PROTO, Size.H),
          JEq.reg(R1, R2, yes),
        ],
        cg,
      ),
      cg,
    ),
  );
  const ports: readonly (readonly [number, number])[] = [
    [XT_CONNTRACK_ORIGSRC_PORT, ct.tuple[0].srcPort],
    [XT_CONNTRACK_ORIGDST_PORT, ct.tuple[0].dstPort],
    [XT_CONNTRACK_REPLSRC_PORT, ct.tuple[1].srcPort],
    [XT_CONNTRACK_REPLDST_PORT, ct.tuple[1].dstPort],
  ];
  ports.forEach(([f, off], i) => {
    out.push(
      ...tested(
        f,
        holds((yes) => {
          const no = cg.label('ct_port_no');
          return [
            ...ctLoad(off, Size.H, cg),
            ToBe(R1, 16),
            LoadMem(R2, RECORD, REC.PORTS + 4 * i, Size.H),
            JLt.reg(R1, R2, no),
            LoadMem(R2, RECORD, REC.PORTS + 4 * i + 2, Size.H),
            JGt.reg(R1, R2, no),
            Ja(yes),
            withLabel(Nop(), no),
          ];
        }, cg),
        cg,
      ),
    );
  });
  out.push(
    ...tested(
      XT_CONNTRACK_STATUS,
      holds(
        (yes) => [
          ...ctLoad(ct.status, Size.DW, cg),
          LoadMem(R2, RECORD, REC.STATUS, Size.H),
          And.reg(R1, R2),
          JNe.imm(R1, 0, yes),
        ],
        cg,
      ),
      cg,
    ),
  );
  // Records with --ctexpire are refused where CONFIG_HZ is unknown (conntrackRecord).
  const hz = cg.hz ?? 1;
  out.push(
    ...tested(
      XT_CONNTRACK_EXPIRES,
      holds((yes) => {
        const no = cg.label('ct_exp_no');
        const pos = cg.label('ct_exp_pos');
        return [
          // nf_ct_expires: max((s32)(ct->timeout - (u32)jiffies), 0), then / HZ
          ...ctLoad(ct.timeout, Size.W, cg),
          StoreMem(FP, cg.scratch + 16, R1, Size.DW),
          Call.helper(BPF_FUNC_jiffies64),
          LoadMem(R1, FP, cg.scratch + 16, Size.DW),
          Sub.reg32(R1, R0),
          Lsh.imm(R1, 32),
          Arsh.imm(R1, 32),
          JSGe.imm(R1, 0, pos),
          Mov.imm(R1, 0),
          withLabel(Div.imm(R1, hz), pos),
          LoadMem(R2, RECORD, REC.EXPIRES_MIN, Size.W),
          JLt.reg32(R1, R2, no),
          LoadMem(R2, RECORD, REC.EXPIRES_MAX, Size.W),
          JGt.reg32(R1, R2, no),
          Ja(yes),
          withLabel(Nop(), no),
        ];
      }, cg),
      cg,
    ),
    withLabel(Nop(), end),
  );
  return out;
}

/** The --ctstate test: R4 = 1 when the packet's state bit (with SNAT/DNAT) is in the mask. */
function stateHolds(ct: CtLayout, cg: EvalContext): Insn[] {
  return holds(
    (yes) => [
      ...ctStateBit(XT_CONNTRACK_STATE_UNTRACKED, XT_CONNTRACK_STATE_INVALID, cg),
      ...natBits(ct, cg),
      LoadMem(R2, RECORD, REC.STATE, Size.H),
      And.reg(R3, R2),
      JNe.imm(R3, 0, yes),
    ],
    cg,
  );
}
