// The ERROR target: heads every user chain (errorname = chain name) and ends the table
// (errorname "ERROR"). The kernel's error_tg_ok (xt_check_entry_offsets) demands target_size ==
// 64 and a NUL inside the 30-byte errorname; that generic check lives in validate.ts.
import { XT_FUNCTION_MAXNAMELEN } from '../abi.js';
import type { Extension } from './types.js';

export interface ErrorTarget {
  /** The chain name, or "ERROR" for the table's last entry. */
  readonly name: string;
}

const ALIGNED = 32;

export const error: Extension<ErrorTarget> = {
  kind: 'target',
  name: 'ERROR',
  revisions: [0],
  dataSize: () => XT_FUNCTION_MAXNAMELEN,
  userSize: () => XT_FUNCTION_MAXNAMELEN,
  decode(data: Buffer): ErrorTarget {
    const field = data.subarray(0, XT_FUNCTION_MAXNAMELEN);
    const nul = field.indexOf(0);
    return { name: field.toString('latin1', 0, nul === -1 ? field.length : nul) };
  },
  encode(value: ErrorTarget): Buffer {
    const out = Buffer.alloc(ALIGNED);
    out.write(value.name.slice(0, XT_FUNCTION_MAXNAMELEN - 1), 0, 'latin1');
    return out;
  },
  check(): void {},
  format(value: ErrorTarget): string {
    return value.name;
  },
};
