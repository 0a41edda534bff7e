// Pieces shared by the match/target files: fixed-size payload access and the generic rules
// xt_check_match / xt_check_target (net/netfilter/x_tables.c) apply before an extension's own
// checkentry — table, hook mask, then protocol, each refused with EINVAL.
import { xtAlign } from '../abi.js';
import { EINVAL, ENAMETOOLONG, XtError } from '../errno.js';
import type { CheckContext } from './types.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_DCCP = 33;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

/**
 * The payload as exactly xtAlign(size) bytes: decode never throws, so a short buffer reads as
 * zero-filled and a long one is cut (the validator has already refused both with EINVAL).
 */
export function payload(data: Buffer, size: number): Buffer {
  const aligned = xtAlign(size);
  if (data.length === aligned) return data;
  const out = Buffer.alloc(aligned);
  data.copy(out, 0, 0, Math.min(aligned, data.length));
  return out;
}

/** A zeroed payload of xtAlign(size) bytes for encode. */
export function zeroed(size: number): Buffer {
  return Buffer.alloc(xtAlign(size));
}

/** xt_check_*: `.table` set and different from the rule's table. */
export function requireTable(ctx: CheckContext, table: string, what: string): void {
  if (ctx.table !== table) {
    throw new XtError(EINVAL, `${what} is only valid in table "${table}", not "${ctx.table}"`);
  }
}

/** xt_check_*: the rule is reachable from a hook outside `.hooks`. */
export function requireHooks(ctx: CheckContext, hooks: number, what: string): void {
  if ((ctx.hookMask & ~hooks) !== 0) {
    throw new XtError(
      EINVAL,
      `${what} used from hook mask 0x${ctx.hookMask.toString(16)}, allowed 0x${hooks.toString(16)}`,
    );
  }
}

/** xt_check_match: `.proto` set and the rule's -p differs or is inverted. */
export function requireProto(ctx: CheckContext, proto: number, what: string): void {
  if (ctx.proto !== proto || ctx.invProto) {
    throw new XtError(
      EINVAL,
      `${what} needs "-p ${proto}" without "!", rule has ${ctx.invProto ? '! ' : ''}-p ${ctx.proto}`,
    );
  }
}

/**
 * A fixed char array as a string with only its trailing NULs dropped, so that encode restores
 * every byte. The kernel reads such fields up to the first NUL: see `cString`.
 */
export function rawChars(field: Buffer): string {
  let end = field.length;
  while (end > 0 && field[end - 1] === 0) end--;
  return field.toString('latin1', 0, end);
}

/** What C sees in a char array: everything before the first NUL. */
export function cString(raw: string): string {
  const nul = raw.indexOf('\0');
  return nul === -1 ? raw : raw.slice(0, nul);
}

/** Writes `raw` (latin1) into `out` at `offset`, at most `max` bytes. */
export function writeChars(out: Buffer, offset: number, raw: string, max: number): void {
  out.write(raw.slice(0, max), offset, max, 'latin1');
}

/** union nf_inet_addr as four network-order u32 words; IPv4 uses the first. */
export type InetAddr = readonly [number, number, number, number];

/** A network-order u32 (1.2.3.4 → 0x01020304) in dotted form. */
export function ipv4(addr: number): string {
  return [24, 16, 8, 0].map((s) => (addr >>> s) & 0xff).join('.');
}

/** A mask's prefix length when it is contiguous, else the dotted mask. */
export function maskSuffix(mask: number): string {
  const m = mask >>> 0;
  let len = 0;
  while (len < 32 && ((m << len) & 0x80000000) !== 0) len++;
  return len === 32 || (m << len) >>> 0 === 0 ? String(len) : ipv4(m);
}

export function inv(inverted: boolean): string {
  return inverted ? '! ' : '';
}

export function portRange(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}:${hi}`;
}

/** printf("0x%02x"). */
export function hex2(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

/** xtables_print_val_mask: ` 0x%x/0x%x`, or for a full mask the name from `names` or `0x%x`. */
export function formatValMask(
  value: number,
  mask: number,
  names?: readonly (readonly [number, string])[],
): string {
  const v = value >>> 0;
  if (mask >>> 0 !== 0xffffffff) return `0x${v.toString(16)}/0x${(mask >>> 0).toString(16)}`;
  return names?.find(([id]) => id === v)?.[1] ?? `0x${v.toString(16)}`;
}

/**
 * xtables_save_string: bare when made only of [A-Za-z0-9_-] (and not empty), else in double
 * quotes with `"`, `\` and `'` escaped by a backslash. `raw` is latin1, printed as UTF-8 bytes.
 */
export function saveString(raw: string): string {
  const text = Buffer.from(raw, 'latin1').toString('utf8');
  if (/^[A-Za-z0-9_-]+$/.test(raw)) return text;
  return `"${text.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

/**
 * Struct padding inside the user data (up to 6 bytes at `offset`): iptables writes zeros, but
 * the kernel keeps whatever it was given and GET_ENTRIES returns it, so a value carries it as
 * `pad` when it is not zero.
 */
export function readPad(b: Buffer, offset: number, length: number): { readonly pad?: number } {
  const pad = b.readUIntLE(offset, length);
  return pad === 0 ? {} : { pad };
}

export function writePad(b: Buffer, offset: number, length: number, pad: number | undefined): void {
  if (pad !== undefined) b.writeUIntLE(pad % 2 ** (8 * length), offset, length);
}

/** xt_check_proc_name over a `size`-byte name field: a name /proc can hold. */
export function checkProcName(raw: string, size: number, what: string): void {
  const name = cString(raw);
  if (name === '') throw new XtError(EINVAL, `${what}: empty name`);
  if (name.length >= size) {
    throw new XtError(ENAMETOOLONG, `${what}: name has no NUL within ${size} bytes`);
  }
  if (name === '.' || name === '..' || name.includes('/')) {
    throw new XtError(EINVAL, `${what}: name "${name}" cannot be a /proc entry`);
  }
}
