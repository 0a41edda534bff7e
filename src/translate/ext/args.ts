// Option parsing shared by the extensions' `parse`: the number, port, address and protocol
// syntax of libxtables (xtables_strtoui, xtables_parse_port, xtables_parse_protocol, ...), and
// the per-option rules iptables applies before an extension sees a value (known name, argument
// count, `!` only where allowed, each option once).
import { IFNAMSIZ } from '../abi.js';
import type { SaveOption } from './types.js';
import type { InetAddr } from './util.js';

/** A rule the translator cannot build from its text; the save parser adds the line. */
export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/** An option the extension does not have: iptables then offers it to the -p match. */
export class UnknownOption extends OptionError {
  constructor(
    what: string,
    readonly option: SaveOption,
  ) {
    super(`${what}: unknown option "--${option.name}"`);
    this.name = 'UnknownOption';
  }
}

export interface OptionSpec {
  /** Long names without dashes; the first is the canonical one. */
  readonly names: readonly string[];
  /** Arguments the option takes (default 1). */
  readonly args?: number;
  /** Whether `!` may precede it. */
  readonly invert?: boolean;
}

/**
 * The options of one extension by canonical name, each checked against `spec`: unknown names,
 * repeats, wrong argument counts and `!` where iptables does not allow one are refused.
 */
export function readOptions<K extends string>(
  what: string,
  options: readonly SaveOption[],
  spec: Readonly<Record<K, OptionSpec>>,
): Partial<Record<K, SaveOption>> {
  const byName = new Map<string, K>();
  for (const key of Object.keys(spec) as K[]) {
    for (const n of spec[key].names) byName.set(n, key);
  }
  const out: Partial<Record<K, SaveOption>> = {};
  for (const o of options) {
    const key = byName.get(o.name);
    if (key === undefined) throw new UnknownOption(what, o);
    const s = spec[key];
    if (out[key] !== undefined) {
      throw new OptionError(`${what}: "--${o.name}" given more than once`);
    }
    const want = s.args ?? 1;
    if (o.args.length !== want) {
      throw new OptionError(
        `${what}: "--${o.name}" takes ${want} argument${want === 1 ? '' : 's'}, got ${o.args.length}`,
      );
    }
    if (o.invert && s.invert !== true) {
      throw new OptionError(`${what}: "--${o.name}" cannot be inverted with "!"`);
    }
    out[key] = o;
  }
  return out;
}

/**
 * The bits of the options given, and of those given with "!": the (match, invert) pair of
 * extensions with one bit per option.
 */
export function optionBits(pairs: readonly (readonly [SaveOption | undefined, number])[]): {
  bits: number;
  inverted: number;
} {
  let [bits, inverted] = [0, 0];
  for (const [opt, bit] of pairs) {
    if (opt === undefined) continue;
    bits |= bit;
    if (opt.invert) inverted |= bit;
  }
  return { bits, inverted };
}

/** The option's only argument (readOptions checked the count). */
export function arg(o: SaveOption, i = 0): string {
  return o.args[i] ?? '';
}

/** strtoul(s, NULL, 0) over the whole string, as xtables_strtoui: decimal, 0x hex, 0 octal. */
export function parseUint(s: string, min: number, max: number, what: string): number {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^[1-9][0-9]*$/.test(s)) v = Number(s);
  else throw new OptionError(`${what}: "${s}" is not a number`);
  if (v < min || v > max) throw new OptionError(`${what}: ${s} is out of range ${min}-${max}`);
  return v;
}

/**
 * strtoumax(s, &end, 0) as xtables_strtoui(s, &end, ...) uses it: the longest number at the start
 * of `s` (leading blanks and `+` allowed, `-` refused, 0x hex, 0 octal) and the text after it,
 * or undefined when there is no number or it lies outside [min, max].
 */
export function parseUintPrefix(
  s: string,
  min: number,
  max: number,
): { value: number; rest: string } | undefined {
  const r = parseBigUintPrefix(s, BigInt(min), BigInt(max));
  return r === undefined ? undefined : { value: Number(r.value), rest: r.rest };
}

/** parseUintPrefix for values up to 2^64 - 1. */
export function parseBigUintPrefix(
  s: string,
  min: bigint,
  max: bigint,
): { value: bigint; rest: string } | undefined {
  const m = /^\s*\+?(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))/.exec(s);
  if (m === null) return undefined;
  const [whole, hexDigits, octal, decimal] = m;
  const value =
    hexDigits !== undefined
      ? BigInt(`0x${hexDigits}`)
      : octal !== undefined
        ? BigInt(`0o${octal === '0' ? '0' : octal.slice(1)}`)
        : BigInt(decimal ?? '0');
  if (value < min || value > max) return undefined;
  return { value, rest: s.slice(whole.length) };
}

/** Well-known service names iptables users write (iptables itself asks /etc/services). */
const SERVICES: Readonly<Record<string, number>> = {
  ftp: 21,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  domain: 53,
  bootps: 67,
  bootpc: 68,
  http: 80,
  pop3: 110,
  ntp: 123,
  imap: 143,
  snmp: 161,
  ldap: 389,
  https: 443,
  submission: 587,
  imaps: 993,
  pop3s: 995,
};

/** xtables_parse_port: a number 0-65535 or a service name. */
export function parsePort(s: string, what: string): number {
  const named = SERVICES[s];
  if (named !== undefined) return named;
  try {
    return parseUint(s, 0, 0xffff, what);
  } catch {
    throw new OptionError(`${what}: invalid port/service "${s}"`);
  }
}

/**
 * `lo[:hi]` as libxt_tcp's parse_tcp_ports: an empty lo is 0, an empty hi 65535, a single port
 * is [p, p]; lo > hi is refused.
 */
export function parsePortRange(s: string, what: string): [number, number] {
  const colon = s.indexOf(':');
  if (colon === -1) {
    const p = parsePort(s, what);
    return [p, p];
  }
  const a = s.slice(0, colon);
  const b = s.slice(colon + 1);
  const lo = a === '' ? 0 : parsePort(a, what);
  const hi = b === '' ? 0xffff : parsePort(b, what);
  if (lo > hi) throw new OptionError(`${what}: invalid port range "${s}" (min > max)`);
  return [lo, hi];
}

/** A dotted quad → network-order u32 read big-endian (10.0.0.1 → 0x0a000001). */
export function parseIpv4(s: string, what: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  const parts = m?.slice(1).map(Number) ?? [];
  if (parts.length !== 4 || parts.some((p) => p > 255)) {
    throw new OptionError(`${what}: "${s}" is not an IPv4 address (host names are not resolved)`);
  }
  return parts.reduce((a, p) => a * 256 + p, 0);
}

/** A prefix length or a dotted mask → mask as u32. */
export function parseMask(s: string, what: string): number {
  if (s.includes('.')) return parseIpv4(s, what);
  const len = parseUint(s, 0, 32, `${what}: prefix length`);
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** `addr[/mask]`, mask defaulting to /32; the address is not masked. */
export function parseAddrMask(s: string, what: string): { addr: number; mask: number } {
  const slash = s.indexOf('/');
  if (slash === -1) return { addr: parseIpv4(s, what), mask: 0xffffffff };
  return { addr: parseIpv4(s.slice(0, slash), what), mask: parseMask(s.slice(slash + 1), what) };
}

/** libxtables' xtables_chain_protos plus the /etc/protocols names iptables-save prints. */
const PROTOCOLS: Readonly<Record<string, number>> = {
  all: 0,
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  dccp: 33,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  ospf: 89,
  ipcomp: 108,
  sctp: 132,
  mh: 135,
  udplite: 136,
};

/** xtables_parse_protocol: a number 0-255 or a name, case-insensitive. */
export function parseProtocol(s: string, what: string): number {
  const named = PROTOCOLS[s.toLowerCase()];
  if (named !== undefined) return named;
  if (/^[0-9]/.test(s)) return parseUint(s, 0, 255, what);
  throw new OptionError(`${what}: unknown protocol "${s}"`);
}

/**
 * xtopt_parse_plen for IPv4: a prefix length 0-32, else what getaddrinfo(AI_NUMERICHOST) makes
 * of it as an address (a dotted quad or a plain number) taken as a mask: its prefix length, or
 * 255 when it is not contiguous (xtables_ipmask_to_cidr's -1 in a u8).
 */
export function parsePrefixLength(s: string, what: string): number {
  try {
    return parseUint(s, 0, 32, what);
  } catch {
    // Not a length: getaddrinfo(AI_NUMERICHOST) reads it as an address, a plain number included.
    const n = parseBigUintPrefix(s, 0n, 0xffffffffn);
    const mask = n !== undefined && n.rest === '' ? Number(n.value) : parseIpv4(s, what);
    for (let len = 32; len >= 0; len--) {
      if ((len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0) === mask) return len;
    }
    return 0xff;
  }
}

/**
 * xtables_parse_interface: at most 15 characters; "eth+" keeps the + in the name but masks only
 * "eth", an exact name is masked with its NUL, "" masks nothing (any interface).
 */
export function parseInterface(name: string, what: string): { name: string; mask: Uint8Array } {
  if (name.length + 1 > IFNAMSIZ) {
    throw new OptionError(`${what} "${name}": interface names are shorter than ${IFNAMSIZ}`);
  }
  const mask = new Uint8Array(IFNAMSIZ);
  if (name.endsWith('+')) mask.fill(0xff, 0, name.length - 1);
  else if (name !== '') mask.fill(0xff, 0, name.length + 1);
  return { name, mask };
}

/**
 * xtopt_parse_plenmask for IPv4: the length's mask in the first word, the rest zeroed; a length
 * above 128 (a non-contiguous mask's 255) leaves all 16 bytes ones.
 */
export function prefixMask(len: number): InetAddr {
  if (len > 128) return [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
  const first = len === 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
  return [first, 0, 0, 0];
}

/** Comma list of names → OR of their bits, names case-insensitive. */
export function parseFlagList(
  s: string,
  names: readonly (readonly [number, string])[],
  what: string,
): number {
  let bits = 0;
  for (const item of s.split(',')) {
    const hit = names.find(([, n]) => n.toLowerCase() === item.toLowerCase());
    if (hit === undefined) throw new OptionError(`${what}: unknown value "${item}"`);
    bits |= hit[0];
  }
  return bits;
}

/**
 * C's strtoumax(s, &end, 0) as xtables_strtoul sees it: optional leading blanks and '+', then
 * decimal, 0x hex or 0 octal digits, as many as parse. Undefined when no digit parses or the
 * first non-blank is '-' (xtables_strtoul refuses negatives); `end` is the index after the digits.
 */
export function strtoul(s: string): { value: bigint; end: number } | undefined {
  const m = /^[ \t\n\v\f\r]*\+?(?:(0[xX])([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))/.exec(s);
  if (m === null) return undefined;
  const [whole, , hexDigits, octal, decimal] = m;
  let value: bigint;
  if (hexDigits !== undefined) value = BigInt(`0x${hexDigits}`);
  else if (octal !== undefined) value = octal.length > 1 ? BigInt(`0o${octal.slice(1)}`) : 0n;
  else value = BigInt(decimal ?? '0');
  return { value, end: whole.length };
}

/** xtables_strtoul over the whole string with bounds, as a bigint (for u64 options). */
export function parseUintBig(s: string, min: bigint, max: bigint, what: string): bigint {
  const r = strtoul(s);
  if (r === undefined || r.end !== s.length)
    throw new OptionError(`${what}: "${s}" is not a number`);
  if (r.value < min || r.value > max) {
    throw new OptionError(`${what}: ${s} is out of range ${min}-${max}`);
  }
  return r.value;
}

/**
 * XTTYPE_UINT{8,16,32,64}RC (libxtables' xtopt_parse_mint): `a`, `a:b`, `:b` or `a:`, an empty
 * first part meaning 0 and an empty second the type's maximum, at most two parts. Returns the
 * one or two values given (an extension then decides what a single value means).
 */
export function parseRangeRCBig(s: string, max: bigint, what: string): bigint[] {
  const parts = s.split(':');
  if (parts.length > 2) throw new OptionError(`${what}: too many components in "${s}"`);
  return parts.map((p, i) => (p === '' ? (i === 1 ? max : 0n) : parseUintBig(p, 0n, max, what)));
}

/** parseRangeRCBig for types up to u32. */
export function parseRangeRC(s: string, max: number, what: string): number[] {
  return parseRangeRCBig(s, BigInt(max), what).map(Number);
}

/**
 * xtables_parse_val_mask: `value[/mask]` (mask ~0 by default), numbers as xtables_strtoui; text
 * that is not such a number is looked up in `names` (iproute2's realm or group names) when the
 * extension has a name map.
 */
export function parseValMask(
  s: string,
  what: string,
  names?: readonly (readonly [number, string])[],
): { value: number; mask: number } {
  const head = strtoul(s);
  const rest = head === undefined || head.value > 0xffffffffn ? undefined : s.slice(head.end);
  if (head !== undefined && rest === '') return { value: Number(head.value), mask: 0xffffffff };
  if (head !== undefined && rest !== undefined && rest.startsWith('/')) {
    const mask = strtoul(rest.slice(1));
    if (mask === undefined || mask.value > 0xffffffffn) {
      throw new OptionError(`${what}: bad integer value "${s}"`);
    }
    if (mask.end !== rest.length - 1) throw new OptionError(`${what}: trailing garbage in "${s}"`);
    return { value: Number(head.value), mask: Number(mask.value) };
  }
  if (names === undefined) {
    throw new OptionError(
      rest === undefined
        ? `${what}: bad integer value "${s}"`
        : `${what}: trailing garbage in "${s}"`,
    );
  }
  const hit = names.find(([, n]) => n === s);
  if (hit === undefined) throw new OptionError(`${what}: could not map name "${s}" to a value`);
  return { value: hit[0], mask: 0xffffffff };
}

/**
 * C's strtoul(s, &end, base) exactly, for extensions that call it directly: leading blanks, a
 * sign ('-' negates modulo 2^64), digits in `base` (0: 0x hex, 0 octal, else decimal). With no
 * digit the value is 0 and `end` is 0.
 */
export function cStrtoul(s: string, base: 0 | 10): { value: bigint; end: number } {
  const m = /^[ \t\n\v\f\r]*([+-]?)/.exec(s);
  const signEnd = m?.[0].length ?? 0;
  const body = s.slice(signEnd);
  const digits =
    base === 10
      ? /^[0-9]+/.exec(body)
      : (/^0[xX][0-9a-fA-F]+/.exec(body) ?? /^0[0-7]*/.exec(body) ?? /^[1-9][0-9]*/.exec(body));
  if (digits === null) return { value: 0n, end: 0 };
  const d = digits[0];
  let value =
    base === 0 && /^0[xX]/.test(d)
      ? BigInt(d)
      : base === 0 && d.startsWith('0')
        ? d.length > 1
          ? BigInt(`0o${d.slice(1)}`)
          : 0n
        : BigInt(d);
  const max = 2n ** 64n - 1n;
  if (value > max) value = max;
  if (m?.[1] === '-') value = (2n ** 64n - value) % 2n ** 64n;
  return { value, end: signEnd + d.length };
}

/**
 * libxtables' xtables_getportbyname (getaddrinfo with only a service): a decimal number as
 * strtoul reads it, kept to its low 16 bits the way sin_port keeps it (70000 is 4464; no hex,
 * 010 is 10), or a service name.
 */
export function getPortByName(s: string, what: string): number {
  const r = cStrtoul(s, 10);
  if (s !== '' && r.end === s.length) return Number(r.value & 0xffffn);
  const named = SERVICES[s];
  if (named === undefined)
    throw new OptionError(`${what}: port "${s}" does not resolve to anything`);
  return named;
}

/**
 * XTTYPE_PORTRC (xtopt_parse_mport): `a`, `a:b`, `:b` or `a:` with [0, 65535] defaults for the
 * parts left empty, ports as getPortByName. No ordering check: "30:20" stays [30, 20].
 */
export function parsePortRC(s: string, what: string): [number, number] {
  const parts = s.split(':');
  if (parts.length > 2) throw new OptionError(`${what}: too many components in "${s}"`);
  const [a = '', b] = parts;
  const lo = a === '' ? 0 : getPortByName(a, what);
  if (b === undefined) return [lo, lo];
  return [lo, b === '' ? 0xffff : getPortByName(b, what)];
}
