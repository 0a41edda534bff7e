// -m length: struct xt_length_info (linux/netfilter/xt_length.h), revision 0, registered per
// family, no checkentry. IPv4 compares ntohs(iph->tot_len) with [min, max], xor invert.
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import { Size } from '../../bpf/asm/index.js';
import { loadBe16, rangeHolds, unlessXor } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { S } from '../../bpf/codegen/state.js';

export interface LengthMatch {
  readonly min: number;
  readonly max: number;
  readonly invert: number;
}

const SIZE = 6;

export const length: Extension<LengthMatch> = {
  kind: 'match',
  name: 'length',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): LengthMatch {
    const b = payload(data, SIZE);
    return { min: b.readUInt16LE(0), max: b.readUInt16LE(2), invert: b[4] ?? 0 };
  },
  encode(v: LengthMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt16LE(v.min, 0);
    b.writeUInt16LE(v.max, 2);
    b.writeUInt8(v.invert, 4);
    return b;
  },
  check(): void {},
  format(v: LengthMatch): string {
    const range = v.min === v.max ? `${v.min}` : `${v.min}:${v.max}`;
    return `${v.invert !== 0 ? '! ' : ''}--length ${range}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "length"', options, {
      length: { names: ['length'], invert: true },
    });
    if (o.length === undefined) throw new OptionError('match "length": --length is required');
    const what = 'match "length": --length';
    const [lo = '', hi] = (o.length.args[0] ?? '').split(':');
    const min = lo === '' ? 0 : parseUint(lo, 0, 0xffff, what);
    const max = hi === undefined ? min : hi === '' ? 0xffff : parseUint(hi, 0, 0xffff, what);
    const value: LengthMatch = { min, max, invert: o.length.invert ? 1 : 0 };
    return { extension: length, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: LengthMatch) => length.encode(v, 0),
    // (min <= ntohs(iph->tot_len) <= max) ^ invert
    evaluate: (cg: EvalContext) => [
      ...rangeHolds(loadBe16(S.IP + 2), 0, 2, Size.H, cg),
      ...unlessXor(4, cg),
    ],
  },
};
