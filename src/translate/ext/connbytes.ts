// -m connbytes: struct xt_connbytes_info (linux/netfilter/xt_connbytes.h), revision 0, family
// UNSPEC. connbytes_mt_check refuses an unknown `what` or direction (EINVAL), then turns on the
// netns' conntrack accounting. `! --connbytes a:b` is stored as from = b, to = a: the kernel
// matches from <= n <= to (or n >= from when to is 0), so the swapped range never matches and
// its complement has to be read off from > to, as iptables-save does.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseRangeRCBig, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, readPad, writePad, zeroed } from './util.js';
import {
  Add,
  Call,
  Div,
  FP,
  Ja,
  JEq,
  JGt,
  JLt,
  JNe,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { ctExtFind } from '../../bpf/codegen/ct.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const XT_CONNBYTES_PKTS = 0;
export const XT_CONNBYTES_BYTES = 1;
export const XT_CONNBYTES_AVGPKT = 2;
export const XT_CONNBYTES_DIR_ORIGINAL = 0;
export const XT_CONNBYTES_DIR_REPLY = 1;
export const XT_CONNBYTES_DIR_BOTH = 2;

export interface ConnbytesMatch {
  readonly from: bigint;
  readonly to: bigint;
  /** XT_CONNBYTES_PKTS, _BYTES or _AVGPKT. */
  readonly what: number;
  readonly direction: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

const SIZE = 24;
const U64_MAX = 2n ** 64n - 1n;
const MODES = ['packets', 'bytes', 'avgpkt'];
const DIRECTIONS = ['original', 'reply', 'both'];

export const connbytes: Extension<ConnbytesMatch> = {
  kind: 'match',
  name: 'connbytes',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): ConnbytesMatch {
    const b = payload(data, SIZE);
    return {
      from: b.readBigUInt64LE(0),
      to: b.readBigUInt64LE(8),
      what: b[16] ?? 0,
      direction: b[17] ?? 0,
      ...readPad(b, 18, 6),
    };
  },
  encode(v: ConnbytesMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeBigUInt64LE(v.from, 0);
    b.writeBigUInt64LE(v.to, 8);
    b.writeUInt8(v.what, 16);
    b.writeUInt8(v.direction, 17);
    writePad(b, 18, 6, v.pad);
    return b;
  },
  check(v: ConnbytesMatch): void {
    if (v.what > XT_CONNBYTES_AVGPKT || v.direction > XT_CONNBYTES_DIR_BOTH) {
      throw new XtError(EINVAL, `match "connbytes": mode ${v.what} direction ${v.direction}`);
    }
  },
  format(v: ConnbytesMatch): string {
    const inverted = v.from > v.to;
    const [from, to] = inverted ? [v.to, v.from] : [v.from, v.to];
    const upper = to !== 0n && to < U64_MAX ? `:${to}` : '';
    const mode = MODES[v.what] ?? 'unknown';
    const dir = DIRECTIONS[v.direction] ?? 'unknown';
    return `${inverted ? '! ' : ''}--connbytes ${from}${upper} --connbytes-mode ${mode} --connbytes-dir ${dir}`;
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "connbytes"';
    const o = readOptions(what, options, {
      connbytes: { names: ['connbytes'], invert: true },
      dir: { names: ['connbytes-dir'] },
      mode: { names: ['connbytes-mode'] },
    });
    if (o.connbytes === undefined || o.dir === undefined || o.mode === undefined) {
      throw new OptionError(
        `${what}: --connbytes, --connbytes-dir and --connbytes-mode are required`,
      );
    }
    const [from = 0n, to = U64_MAX] = parseRangeRCBig(
      o.connbytes.args[0] ?? '',
      U64_MAX,
      `${what}: --connbytes`,
    );
    if (to < from) throw new OptionError(`${what}: ${from} should be less than ${to}`);
    const pick = (opt: SaveOption, names: readonly string[]): number => {
      const i = names.indexOf(opt.args[0] ?? '');
      if (i === -1) throw new OptionError(`${what}: unknown --${opt.name} "${opt.args[0] ?? ''}"`);
      return i;
    };
    const value: ConnbytesMatch = {
      from: o.connbytes.invert ? to : from,
      to: o.connbytes.invert ? from : to,
      what: pick(o.mode, MODES),
      direction: pick(o.dir, DIRECTIONS),
    };
    return { extension: connbytes, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: ConnbytesMatch) => connbytes.encode(v, 0),
    evaluate: connbytesCode,
  },
};

const BPF_FUNC_probe_read_kernel = 113;
/** struct nf_conn_acct: {packets, bytes} for the original, then the reply direction. */
const ACCT = { PACKETS: 0, BYTES: 8, DIR: 16, SIZE: 32 } as const;

/**
 * connbytes_mt: no entry or no accounting extension, no match. Packets, bytes or bytes per
 * packet (0 for no packets, as BPF's division by zero gives) of one direction or both, then
 * from <= n <= to, or for a swapped range (`!`) n < to || n > from.
 */
function connbytesCode(cg: EvalContext): Insn[] {
  const c = cg.scratch;
  const sum = (field: number, to: typeof R3): Insn[] => {
    const noOrig = cg.label('cb_noorig');
    const noReply = cg.label('cb_noreply');
    return [
      Mov.imm(to, 0),
      JEq.imm(R5, XT_CONNBYTES_DIR_REPLY, noOrig),
      LoadMem(R1, FP, c + field, Size.DW),
      Add.reg(to, R1),
      withLabel(JEq.imm(R5, XT_CONNBYTES_DIR_ORIGINAL, noReply), noOrig),
      LoadMem(R1, FP, c + ACCT.DIR + field, Size.DW),
      Add.reg(to, R1),
      withLabel(Nop(), noReply),
    ];
  };
  const got = cg.label('cb_got');
  const swapped = cg.label('cb_swapped');
  const end = cg.label('cb_end');
  return [
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JEq.imm(R1, 0, cg.noMatch),
    LoadMem(R1, STATE, S.CT, Size.DW),
    ...ctExtFind(cg.kernel, R1, 'NF_CT_EXT_ACCT', c, cg.noMatch),
    Mov.reg(R3, R1),
    Mov.reg(R1, FP),
    Add.imm(R1, c),
    Mov.imm(R2, ACCT.SIZE),
    Call.helper(BPF_FUNC_probe_read_kernel),
    JNe.imm(R0, 0, cg.noMatch),
    LoadMem(R5, RECORD, 17, Size.B),
    ...sum(ACCT.PACKETS, R3),
    ...sum(ACCT.BYTES, R4),
    LoadMem(R1, RECORD, 16, Size.B),
    JEq.imm(R1, XT_CONNBYTES_PKTS, got),
    Mov.reg(R3, R4),
    JEq.imm(R1, XT_CONNBYTES_BYTES, got),
    // avgpkt: R3 = bytes / packets
    ...sum(ACCT.PACKETS, R2),
    Div.reg(R3, R2),
    withLabel(LoadMem(R1, RECORD, 0, Size.DW), got),
    LoadMem(R2, RECORD, 8, Size.DW),
    JLt.reg(R2, R1, swapped),
    JLt.reg(R3, R1, cg.noMatch),
    JGt.reg(R3, R2, cg.noMatch),
    Ja(end),
    withLabel(JLt.reg(R3, R2, end), swapped),
    JGt.reg(R3, R1, end),
    Ja(cg.noMatch),
    withLabel(Nop(), end),
  ];
}
