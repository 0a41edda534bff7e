// -m quota: struct xt_quota_info (linux/netfilter/xt_quota.h), revision 0, family UNSPEC.
// usersize = offsetof(master) = 16: flags, pad and the u64 quota are user data (pad included:
// the kernel keeps and returns whatever it was given), the master pointer is the kernel's and
// comes back zeroed. quota_mt_check refuses unknown flags with EINVAL.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUintBig, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { inv, payload, zeroed } from './util.js';

export const XT_QUOTA_INVERT = 0x1;
export const XT_QUOTA_MASK = 0x1;

export interface QuotaMatch {
  readonly flags: number;
  readonly pad: number;
  /** Bytes left; u64. */
  readonly quota: bigint;
}

const SIZE = 24;
const USER_SIZE = 16;

export const quota: Extension<QuotaMatch> = {
  kind: 'match',
  name: 'quota',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => USER_SIZE,
  decode(data: Buffer): QuotaMatch {
    const b = payload(data, SIZE);
    return { flags: b.readUInt32LE(0), pad: b.readUInt32LE(4), quota: b.readBigUInt64LE(8) };
  },
  encode(v: QuotaMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.flags >>> 0, 0);
    b.writeUInt32LE(v.pad >>> 0, 4);
    b.writeBigUInt64LE(v.quota, 8);
    return b;
  },
  check(v: QuotaMatch): void {
    if ((v.flags & ~XT_QUOTA_MASK) !== 0) {
      throw new XtError(EINVAL, `match "quota": unknown flags 0x${v.flags.toString(16)}`);
    }
  },
  format(v: QuotaMatch): string {
    return `${inv((v.flags & XT_QUOTA_INVERT) !== 0)}--quota ${v.quota}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "quota"', options, { quota: { names: ['quota'], invert: true } });
    if (o.quota === undefined) throw new OptionError('match "quota": --quota is required');
    const value: QuotaMatch = {
      flags: o.quota.invert ? XT_QUOTA_INVERT : 0,
      pad: 0,
      quota: parseUintBig(o.quota.args[0] ?? '', 0n, 2n ** 64n - 1n, 'match "quota": --quota'),
    };
    return { extension: quota, revision: 0, value };
  },
};
