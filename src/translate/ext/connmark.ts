// -m connmark: struct xt_connmark_mtinfo1 (linux/netfilter/xt_connmark.h), revision 1 (the only
// one the kernel has), family UNSPEC. connmark_mt_check only takes a conntrack reference, so no
// value is refused. Matches ((ct->mark & mask) == mark) ^ invert; no conntrack entry: no match.
// The engine reads ct->mark at its BTF offset (within the entry image a REJECT reply carries).
import { OptionError, parseValMask, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { formatValMask, inv, payload, readPad, writePad, zeroed } from './util.js';
import { JEq, LoadMem, R1, Size, type Insn } from '../../bpf/asm/index.js';
import { markHolds } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { kread } from '../../bpf/codegen/kmem.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export interface ConnmarkMatch {
  readonly mark: number;
  readonly mask: number;
  readonly invert: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** Two u32 and a u8: 9 bytes padded to 12. */
const SIZE = 12;

export const connmark: Extension<ConnmarkMatch> = {
  kind: 'match',
  name: 'connmark',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): ConnmarkMatch {
    const b = payload(data, SIZE);
    return {
      mark: b.readUInt32LE(0),
      mask: b.readUInt32LE(4),
      invert: b[8] ?? 0,
      ...readPad(b, 9, 3),
    };
  },
  encode(v: ConnmarkMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.mark >>> 0, 0);
    b.writeUInt32LE(v.mask >>> 0, 4);
    b.writeUInt8(v.invert, 8);
    writePad(b, 9, 3, v.pad);
    return b;
  },
  check(): void {},
  format(v: ConnmarkMatch): string {
    return `${inv(v.invert !== 0)}--mark ${formatValMask(v.mark, v.mask)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "connmark"', options, { mark: { names: ['mark'], invert: true } });
    if (o.mark === undefined) throw new OptionError('match "connmark": --mark is required');
    const { value, mask } = parseValMask(o.mark.args[0] ?? '', 'match "connmark": --mark');
    return {
      extension: connmark,
      revision: 1,
      value: { mark: value, mask, invert: o.mark.invert ? 1 : 0 },
    };
  },
  engine: {
    recordSize: SIZE,
    record: (v: ConnmarkMatch) => connmark.encode(v, 1),
    evaluate(cg: EvalContext): Insn[] {
      // No entry: no match, inverted or not. Else ((ct->mark & mask) == mark) ^ invert.
      return [
        LoadMem(R1, STATE, S.CTSET, Size.W),
        JEq.imm(R1, 0, cg.noMatch),
        LoadMem(R1, STATE, S.CT, Size.DW),
        ...kread(R1, cg.kernel.memberOffset('nf_conn', 'mark'), Size.W, cg.scratch),
        ...markHolds(cg),
      ];
    },
  },
};
