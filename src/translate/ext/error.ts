// The ERROR target: heads every user chain (errorname = chain name) and ends the table
// (errorname "ERROR"). The kernel's error_tg_ok (xt_check_entry_offsets) demands target_size ==
// 64 and a NUL inside the 30-byte errorname; that generic check lives in validate.ts.
import { XT_FUNCTION_MAXNAMELEN } from '../abi.js';
import type { Extension } from './types.js';

export interface ErrorTarget {
  /** The chain name, or "ERROR" for the table's last entry. */
  readonly name: string;
  /** The 30 errorname bytes as given, only when bytes after the NUL are not zero (the kernel
   *  keeps and returns them; iptables never writes them). */
  readonly raw?: Buffer;
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
    const name = field.toString('latin1', 0, nul === -1 ? field.length : nul);
    const clean = nul !== -1 && field.subarray(nul).every((b) => b === 0);
    return clean ? { name } : { name, raw: Buffer.from(field) };
  },
  encode(value: ErrorTarget): Buffer {
    const out = Buffer.alloc(ALIGNED);
    if (value.raw !== undefined) value.raw.copy(out, 0, 0, XT_FUNCTION_MAXNAMELEN);
    else out.write(value.name.slice(0, XT_FUNCTION_MAXNAMELEN - 1), 0, 'latin1');
    return out;
  },
  check(): void {},
  format(value: ErrorTarget): string {
    return value.name;
  },
};
