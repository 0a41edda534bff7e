// -m mark: struct xt_mark_mtinfo1 (linux/netfilter/xt_mark.h), revision 1, family UNSPEC, no
// checkentry. Matches when ((skb->mark & mask) == mark) ^ invert.
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import { LoadMem, R1, Size, type Insn } from '../../bpf/asm/index.js';
import { markHolds } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export interface MarkMatch {
  readonly mark: number;
  readonly mask: number;
  readonly invert: number;
}

/** sizeof(struct xt_mark_mtinfo1): 9 bytes of fields padded to 12. */
const SIZE = 12;

export const mark: Extension<MarkMatch> = {
  kind: 'match',
  name: 'mark',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): MarkMatch {
    const b = payload(data, SIZE);
    return { mark: b.readUInt32LE(0), mask: b.readUInt32LE(4), invert: b[8] ?? 0 };
  },
  encode(v: MarkMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.mark >>> 0, 0);
    b.writeUInt32LE(v.mask >>> 0, 4);
    b.writeUInt8(v.invert, 8);
    return b;
  },
  check(): void {},
  format(v: MarkMatch): string {
    const m = `0x${v.mark.toString(16)}`;
    const value = v.mask === 0xffffffff ? m : `${m}/0x${v.mask.toString(16)}`;
    return `${v.invert !== 0 ? '! ' : ''}--mark ${value}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "mark"', options, { mark: { names: ['mark'], invert: true } });
    if (o.mark === undefined) throw new OptionError('match "mark": --mark is required');
    const [m = '', mask] = (o.mark.args[0] ?? '').split('/');
    const what = 'match "mark": --mark';
    const value: MarkMatch = {
      mark: parseUint(m, 0, 0xffffffff, what),
      mask: mask === undefined ? 0xffffffff : parseUint(mask, 0, 0xffffffff, what),
      invert: o.mark.invert ? 1 : 0,
    };
    return { extension: mark, revision: 1, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: MarkMatch) => mark.encode(v, 1),
    evaluate: (cg: EvalContext): Insn[] => [LoadMem(R1, STATE, S.MARK, Size.W), ...markHolds(cg)],
  },
};
