// -m owner: struct xt_owner_match_info (linux/netfilter/xt_owner.h), revision 1 (revision 0,
// ipt_owner, is gone from the kernel), registered per family with .hooks = OUTPUT and
// POSTROUTING: only locally generated packets carry the socket it tests. owner_check refuses
// unknown match bits and, for --uid-owner/--gid-owner, ids the netns's user namespace cannot map
// (in the initial namespace only (u32)-1) or a range whose max is below its min, all EINVAL. It
// also refuses those options when the writer's user namespace is not the netns's; the helper
// writes from the initial namespace, where that never happens.
import { NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } from '../abi.js';
import { EINVAL, XtError } from '../errno.js';
import { OptionError, optionBits, parseUintPrefix, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { payload, requireHooks, zeroed } from './util.js';
import {
  Add,
  And,
  Ja,
  JEq,
  JNe,
  LoadMem,
  Lsh,
  Mov,
  Nop,
  R1,
  R2,
  R4,
  R5,
  R8,
  Size,
  StoreMem,
  FP,
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { rangeHolds, unlessInverted } from '../../bpf/codegen/cmp.js';
import { CTX, RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { forEach, kread } from '../../bpf/codegen/kmem.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_OWNER_UID = 1 << 0;
export const XT_OWNER_GID = 1 << 1;
export const XT_OWNER_SOCKET = 1 << 2;
export const XT_OWNER_SUPPL_GROUPS = 1 << 3;
export const XT_OWNER_MASK = 0x0f;
export const OWNER_HOOKS = (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_POST_ROUTING);
/** INVALID_UID / INVALID_GID: the one id make_kuid never maps in the initial namespace. */
const INVALID_ID = 0xffffffff;

export interface OwnerMatch {
  /** Inclusive ranges of the socket file's fsuid / fsgid (or a supplementary group). */
  readonly uidMin: number;
  readonly uidMax: number;
  readonly gidMin: number;
  readonly gidMax: number;
  /** XT_OWNER_* tests to make. */
  readonly match: number;
  /** XT_OWNER_* tests whose result is inverted. */
  readonly invert: number;
}

/** Four u32s and two u8s, padded to 20. */
const SIZE = 20;

export const owner: Extension<OwnerMatch> = {
  kind: 'match',
  name: 'owner',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): OwnerMatch {
    const b = payload(data, SIZE);
    return {
      uidMin: b.readUInt32LE(0),
      uidMax: b.readUInt32LE(4),
      gidMin: b.readUInt32LE(8),
      gidMax: b.readUInt32LE(12),
      match: b[16] ?? 0,
      invert: b[17] ?? 0,
    };
  },
  encode(v: OwnerMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.uidMin >>> 0, 0);
    b.writeUInt32LE(v.uidMax >>> 0, 4);
    b.writeUInt32LE(v.gidMin >>> 0, 8);
    b.writeUInt32LE(v.gidMax >>> 0, 12);
    b.writeUInt8(v.match, 16);
    b.writeUInt8(v.invert, 17);
    return b;
  },
  check(v: OwnerMatch, _revision: number, ctx: CheckContext): void {
    const what = 'match "owner"';
    requireHooks(ctx, OWNER_HOOKS, what);
    if ((v.match & ~XT_OWNER_MASK) !== 0) {
      throw new XtError(EINVAL, `${what}: unknown match bits 0x${v.match.toString(16)}`);
    }
    const range = (flag: number, lo: number, hi: number, kind: string): void => {
      if ((v.match & flag) === 0) return;
      if (lo === INVALID_ID || hi === INVALID_ID || hi < lo) {
        throw new XtError(EINVAL, `${what}: ${kind} range ${lo}-${hi} is invalid`);
      }
    };
    range(XT_OWNER_UID, v.uidMin, v.uidMax, 'uid');
    range(XT_OWNER_GID, v.gidMin, v.gidMax, 'gid');
  },
  format(v: OwnerMatch): string {
    // owner_mt_save: each test its label, with "!" when its invert bit is set.
    const items: readonly (readonly [number, string, string])[] = [
      [XT_OWNER_SOCKET, '--socket-exists', ''],
      [XT_OWNER_UID, '--uid-owner', ` ${idRange(v.uidMin, v.uidMax)}`],
      [XT_OWNER_GID, '--gid-owner', ` ${idRange(v.gidMin, v.gidMax)}`],
      [XT_OWNER_SUPPL_GROUPS, '--suppl-groups', ''],
    ];
    let out = '';
    for (const [flag, label, arg] of items) {
      if ((v.match & flag) === 0) continue;
      out += `${(v.invert & flag) !== 0 ? ' !' : ''} ${label}${arg}`;
    }
    return out.slice(1);
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "owner"';
    const o = readOptions(what, options, {
      uid: { names: ['uid-owner'], invert: true },
      gid: { names: ['gid-owner'], invert: true },
      socket: { names: ['socket-exists'], args: 0, invert: true },
      suppl: { names: ['suppl-groups'], args: 0 },
    });
    if (options.length === 0) {
      throw new OptionError(`${what}: --uid-owner, --gid-owner or --socket-exists is required`);
    }
    const given = optionBits([
      [o.uid, XT_OWNER_UID],
      [o.gid, XT_OWNER_GID],
      [o.socket, XT_OWNER_SOCKET],
    ]);
    let match = given.bits;
    const invert = given.inverted;
    if (o.suppl !== undefined) {
      // libxt_owner takes options in order: --gid-owner must already have been seen.
      if (o.gid === undefined || options.indexOf(o.gid) > options.indexOf(o.suppl)) {
        throw new OptionError(`${what}: --suppl-groups needs --gid-owner first`);
      }
      match |= XT_OWNER_SUPPL_GROUPS;
    }
    const [uidMin, uidMax] = o.uid === undefined ? [0, 0] : parseIdRange(o.uid, what);
    const [gidMin, gidMax] = o.gid === undefined ? [0, 0] : parseIdRange(o.gid, what);
    const value: OwnerMatch = { uidMin, uidMax, gidMin, gidMax, match, invert };
    return { extension: owner, revision: 1, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: OwnerMatch) => owner.encode(v, 1),
    evaluate: ownerCode,
  },
};

/** Record offsets (the xt payload). */
const REC = { UID: 0, GID: 8, MATCH: 16, INVERT: 17 } as const;
const TCP_TIME_WAIT = 6;
const TCP_NEW_SYN_RECV = 12;
const IPPROTO_TCP = 6;

/**
 * owner_mt. The socket is skb_to_full_sk's: a SYN-ACK's request socket stands for its listener,
 * a time-wait socket for none; a socket of another netns is none too. Its file's credentials
 * give fsuid, fsgid and the supplementary groups. Ids compare as the initial user namespace's,
 * which make_kuid leaves unchanged: the netns of every table the helper serves belongs to it.
 */
function ownerCode(cg: EvalContext): Insn[] {
  const k = cg.kernel;
  const [buf, sk, gi, iter] = [cg.scratch, cg.scratch + 8, cg.scratch + 16, cg.scratch + 24];
  const found = sk;
  const noSock = cg.label('own_nosock');
  const noFile = cg.label('own_nofile');
  const full = cg.label('own_full');
  const gidDone = cg.label('own_giddone');
  const checkGid = cg.label('own_gid');
  const end = cg.label('own_end');
  const isFull = cg.label('own_sk');
  const hasSock = cg.label('own_hassock');
  const sockAt = (member: string): number => k.offsetOf('sock', member);
  const flag = (bit: number, none: string): Insn[] => [
    LoadMem(R1, RECORD, REC.MATCH, Size.B),
    And.imm(R1, bit),
    JEq.imm(R1, 0, none),
  ];
  /** R4 = lo <= R1 <= hi, the record's range at `at`. */
  const inRange = (at: number): Insn[] => rangeHolds([], at, at + 4, Size.W, cg);
  return [
    // The kernel's REJECT replies: a RST has no socket, an ICMP error the netns' ICMP socket,
    // which has no file. Ours come from the helper's raw socket.
    Mov.imm(R8, 0),
    LoadMem(R1, STATE, S.REPLY, Size.W),
    JEq.imm(R1, 0, full),
    LoadMem(R1, STATE, S.IP + 9, Size.B),
    JEq.imm(R1, IPPROTO_TCP, noSock),
    Ja(hasSock),
    withLabel(LoadMem(R8, CTX, cg.ctxLayout.skb, Size.DW), full),
    LoadMem(R8, R8, k.memberOffset('sk_buff', 'sk'), Size.DW),
    JEq.imm(R8, 0, noSock),
    ...kread(R8, sockAt('__sk_common.skc_state'), Size.B, buf),
    JEq.imm(R1, TCP_TIME_WAIT, noSock),
    JNe.imm(R1, TCP_NEW_SYN_RECV, isFull),
    ...kread(R8, k.offsetOf('request_sock', '__req_common.skc_listener'), Size.DW, buf),
    Mov.reg(R8, R1),
    JEq.imm(R8, 0, noSock),
    withLabel(Nop(), isFull),
    ...kread(R8, sockAt('__sk_common.skc_net'), Size.DW, buf),
    StoreMem(FP, sk, R1, Size.DW),
    LoadMem(R2, CTX, cg.ctxLayout.state, Size.DW),
    LoadMem(R2, R2, k.memberOffset('nf_hook_state', 'net'), Size.DW),
    LoadMem(R1, FP, sk, Size.DW),
    JNe.reg(R1, R2, noSock),
    ...kread(R8, sockAt('sk_socket'), Size.DW, buf),
    JEq.imm(R1, 0, noSock),
    Mov.reg(R8, R1),
    // A socket, where ! --socket-exists wanted none.
    withLabel(LoadMem(R1, RECORD, REC.MATCH, Size.B), hasSock),
    LoadMem(R2, RECORD, REC.INVERT, Size.B),
    And.reg(R1, R2),
    And.imm(R1, XT_OWNER_SOCKET),
    JNe.imm(R1, 0, cg.noMatch),
    JEq.imm(R8, 0, noFile),
    ...kread(R8, k.memberOffset('socket', 'file'), Size.DW, buf),
    JEq.imm(R1, 0, noFile),
    ...kread(R1, k.memberOffset('file', 'f_cred'), Size.DW, buf),
    Mov.reg(R8, R1),
    ...flag(XT_OWNER_UID, checkGid),
    ...kread(R8, k.memberOffset('cred', 'fsuid'), Size.W, buf),
    ...inRange(REC.UID),
    ...unlessInverted({ offset: REC.INVERT, bit: XT_OWNER_UID }, cg),
    withLabel(Nop(), checkGid),
    ...flag(XT_OWNER_GID, end),
    ...kread(R8, k.memberOffset('cred', 'fsgid'), Size.W, buf),
    ...inRange(REC.GID),
    // Whether fsgid or a supplementary group is in the range, kept on the stack at `found`.
    StoreMem(FP, found, R4, Size.DW),
    JNe.imm(R4, 0, gidDone),
    ...flag(XT_OWNER_SUPPL_GROUPS, gidDone),
    ...kread(R8, k.memberOffset('cred', 'group_info'), Size.DW, buf),
    JEq.imm(R1, 0, gidDone),
    StoreMem(FP, gi, R1, Size.DW),
    ...kread(R1, k.memberOffset('group_info', 'ngroups'), Size.W, buf),
    Mov.reg(R5, R1),
    Mov.imm(R8, 0),
    ...forEach(
      k,
      R5,
      iter,
      (h) => cg.label(h),
      (brk) => [
        LoadMem(R2, FP, gi, Size.DW),
        Mov.reg(R4, R1),
        Lsh.imm(R4, 2),
        Add.reg(R2, R4),
        ...kread(R2, k.memberOffset('group_info', 'gid'), Size.W, buf),
        ...inRange(REC.GID),
        Mov.reg(R8, R4),
        JNe.imm(R4, 0, brk),
      ],
    ),
    StoreMem(FP, found, R8, Size.DW),
    withLabel(LoadMem(R4, FP, found, Size.DW), gidDone),
    ...unlessInverted({ offset: REC.INVERT, bit: XT_OWNER_GID }, cg),
    Ja(end),
    // No socket: holds when every test asked for is inverted (and only those).
    withLabel(LoadMem(R1, RECORD, REC.MATCH, Size.B), noSock),
    LoadMem(R2, RECORD, REC.INVERT, Size.B),
    Xor.reg(R1, R2),
    JNe.imm(R1, 0, cg.noMatch),
    Ja(end),
    // A socket without a file: holds unless a uid/gid test is asked for and not inverted.
    withLabel(LoadMem(R1, RECORD, REC.MATCH, Size.B), noFile),
    LoadMem(R2, RECORD, REC.INVERT, Size.B),
    Xor.reg(R1, R2),
    And.imm(R1, XT_OWNER_UID | XT_OWNER_GID),
    JNe.imm(R1, 0, cg.noMatch),
    withLabel(Nop(), end),
  ];
}

function idRange(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/**
 * owner_parse_range: `n`, `n-m` or `n:m`, each up to (u32)-1 - 1. Names are not looked up
 * (iptables would ask the passwd/group database first); iptables-save prints numbers.
 */
function parseIdRange(opt: SaveOption, what: string): [number, number] {
  const s = opt.args[0] ?? '';
  const bad = (): OptionError =>
    new OptionError(
      `${what}: --${opt.name}: bad value "${s}" (a number or range; user and group names are not resolved)`,
    );
  const lo = parseUintPrefix(s, 0, INVALID_ID - 1);
  if (lo === undefined) throw bad();
  let hi = lo;
  if (lo.rest.startsWith('-') || lo.rest.startsWith(':')) {
    const next = parseUintPrefix(lo.rest.slice(1), 0, INVALID_ID - 1);
    if (next === undefined) throw bad();
    hi = next;
  }
  if (hi.rest !== '') throw bad();
  return [lo.value, hi.value];
}
