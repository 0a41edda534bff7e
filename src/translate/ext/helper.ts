// -m helper: struct xt_helper_info (linux/netfilter/xt_helper.h), revision 0, family UNSPEC.
// helper_mt_check takes a conntrack reference and writes a NUL into name[29], so the name the
// kernel keeps (and GET_ENTRIES returns) is at most 29 bytes: decode reads only those. Matches
// when the rule's name begins with the master connection's helper name (strncmp over
// strlen(helper->name), so "ftp-2" matches helper "ftp"); an empty name matches any helper.
import { OptionError, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import {
  cString,
  inv,
  payload,
  rawChars,
  readPad,
  saveString,
  writeChars,
  writePad,
  zeroed,
} from './util.js';
import {
  Add,
  Call,
  FP,
  Ja,
  JEq,
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
  Xor,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { ctExtFind } from '../../bpf/codegen/ct.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { kread } from '../../bpf/codegen/kmem.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export interface HelperMatch {
  /** int invert: any non-zero inverts. */
  readonly invert: number;
  /** name[0..28] as latin1, trailing NULs dropped. */
  readonly name: string;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** int + char[30]: 34 bytes padded to 36. */
const SIZE = 36;
const NAME = 4;
const NAME_KEPT = 29;

export const helper: Extension<HelperMatch> = {
  kind: 'match',
  name: 'helper',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): HelperMatch {
    const b = payload(data, SIZE);
    return {
      invert: b.readUInt32LE(0),
      name: rawChars(b.subarray(NAME, NAME + NAME_KEPT)),
      ...readPad(b, 34, 2),
    };
  },
  encode(v: HelperMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.invert >>> 0, 0);
    writeChars(b, NAME, v.name, NAME_KEPT);
    writePad(b, 34, 2, v.pad);
    return b;
  },
  check(): void {},
  format(v: HelperMatch): string {
    return `${inv(v.invert !== 0)}--helper ${saveString(cString(v.name))}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "helper"', options, {
      helper: { names: ['helper'], invert: true },
    });
    if (o.helper === undefined) throw new OptionError('match "helper": --helper is required');
    // XTTYPE_STRING into char[30]: iptables silently keeps the first 29 bytes.
    const raw = Buffer.from(o.helper.args[0] ?? '', 'utf8').toString('latin1');
    const value = { invert: o.helper.invert ? 1 : 0, name: cString(raw).slice(0, NAME_KEPT) };
    return { extension: helper, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: HelperMatch) => helper.encode(v, 0),
    evaluate: helperCode,
  },
};

const BPF_FUNC_probe_read_kernel = 113;
/** NF_CT_HELPER_NAME_LEN: the helper's name and its NUL. */
const HELPER_NAME_LEN = 16;

/**
 * helper_mt: the helper of the entry's master (the connection that expected this one). No
 * master, no helper extension or no helper: `invert`. Else an empty name holds, and a name
 * holds when it starts with the helper's (strncmp over strlen(helper->name)); then ^ invert.
 */
function helperCode(cg: EvalContext): Insn[] {
  const k = cg.kernel;
  const none = cg.label('hlp_none');
  const equal = cg.label('hlp_eq');
  const decided = cg.label('hlp_decided');
  const plain = cg.label('hlp_plain');
  const end = cg.label('hlp_end');
  const name = cg.scratch;
  const cmp: Insn[] = [];
  for (let i = 0; i < HELPER_NAME_LEN; i++) {
    cmp.push(
      LoadMem(R1, FP, name + i, Size.B),
      JEq.imm(R1, 0, equal),
      LoadMem(R2, RECORD, NAME + i, Size.B),
      JNe.reg(R1, R2, decided),
    );
  }
  return [
    LoadMem(R1, STATE, S.CTSET, Size.W),
    JEq.imm(R1, 0, none),
    LoadMem(R1, STATE, S.CT, Size.DW),
    ...kread(R1, k.memberOffset('nf_conn', 'master'), Size.DW, cg.scratch, none),
    JEq.imm(R1, 0, none),
    ...ctExtFind(k, R1, 'NF_CT_EXT_HELPER', cg.scratch, none),
    ...kread(R1, k.memberOffset('nf_conn_help', 'helper'), Size.DW, cg.scratch, none),
    JEq.imm(R1, 0, none),
    // R4 = the test before the inversion.
    Mov.imm(R4, 1),
    LoadMem(R2, RECORD, NAME, Size.B),
    JEq.imm(R2, 0, decided),
    Mov.reg(R3, R1),
    Add.imm(R3, k.memberOffset('nf_conntrack_helper', 'name')),
    Mov.reg(R1, FP),
    Add.imm(R1, name),
    Mov.imm(R2, HELPER_NAME_LEN),
    Call.helper(BPF_FUNC_probe_read_kernel),
    Mov.imm(R4, 0),
    JNe.imm(R0, 0, none),
    ...cmp,
    withLabel(Mov.imm(R4, 1), equal),
    withLabel(LoadMem(R5, RECORD, 0, Size.W), decided),
    JEq.imm(R5, 0, plain),
    Xor.imm(R4, 1),
    withLabel(JEq.imm(R4, 0, cg.noMatch), plain),
    Ja(end),
    withLabel(LoadMem(R5, RECORD, 0, Size.W), none),
    JEq.imm(R5, 0, cg.noMatch),
    withLabel(Nop(), end),
  ];
}
