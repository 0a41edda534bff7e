// The standard target (name ""): a verdict. Negative values are `-NF_x - 1` (or XT_RETURN), a
// value >= 0 is the blob offset of a jump. Its range is checked by the generic entry checks
// (xt_check_entry_offsets' verdict_ok and mark_source_chains), not here: the kernel's standard
// target has no checkentry.
import type { Extension } from './types.js';

export interface StandardTarget {
  readonly verdict: number;
}

const DATA_SIZE = 4;
const ALIGNED = 8;

export const standard: Extension<StandardTarget> = {
  kind: 'target',
  name: '',
  revisions: [0],
  dataSize: () => DATA_SIZE,
  userSize: () => DATA_SIZE,
  decode(data: Buffer): StandardTarget {
    return { verdict: data.length >= DATA_SIZE ? data.readInt32LE(0) : 0 };
  },
  encode(value: StandardTarget): Buffer {
    const out = Buffer.alloc(ALIGNED);
    out.writeInt32LE(value.verdict, 0);
    return out;
  },
  check(): void {},
  format(value: StandardTarget): string {
    return formatVerdict(value.verdict);
  },
};

const NAMED: Readonly<Record<number, string>> = {
  [-1]: 'DROP',
  [-2]: 'ACCEPT',
  [-4]: 'QUEUE',
  [-5]: 'RETURN',
};

function formatVerdict(verdict: number): string {
  return NAMED[verdict] ?? (verdict >= 0 ? `jump@${verdict}` : `verdict ${verdict}`);
}
