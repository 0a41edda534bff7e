// -j LOG: struct xt_log_info (linux/netfilter/xt_LOG.h, same as ipt_log_info), revision 0 of
// xt_LOG.c, registered per family with no table or hook limits. log_tg_check refuses a level
// above 7 and a prefix whose last byte is not NUL, both EINVAL; logflags are not checked.
import { EINVAL, XtError } from '../errno.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { EventKind, INFO_MAX } from '../../bpf/codegen/event.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
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
  engine: {
    recordSize: INFO_MAX,
    record: (v: LogTarget) => LOG.encode(v, 0),
    evaluate: (cg: EvalContext) =>
      cg.event(EventKind.LOG, { uidIf: { offset: 1, bit: XT_LOG_UID } }),
    verdict: () => 'continue',
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
  parse(options: readonly SaveOption[]) {
    const flag = { args: 0 } as const;
    const o = readOptions('target "LOG"', options, {
      level: { names: ['log-level'] },
      prefix: { names: ['log-prefix'] },
      tcpseq: { names: ['log-tcp-sequence'], ...flag },
      tcpopt: { names: ['log-tcp-options'], ...flag },
      ipopt: { names: ['log-ip-options'], ...flag },
      uid: { names: ['log-uid'], ...flag },
      macdecode: { names: ['log-macdecode'], ...flag },
    });
    // UTF-8 bytes, silently cut to 29 as xtopt_parse_string does; an empty one is refused.
    const prefix = Buffer.from(o.prefix?.args[0] ?? '', 'utf8')
      .toString('latin1')
      .slice(0, PREFIX_LEN - 1);
    if (o.prefix !== undefined && prefix === '') {
      throw new OptionError('target "LOG": --log-prefix is empty');
    }
    const bits: readonly (readonly [SaveOption | undefined, number])[] = [
      [o.tcpseq, XT_LOG_TCPSEQ],
      [o.tcpopt, XT_LOG_TCPOPT],
      [o.ipopt, XT_LOG_IPOPT],
      [o.uid, XT_LOG_UID],
      [o.macdecode, XT_LOG_MACDECODE],
    ];
    const value: LogTarget = {
      level: o.level === undefined ? DEFAULT_LEVEL : parseLevel(o.level.args[0] ?? ''),
      logflags: bits.reduce((f, [opt, bit]) => (opt ? f | bit : f), 0),
      prefix,
    };
    return { extension: LOG, revision: 0, value };
  },
};

/** libxt_LOG's default level: warning. */
const DEFAULT_LEVEL = 4;

/** libxt_LOG's syslog names (error and panic are its deprecated spellings). */
const LEVELS: Readonly<Record<string, number>> = {
  emerg: 0,
  panic: 0,
  alert: 1,
  crit: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** A level 0-7 or its syslog name. */
function parseLevel(s: string): number {
  const named = LEVELS[s.toLowerCase()];
  if (named !== undefined) return named;
  return parseUint(s, 0, 7, 'target "LOG": --log-level');
}

/** The prefix as the kernel prints it (up to the first NUL). */
export function logPrefix(v: LogTarget): string {
  return cString(v.prefix);
}

/** A captured packet as skb_header_pointer sees it: `len` is skb->len, only `data` is readable. */
interface Skb {
  readonly data: Buffer;
  readonly len: number;
}

/** skb_header_pointer: the bytes, or undefined past the end of the packet. */
function header(skb: Skb, off: number, n: number): Buffer | undefined {
  if (off + n > skb.len || off + n > skb.data.length) return undefined;
  return skb.data.subarray(off, off + n);
}

const hex2 = (b: number): string => b.toString(16).padStart(2, '0');
const HEX2 = (b: number): string => hex2(b).toUpperCase();
const dotted = (b: Buffer, at: number): string => [...b.subarray(at, at + 4)].join('.');
const macAddr = (b: Buffer): string => [...b].map(hex2).join(':');

/** ICMP types whose body the kernel wants whole before decoding it (required_len). */
const ICMP_REQUIRED: Readonly<Record<number, number>> = {
  0: 4,
  3: 28,
  4: 28,
  5: 28,
  8: 4,
  11: 28,
  12: 28,
  13: 20,
  14: 20,
  17: 12,
  18: 12,
};

const TCP_FLAGS: readonly (readonly [number, number, string])[] = [
  [12, 0x01, 'AE'],
  [13, 0x80, 'CWR'],
  [13, 0x40, 'ECE'],
  [13, 0x20, 'URG'],
  [13, 0x10, 'ACK'],
  [13, 0x08, 'PSH'],
  [13, 0x04, 'RST'],
  [13, 0x02, 'SYN'],
  [13, 0x01, 'FIN'],
];

/** nf_log_dump_tcp_header; true when the dump must stop there. */
function tcpHeader(
  out: string[],
  skb: Skb,
  fragment: boolean,
  off: number,
  flags: number,
): boolean {
  out.push('PROTO=TCP ');
  if (fragment) return false;
  const th = header(skb, off, 20);
  if (!th) {
    out.push(`INCOMPLETE [${skb.len - off} bytes] `);
    return true;
  }
  out.push(`SPT=${th.readUInt16BE(0)} DPT=${th.readUInt16BE(2)} `);
  if (flags & XT_LOG_TCPSEQ) out.push(`SEQ=${th.readUInt32BE(4)} ACK=${th.readUInt32BE(8)} `);
  out.push(`WINDOW=${th.readUInt16BE(14)} `);
  out.push(`RES=0x${hex2(((th[12] as number) & 0x0e) << 2)} `);
  for (const [at, bit, name] of TCP_FLAGS) if ((th[at] as number) & bit) out.push(`${name} `);
  out.push(`URGP=${th.readUInt16BE(18)} `);
  const doff = ((th[12] as number) >> 4) * 4;
  if (flags & XT_LOG_TCPOPT && doff > 20) {
    const opt = header(skb, off + 20, doff - 20);
    if (!opt) {
      out.push('OPT (TRUNCATED)');
      return true;
    }
    out.push(`OPT (${[...opt].map(HEX2).join('')}) `);
  }
  return false;
}

/** nf_log_dump_udp_header */
function udpHeader(out: string[], skb: Skb, proto: number, fragment: boolean, off: number) {
  out.push(proto === 17 ? 'PROTO=UDP ' : 'PROTO=UDPLITE ');
  if (fragment) return false;
  const uh = header(skb, off, 8);
  if (!uh) {
    out.push(`INCOMPLETE [${skb.len - off} bytes] `);
    return true;
  }
  out.push(`SPT=${uh.readUInt16BE(0)} DPT=${uh.readUInt16BE(2)} LEN=${uh.readUInt16BE(4)} `);
  return false;
}

/** dump_ipv4_packet, recursing once into an ICMP error's quoted packet. */
function ipv4Packet(
  out: string[],
  skb: Skb,
  iphoff: number,
  flags: number,
  mark: number,
  owner?: { readonly uid: number; readonly gid: number },
): void {
  const ih = header(skb, iphoff, 20);
  if (!ih) {
    out.push('TRUNCATED');
    return;
  }
  const fragOff = ih.readUInt16BE(6);
  const tos = ih[1] as number;
  const ihl = ((ih[0] as number) & 0x0f) * 4;
  const proto = ih[9] as number;
  const fragment = (fragOff & 0x1fff) !== 0;
  out.push(`SRC=${dotted(ih, 12)} DST=${dotted(ih, 16)} `);
  out.push(
    `LEN=${ih.readUInt16BE(2)} TOS=0x${HEX2(tos & 0x1e)} PREC=0x${HEX2(tos & 0xe0)} TTL=${ih[8]} ID=${ih.readUInt16BE(4)} `,
  );
  if (fragOff & 0x8000) out.push('CE ');
  if (fragOff & 0x4000) out.push('DF ');
  if (fragOff & 0x2000) out.push('MF ');
  if (fragment) out.push(`FRAG:${fragOff & 0x1fff} `);
  if (flags & XT_LOG_IPOPT && ihl > 20) {
    const opt = header(skb, iphoff + 20, ihl - 20);
    if (!opt) {
      out.push('TRUNCATED');
      return;
    }
    out.push(`OPT (${[...opt].map(HEX2).join('')}) `);
  }
  const l4 = iphoff + ihl;
  switch (proto) {
    case 6:
      if (tcpHeader(out, skb, fragment, l4, flags)) return;
      break;
    case 17:
    case 136:
      if (udpHeader(out, skb, proto, fragment, l4)) return;
      break;
    case 1: {
      out.push('PROTO=ICMP ');
      if (fragment) break;
      const ich = header(skb, l4, 8);
      if (!ich) {
        out.push(`INCOMPLETE [${skb.len - l4} bytes] `);
        break;
      }
      const type = ich[0] as number;
      const code = ich[1] as number;
      out.push(`TYPE=${type} CODE=${code} `);
      const required = ICMP_REQUIRED[type];
      if (required !== undefined && skb.len - l4 < required) {
        out.push(`INCOMPLETE [${skb.len - l4} bytes] `);
        break;
      }
      switch (type) {
        case 0:
        case 8:
          out.push(`ID=${ich.readUInt16BE(4)} SEQ=${ich.readUInt16BE(6)} `);
          break;
        case 12:
          out.push(`PARAMETER=${ich[4]} `);
          break;
        case 5:
        case 3:
        case 4:
        case 11:
          if (type === 5) out.push(`GATEWAY=${dotted(ich, 4)} `);
          if (iphoff === 0) {
            out.push('[');
            ipv4Packet(out, skb, l4 + 8, flags, mark);
            out.push('] ');
          }
          if (type === 3 && code === 4) out.push(`MTU=${ich.readUInt16BE(6)} `);
          break;
      }
      break;
    }
    case 51: {
      if (fragment) break;
      out.push('PROTO=AH ');
      const ah = header(skb, l4, 12);
      if (!ah) {
        out.push(`INCOMPLETE [${skb.len - l4} bytes] `);
        break;
      }
      out.push(`SPI=0x${ah.readUInt32BE(4).toString(16)} `);
      break;
    }
    case 50: {
      out.push('PROTO=ESP ');
      if (fragment) break;
      const eh = header(skb, l4, 8);
      if (!eh) {
        out.push(`INCOMPLETE [${skb.len - l4} bytes] `);
        break;
      }
      out.push(`SPI=0x${eh.readUInt32BE(0).toString(16)} `);
      break;
    }
    default:
      out.push(`PROTO=${proto} `);
  }
  if (iphoff === 0 && flags & XT_LOG_UID && owner) out.push(`UID=${owner.uid} GID=${owner.gid} `);
  if (iphoff === 0 && mark !== 0) out.push(`MARK=0x${mark.toString(16)} `);
}

/** What the LOG target needs to know of a packet (a subset of an event record). */
export interface LoggedPacket {
  readonly in: string | undefined;
  readonly out: string | undefined;
  /** The link-layer header when there is an input device (empty when it has none). */
  readonly mac: Buffer | undefined;
  /** ARPHRD_* of the input device. */
  readonly devType: number;
  readonly mark: number;
  readonly skbLen: number;
  readonly packet: Buffer;
  /** The sending full socket's file owner (fsuid/fsgid), when there is one. */
  readonly owner?: { readonly uid: number; readonly gid: number } | undefined;
}

const ARPHRD_ETHER = 1;

/** dump_mac_header */
function macHeader(out: string[], p: LoggedPacket, flags: number): void {
  const mac = p.mac ?? Buffer.alloc(0);
  if (flags & XT_LOG_MACDECODE && p.devType === ARPHRD_ETHER) {
    if (mac.length < 14) return;
    out.push(`MACSRC=${macAddr(mac.subarray(6, 12))} MACDST=${macAddr(mac.subarray(0, 6))} `);
    out.push(`MACPROTO=${hex2(mac[12] as number)}${hex2(mac[13] as number)} `);
    return;
  }
  out.push(`MAC=${[...mac].map(hex2).join(':')} `);
}

/**
 * The line nf_log_ip_packet prints for `p` (after its KERN_SOH level), byte for byte: prefix,
 * devices, link-layer header, then the IPv4 dump with one level of ICMP error recursion.
 */
export function logLine(v: LogTarget, p: LoggedPacket): string {
  const out = [`${logPrefix(v)}IN=${p.in ?? ''} OUT=${p.out ?? ''} `];
  if (p.in !== undefined) macHeader(out, p, v.logflags);
  ipv4Packet(out, { data: p.packet, len: p.skbLen }, 0, v.logflags, p.mark, p.owner);
  return out.join('');
}
