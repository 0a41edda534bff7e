// -j LOG: struct xt_log_info (linux/netfilter/xt_LOG.h, same as ipt_log_info), revision 0 of
// xt_LOG.c, registered per family with no table or hook limits. log_tg_check refuses a level
// above 7 and a prefix whose last byte is not NUL, both EINVAL; logflags are not checked.
import { EINVAL, XtError } from '../errno.js';
import type { Extension } from './types.js';
import { cString, payload, rawChars, writeChars, zeroed } from './util.js';

export const XT_LOG_TCPSEQ = 0x01;
export const XT_LOG_TCPOPT = 0x02;
export const XT_LOG_IPOPT = 0x04;
export const XT_LOG_UID = 0x08;
export const XT_LOG_MACDECODE = 0x20;
export const XT_LOG_MASK = 0x2f;

const PREFIX_LEN = 30;
const SIZE = 32;

export interface LogTarget {
  /** Syslog level 0..7 (iptables' default is 4, warning). */
  readonly level: number;
  readonly logflags: number;
  /**
   * The 30 prefix bytes as latin1 without trailing NULs (inner bytes kept, so encode restores
   * them); 30 characters long means byte 29 is not NUL. `logPrefix` gives what the kernel prints.
   */
  readonly prefix: string;
}

export const LOG: Extension<LogTarget> = {
  kind: 'target',
  name: 'LOG',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): LogTarget {
    const b = payload(data, SIZE);
    return {
      level: b[0] ?? 0,
      logflags: b[1] ?? 0,
      prefix: rawChars(b.subarray(2, 2 + PREFIX_LEN)),
    };
  },
  encode(v: LogTarget): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.level, 0);
    b.writeUInt8(v.logflags, 1);
    writeChars(b, 2, v.prefix, PREFIX_LEN);
    return b;
  },
  check(v: LogTarget): void {
    if (v.level >= 8) throw new XtError(EINVAL, `target "LOG": level ${v.level} >= 8`);
    if (v.prefix.length >= PREFIX_LEN) {
      throw new XtError(EINVAL, 'target "LOG": prefix is not NUL-terminated');
    }
  },
  format(v: LogTarget): string {
    const parts: string[] = [];
    const p = logPrefix(v);
    if (p !== '') parts.push(`--log-prefix ${JSON.stringify(p)}`);
    if (v.level !== 4) parts.push(`--log-level ${v.level}`);
    const flags: readonly (readonly [number, string])[] = [
      [XT_LOG_TCPSEQ, '--log-tcp-sequence'],
      [XT_LOG_TCPOPT, '--log-tcp-options'],
      [XT_LOG_IPOPT, '--log-ip-options'],
      [XT_LOG_UID, '--log-uid'],
      [XT_LOG_MACDECODE, '--log-macdecode'],
    ];
    for (const [bit, opt] of flags) if ((v.logflags & bit) !== 0) parts.push(opt);
    return parts.join(' ');
  },
};

/** The prefix as the kernel prints it (up to the first NUL). */
export function logPrefix(v: LogTarget): string {
  return cString(v.prefix);
}
