// Each extension's decode of the kernel's own payload (rules added by the stock iptables-legacy,
// read back with GET_ENTRIES) gives the expected typed value, and encode reproduces the kernel's
// bytes exactly — including the private bytes GET_ENTRIES zeroes (limit).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EINVAL, ENAMETOOLONG, ERANGE } from '../../src/translate/errno.js';
import { addrtype } from '../../src/translate/ext/addrtype.js';
import { ah } from '../../src/translate/ext/ah.js';
import { dscp } from '../../src/translate/ext/dscp.js';
import { ecn } from '../../src/translate/ext/ecn.js';
import { esp } from '../../src/translate/ext/esp.js';
import { ipcomp } from '../../src/translate/ext/ipcomp.js';
import { tcpmss } from '../../src/translate/ext/tcpmss.js';
import { tos } from '../../src/translate/ext/tos.js';
import { quota } from '../../src/translate/ext/quota.js';
import { statistic } from '../../src/translate/ext/statistic.js';
import { time, TIME_DEFAULTS } from '../../src/translate/ext/time.js';
import { comment } from '../../src/translate/ext/comment.js';
import { u32 } from '../../src/translate/ext/u32.js';
import { string } from '../../src/translate/ext/string.js';
import { dccp } from '../../src/translate/ext/dccp.js';
import { connmark } from '../../src/translate/ext/connmark.js';
import { connbytes } from '../../src/translate/ext/connbytes.js';
import { helper } from '../../src/translate/ext/helper.js';
import { realm } from '../../src/translate/ext/realm.js';
import { devgroup } from '../../src/translate/ext/devgroup.js';
import { cpu } from '../../src/translate/ext/cpu.js';
import { connlimit } from '../../src/translate/ext/connlimit.js';
import { conntrack } from '../../src/translate/ext/conntrack.js';
import { hashlimit, type HashlimitMatch } from '../../src/translate/ext/hashlimit.js';
import { icmp } from '../../src/translate/ext/icmp.js';
import { iprange } from '../../src/translate/ext/iprange.js';
import { length } from '../../src/translate/ext/length.js';
import { limit } from '../../src/translate/ext/limit.js';
import { LOG } from '../../src/translate/ext/LOG.js';
import { mac } from '../../src/translate/ext/mac.js';
import { mark } from '../../src/translate/ext/mark.js';
import { multiport } from '../../src/translate/ext/multiport.js';
import { owner } from '../../src/translate/ext/owner.js';
import { physdev } from '../../src/translate/ext/physdev.js';
import { policy } from '../../src/translate/ext/policy.js';
import { pkttype } from '../../src/translate/ext/pkttype.js';
import { recent, type RecentMatch } from '../../src/translate/ext/recent.js';
import { REJECT } from '../../src/translate/ext/REJECT.js';
import { sctp } from '../../src/translate/ext/sctp.js';
import { tcp } from '../../src/translate/ext/tcp.js';
import { ttl } from '../../src/translate/ext/ttl.js';
import type { CheckContext, Extension } from '../../src/translate/ext/types.js';
import { udp } from '../../src/translate/ext/udp.js';
import {
  ALL_ONES,
  chunkMap,
  HASHLIMIT,
  NO_POLICY_ELEM,
  NO_SCTP_SLOT,
  RECENT,
  SCTP,
} from './fixtures.js';
import { expectErrno } from './helpers.js';
import { KernelTable, nameOf } from './kernel.js';

interface Case {
  readonly args: readonly string[];
  /** The built-in chain the rule goes to (INPUT unless given). */
  readonly chain?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly ext: Extension<any>;
  readonly revision: number;
  readonly value: unknown;
}

const ANY: readonly [number, number] = [0, 0xffff];
const HOOK_OF: Readonly<Record<string, number>> = { INPUT: 1, FORWARD: 2, OUTPUT: 3 };
const ZERO_ADDR = { addr: 0, mask: 0 };
const NO_PORT = { lo: 0, hi: 0 };
const ip = (a: number, b: number, c: number, d: number): number =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const ports15 = (...p: number[]): number[] => [...p, ...Array<number>(15 - p.length).fill(0)];

const STR = { from: 0, to: 0xffff, algo: 'bm', flags: 0, pad: 0 };

const CASES: readonly Case[] = [
  {
    args: ['-m', 'policy', '--dir', 'in', '--pol', 'none'],
    ext: policy,
    revision: 0,
    value: {
      pol: [NO_POLICY_ELEM, NO_POLICY_ELEM, NO_POLICY_ELEM, NO_POLICY_ELEM],
      flags: 5,
      len: 0,
    },
  },
  {
    args: [
      ...['-m', 'policy', '--dir', 'out', '--pol', 'ipsec', '--strict', '--reqid', '5'],
      ...['!', '--spi', '0x1234', '--proto', 'esp', '--mode', 'tunnel', '--tunnel-src', '10.0.0.1'],
      ...['!', '--tunnel-dst', '10.1.0.0/16', '--next', '!', '--proto', 'ah', '--next'],
      ...['--mode', 'transport', '--next', '!', '--mode', 'transport'],
      ...['--tunnel-src', '1.2.3.4/255.0.255.0'],
    ],
    chain: 'OUTPUT',
    ext: policy,
    revision: 0,
    value: {
      pol: [
        {
          saddr: [0x0a000001, 0, 0, 0],
          smask: ALL_ONES,
          daddr: [0x0a010000, 0, 0, 0],
          dmask: [0xffff0000, 0, 0, 0],
          spi: 0x1234,
          reqid: 5,
          proto: 50,
          mode: 1,
          match: 0x3f,
          invert: 0x12,
        },
        { ...NO_POLICY_ELEM, proto: 51, match: 0x04, invert: 0x04 },
        { ...NO_POLICY_ELEM, match: 0x08 },
        {
          ...NO_POLICY_ELEM,
          saddr: [0x01020304, 0, 0, 0],
          smask: ALL_ONES,
          match: 0x09,
          invert: 0x08,
        },
      ],
      flags: 0xa,
      len: 4,
    },
  },
  {
    args: [
      ...['-m', 'policy', '--dir', 'in', '--proto', 'ipcomp', '!', '--reqid', '0'],
      ...['--tunnel-dst', '5.5.5.5/32', '--mode', 'tunnel'],
    ],
    chain: 'FORWARD',
    ext: policy,
    revision: 0,
    value: {
      pol: [
        {
          ...NO_POLICY_ELEM,
          daddr: [0x05050505, 0, 0, 0],
          dmask: [0xffffffff, 0, 0, 0],
          proto: 108,
          mode: 1,
          match: 0x2e,
          invert: 0x20,
        },
        NO_POLICY_ELEM,
        NO_POLICY_ELEM,
        NO_POLICY_ELEM,
      ],
      flags: 1,
      len: 1,
    },
  },
  {
    args: ['-p', 'sctp', '--dport', '80', '!', '--sport', ':1023'],
    ext: sctp,
    revision: 0,
    value: { ...SCTP, dpts: [80, 80], spts: [0, 1023], flags: 3, invflags: 1 },
  },
  {
    args: [
      '-p',
      'sctp',
      '-m',
      'sctp',
      '!',
      '--chunk-types',
      'any',
      'DATA:Be-,INIT,I_DATA:I,ABORT:t',
    ],
    ext: sctp,
    revision: 0,
    value: {
      ...SCTP,
      chunkmap: chunkMap(0, 1, 6, 64),
      chunkMatchType: 1,
      flagInfo: [
        { chunktype: 0, flag: 0x02, flagMask: 0x83 },
        { chunktype: 15, flag: 0x08, flagMask: 0x08 },
        { chunktype: 6, flag: 0, flagMask: 0x01 },
        NO_SCTP_SLOT,
      ],
      flagCount: 3,
      flags: 4,
      invflags: 4,
    },
  },
  {
    args: ['-p', 'sctp', '--chunk-types', 'only', 'all', '--dport', '5:'],
    ext: sctp,
    revision: 0,
    value: {
      ...SCTP,
      dpts: [5, 65535],
      chunkmap: Array<number>(64).fill(0xffffffff),
      chunkMatchType: 4,
      flags: 6,
    },
  },
  {
    args: [
      '-p',
      'sctp',
      '--chunk-types',
      'All',
      'data:iubeIUBE,,shutdown_complete:T,Asconf,pad,re_config,i_forward_tsn,forward_tsn,asconf_ack',
    ],
    ext: sctp,
    revision: 0,
    value: {
      ...SCTP,
      chunkmap: chunkMap(0, 14, 193, 132, 130, 194, 192, 128),
      chunkMatchType: 2,
      flagInfo: [
        { chunktype: 0, flag: 0x0f, flagMask: 0x0f },
        { chunktype: 14, flag: 0x01, flagMask: 0x01 },
        NO_SCTP_SLOT,
        NO_SCTP_SLOT,
      ],
      flagCount: 2,
      flags: 4,
    },
  },
  {
    args: [
      '-m',
      'physdev',
      '--physdev-in',
      'eth+',
      '!',
      '--physdev-out',
      'veth0',
      '--physdev-is-in',
      '!',
      '--physdev-is-out',
      '--physdev-is-bridged',
    ],
    chain: 'FORWARD',
    ext: physdev,
    revision: 0,
    value: {
      physindev: 'eth+',
      inMask: [...Array<number>(3).fill(0xff), ...Array<number>(13).fill(0)],
      physoutdev: 'veth0',
      outMask: [...Array<number>(6).fill(0xff), ...Array<number>(10).fill(0)],
      invert: 0x12,
      bitmask: 0x1f,
    },
  },
  {
    args: ['-m', 'physdev', '--physdev-out', 'br0', '--physdev-is-bridged'],
    chain: 'OUTPUT',
    ext: physdev,
    revision: 0,
    value: {
      physindev: '',
      inMask: Array<number>(16).fill(0),
      physoutdev: 'br0',
      outMask: [...Array<number>(4).fill(0xff), ...Array<number>(12).fill(0)],
      invert: 0,
      bitmask: 0x06,
    },
  },
  {
    args: ['-m', 'pkttype', '--pkt-type', 'Bcast'],
    ext: pkttype,
    revision: 0,
    value: { pkttype: 1, invert: 0 },
  },
  {
    args: ['-m', 'pkttype', '!', '--pkt-type', 'otherhost'],
    ext: pkttype,
    revision: 0,
    value: { pkttype: 3, invert: 1 },
  },
  {
    args: ['-m', 'pkttype', '--pkt-type', 'host'],
    chain: 'OUTPUT',
    ext: pkttype,
    revision: 0,
    value: { pkttype: 0, invert: 0 },
  },
  {
    args: ['-p', 'tcp', '-m', 'connlimit', '--connlimit-above', '2', '--connlimit-mask', '24'],
    ext: connlimit,
    revision: 1,
    value: { mask: [0xffffff00, 0, 0, 0], limit: 2, flags: 0 },
  },
  {
    args: ['-m', 'connlimit', '--connlimit-upto', '5', '--connlimit-daddr'],
    ext: connlimit,
    revision: 1,
    value: { mask: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], limit: 5, flags: 3 },
  },
  {
    args: [
      '-m',
      'connlimit',
      '!',
      '--connlimit-above',
      '4294967295',
      '--connlimit-mask',
      '255.0.255.0',
      '--connlimit-saddr',
    ],
    ext: connlimit,
    revision: 1,
    value: { mask: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], limit: 4294967295, flags: 1 },
  },
  {
    args: ['-p', 'tcp', '--sport', '1000:2000', '--dport', '22', '--tcp-flags', 'SYN,ACK', 'SYN'],
    ext: tcp,
    revision: 0,
    value: {
      spts: [1000, 2000],
      dpts: [22, 22],
      option: 0,
      flgMask: 0x12,
      flgCmp: 0x02,
      invflags: 0,
    },
  },
  {
    args: ['-p', 'tcp', '!', '--dport', '80', '--tcp-option', '2', '!', '--syn'],
    ext: tcp,
    revision: 0,
    value: {
      spts: ANY,
      dpts: [80, 80],
      option: 2,
      flgMask: 0x17,
      flgCmp: 0x02,
      invflags: 0x0e & 0x06,
    },
  },
  {
    args: ['-p', 'udp', '--sport', '53', '!', '--dport', '1024:65535'],
    ext: udp,
    revision: 0,
    value: { spts: [53, 53], dpts: [1024, 65535], invflags: 0x02 },
  },
  {
    args: ['-p', 'icmp', '--icmp-type', 'echo-request'],
    ext: icmp,
    revision: 0,
    value: { type: 8, codeMin: 0, codeMax: 0xff, invflags: 0 },
  },
  {
    args: ['-p', 'icmp', '!', '--icmp-type', '3/4'],
    ext: icmp,
    revision: 0,
    value: { type: 3, codeMin: 4, codeMax: 4, invflags: 1 },
  },
  {
    args: ['-p', 'tcp', '-m', 'multiport', '--dports', '22,80,1000:2000'],
    ext: multiport,
    revision: 1,
    value: {
      flags: 1,
      count: 4,
      ports: ports15(22, 80, 1000, 2000),
      pflags: ports15(0, 0, 1),
      invert: 0,
    },
  },
  {
    args: ['-p', 'udp', '-m', 'multiport', '!', '--ports', '53,123'],
    ext: multiport,
    revision: 1,
    value: { flags: 2, count: 2, ports: ports15(53, 123), pflags: ports15(), invert: 1 },
  },
  {
    args: ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'],
    ext: conntrack,
    revision: 3,
    value: ct({ matchFlags: 0x1, stateMask: 0x6 }),
  },
  {
    args: [
      '-m',
      'conntrack',
      '!',
      '--ctstate',
      'INVALID',
      '--ctproto',
      'tcp',
      '--ctorigsrc',
      '10.1.0.0/16',
      '--ctorigdstport',
      '1000:2000',
      '--ctexpire',
      '5:60',
      '--ctdir',
      'REPLY',
      '--ctstatus',
      'ASSURED',
    ],
    ext: conntrack,
    revision: 3,
    value: ct({
      matchFlags: 0x1 | 0x2 | 0x4 | 0x40 | 0x80 | 0x200 | 0x1000,
      invertFlags: 0x1 | 0x1000,
      stateMask: 0x1,
      statusMask: 0x4,
      l4proto: 6,
      origsrc: { addr: ip(10, 1, 0, 0), mask: ip(255, 255, 0, 0) },
      origdstPort: { lo: 1000, hi: 2000 },
      expiresMin: 5,
      expiresMax: 60,
    }),
  },
  {
    args: ['-m', 'mark', '--mark', '0x10/0xff'],
    ext: mark,
    revision: 1,
    value: { mark: 0x10, mask: 0xff, invert: 0 },
  },
  {
    args: ['-m', 'mark', '!', '--mark', '5'],
    ext: mark,
    revision: 1,
    value: { mark: 5, mask: 0xffffffff, invert: 1 },
  },
  {
    args: ['-m', 'comment', '--comment', 'allow ssh from the jump host'],
    ext: comment,
    revision: 0,
    value: { comment: 'allow ssh from the jump host' },
  },
  {
    args: [
      '-m',
      'iprange',
      '--src-range',
      '10.0.0.1-10.0.0.9',
      '!',
      '--dst-range',
      '192.168.1.1-192.168.2.254',
    ],
    ext: iprange,
    revision: 1,
    value: {
      srcMin: ip(10, 0, 0, 1),
      srcMax: ip(10, 0, 0, 9),
      dstMin: ip(192, 168, 1, 1),
      dstMax: ip(192, 168, 2, 254),
      flags: 0x1 | 0x2 | 0x20,
    },
  },
  {
    args: ['-m', 'length', '!', '--length', '100:1500'],
    ext: length,
    revision: 0,
    value: { min: 100, max: 1500, invert: 1 },
  },
  { args: ['-m', 'ttl', '--ttl-gt', '5'], ext: ttl, revision: 0, value: { mode: 3, ttl: 5 } },
  {
    args: ['-m', 'ttl', '!', '--ttl-eq', '64'],
    ext: ttl,
    revision: 0,
    value: { mode: 1, ttl: 64 },
  },
  {
    args: ['-m', 'limit', '--limit', '5/sec', '--limit-burst', '10'],
    ext: limit,
    revision: 0,
    value: { avg: 2000, burst: 10 },
  },
  {
    args: ['-m', 'limit', '--limit', '3/hour'],
    ext: limit,
    revision: 0,
    value: { avg: 12000000, burst: 5 },
  },
  {
    args: [
      '-j',
      'LOG',
      '--log-prefix',
      'in: ',
      '--log-level',
      '6',
      '--log-tcp-sequence',
      '--log-uid',
    ],
    ext: LOG,
    revision: 0,
    value: { level: 6, logflags: 0x09, prefix: 'in: ' },
  },
  {
    args: ['-j', 'LOG'],
    ext: LOG,
    revision: 0,
    value: { level: 4, logflags: 0, prefix: '' },
  },
  {
    args: ['-j', 'REJECT', '--reject-with', 'icmp-host-prohibited'],
    ext: REJECT,
    revision: 0,
    value: { with: 6 },
  },
  {
    args: ['-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'],
    ext: REJECT,
    revision: 0,
    value: { with: 7 },
  },
  { args: ['-j', 'REJECT'], ext: REJECT, revision: 0, value: { with: 3 } },
  {
    args: ['-m', 'tos', '--tos', '0x10'],
    ext: tos,
    revision: 1,
    value: { mask: 0xff, value: 0x10, invert: 0 },
  },
  {
    args: ['-m', 'tos', '!', '--tos', 'Minimize-Cost'],
    ext: tos,
    revision: 1,
    value: { mask: 0x3f, value: 0x02, invert: 1 },
  },
  {
    args: ['-m', 'tos', '--tos', '0x08/0x0c'],
    ext: tos,
    revision: 1,
    value: { mask: 0x0c, value: 0x08, invert: 0 },
  },
  { args: ['-m', 'dscp', '--dscp', '10'], ext: dscp, revision: 0, value: { dscp: 10, invert: 0 } },
  {
    args: ['-m', 'dscp', '!', '--dscp-class', 'af41'],
    ext: dscp,
    revision: 0,
    value: { dscp: 0x22, invert: 1 },
  },
  {
    args: ['-m', 'ecn', '--ecn-ip-ect', '3'],
    ext: ecn,
    revision: 0,
    value: { operation: 1, invert: 0, ipEct: 3, tcpEct: 0 },
  },
  {
    args: [
      '-p',
      'tcp',
      '-m',
      'ecn',
      '!',
      '--ecn-tcp-ece',
      '--ecn-tcp-cwr',
      '!',
      '--ecn-ip-ect',
      '1',
    ],
    ext: ecn,
    revision: 0,
    value: { operation: 0x31, invert: 0x11, ipEct: 1, tcpEct: 0 },
  },
  {
    args: ['-p', 'tcp', '-m', 'ecn', '!', '--ecn-tcp-cwr'],
    ext: ecn,
    revision: 0,
    value: { operation: 0x20, invert: 0x20, ipEct: 0, tcpEct: 0 },
  },
  {
    args: ['-p', 'tcp', '-m', 'tcpmss', '--mss', '100:'],
    ext: tcpmss,
    revision: 0,
    value: { min: 100, max: 65535, invert: 0 },
  },
  {
    args: ['-p', 'tcp', '-m', 'tcpmss', '!', '--mss', '1460'],
    ext: tcpmss,
    revision: 0,
    value: { min: 1460, max: 1460, invert: 1 },
  },
  {
    args: ['-p', 'esp', '-m', 'esp', '--espspi', '5'],
    ext: esp,
    revision: 0,
    value: { spis: [5, 5], invflags: 0 },
  },
  {
    args: ['-p', 'esp', '-m', 'esp', '!', '--espspi', '5:0xffff'],
    ext: esp,
    revision: 0,
    value: { spis: [5, 0xffff], invflags: 1 },
  },
  {
    args: ['-p', 'ah', '-m', 'ah', '!', '--ahspi', ':9'],
    ext: ah,
    revision: 0,
    value: { spis: [0, 9], invflags: 1 },
  },
  {
    args: ['-p', 'ah', '-m', 'ah', '--ahspi', '77'],
    ext: ah,
    revision: 0,
    value: { spis: [77, 77], invflags: 0 },
  },
  {
    args: ['-p', 'ipcomp', '-m', 'ipcomp', '--compres'],
    ext: ipcomp,
    revision: 0,
    value: { spis: [0, 0], invflags: 0, hdrres: 1 },
  },
  {
    args: ['-p', 'ipcomp', '-m', 'ipcomp', '!', '--ipcompspi', '3:'],
    ext: ipcomp,
    revision: 0,
    value: { spis: [3, 0xffffffff], invflags: 1, hdrres: 0 },
  },
  {
    args: ['-m', 'statistic', '--mode', 'random', '--probability', '0.5'],
    ext: statistic,
    revision: 0,
    value: { mode: 0, flags: 0, every: 0x40000000, packet: 0, count: 0x40000000 },
  },
  {
    args: ['-m', 'statistic', '--mode', 'random', '!', '--probability', '0.000244140625'],
    ext: statistic,
    revision: 0,
    value: { mode: 0, flags: 1, every: 1 << 19, packet: 0, count: 1 << 19 },
  },
  {
    args: ['-m', 'statistic', '--mode', 'nth', '!', '--every', '3', '--packet', '1'],
    ext: statistic,
    revision: 0,
    value: { mode: 1, flags: 1, every: 2, packet: 1, count: 1 },
  },
  {
    args: ['-m', 'quota', '--quota', '1000'],
    ext: quota,
    revision: 0,
    value: { flags: 0, pad: 0, quota: 1000n },
  },
  {
    args: ['-m', 'quota', '!', '--quota', '18446744073709551615'],
    ext: quota,
    revision: 0,
    value: { flags: 1, pad: 0, quota: 2n ** 64n - 1n },
  },
  {
    args: ['-m', 'time'],
    ext: time,
    revision: 0,
    value: {
      ...TIME_DEFAULTS,
    },
  },
  {
    args: [
      '-m',
      'time',
      '--timestart',
      '8:00',
      '--timestop',
      '17:30:05',
      '--weekdays',
      'Mon,Sa',
      '!',
      '--monthdays',
      '1,,31',
    ],
    ext: time,
    revision: 0,
    value: {
      ...TIME_DEFAULTS,
      daytimeStart: 28800,
      daytimeStop: 63005,
      weekdays: 0x42,
      monthdays: 0x7ffffffd,
    },
  },
  {
    args: ['-m', 'time', '--datestart', '2020-02-30T10', '--datestop', '2038-12-31', '--kerneltz'],
    ext: time,
    revision: 0,
    value: {
      ...TIME_DEFAULTS,
      dateStart: 1583056800,
      dateStop: 2177366400,
      flags: 1,
    },
  },
  {
    args: [
      '-m',
      'time',
      '--timestart',
      '22:00',
      '--timestop',
      '1:00',
      '--contiguous',
      '!',
      '--weekdays',
      '1,9',
    ],
    ext: time,
    revision: 0,
    value: {
      ...TIME_DEFAULTS,
      daytimeStart: 79200,
      daytimeStop: 3600,
      weekdays: 0xfc,
      flags: 2,
    },
  },
  {
    args: ['-m', 'connmark', '--mark', '0x10/0xff'],
    ext: connmark,
    revision: 1,
    value: { mark: 0x10, mask: 0xff, invert: 0 },
  },
  {
    args: ['-m', 'connmark', '!', '--mark', '5'],
    ext: connmark,
    revision: 1,
    value: { mark: 5, mask: 0xffffffff, invert: 1 },
  },
  {
    args: [
      '-m',
      'connbytes',
      '--connbytes',
      '10:100',
      '--connbytes-dir',
      'both',
      '--connbytes-mode',
      'bytes',
    ],
    ext: connbytes,
    revision: 0,
    value: { from: 10n, to: 100n, what: 1, direction: 2 },
  },
  {
    args: [
      '-m',
      'connbytes',
      '!',
      '--connbytes',
      '10:',
      '--connbytes-dir',
      'reply',
      '--connbytes-mode',
      'avgpkt',
    ],
    ext: connbytes,
    revision: 0,
    value: { from: 2n ** 64n - 1n, to: 10n, what: 2, direction: 1 },
  },
  {
    args: [
      '-m',
      'connbytes',
      '--connbytes',
      ':7',
      '--connbytes-dir',
      'original',
      '--connbytes-mode',
      'packets',
    ],
    ext: connbytes,
    revision: 0,
    value: { from: 0n, to: 7n, what: 0, direction: 0 },
  },
  {
    args: ['-m', 'helper', '--helper', 'ftp'],
    ext: helper,
    revision: 0,
    value: { invert: 0, name: 'ftp' },
  },
  {
    args: ['-m', 'helper', '!', '--helper', 'a.b"c'],
    ext: helper,
    revision: 0,
    value: { invert: 1, name: 'a.b"c' },
  },
  {
    args: ['-m', 'realm', '--realm', '5/0xff'],
    ext: realm,
    revision: 0,
    value: { id: 5, mask: 0xff, invert: 0 },
  },
  {
    args: ['-m', 'realm', '!', '--realm', 'cosmos'],
    ext: realm,
    revision: 0,
    value: { id: 0, mask: 0xffffffff, invert: 1 },
  },
  {
    args: ['-m', 'devgroup', '!', '--src-group', '0x10/0xf0'],
    ext: devgroup,
    revision: 0,
    value: { flags: 3, srcGroup: 0x10, srcMask: 0xf0, dstGroup: 0, dstMask: 0 },
  },
  {
    args: ['-m', 'devgroup', '--src-group', 'default'],
    ext: devgroup,
    revision: 0,
    value: { flags: 1, srcGroup: 0, srcMask: 0xffffffff, dstGroup: 0, dstMask: 0 },
  },
  { args: ['-m', 'cpu', '!', '--cpu', '1'], ext: cpu, revision: 0, value: { cpu: 1, invert: 1 } },
  {
    args: ['-m', 'cpu', '--cpu', '4294967295'],
    ext: cpu,
    revision: 0,
    value: { cpu: 0xffffffff, invert: 0 },
  },
  {
    args: [
      '-p',
      'dccp',
      '-m',
      'dccp',
      '--dport',
      ':5',
      '!',
      '--dccp-types',
      'request,DATA,invalid',
      '--dccp-option',
      '5',
    ],
    ext: dccp,
    revision: 0,
    value: { dpts: [0, 5], spts: [0, 0], flags: 14, invflags: 4, typemask: 0xfc05, option: 5 },
  },
  {
    args: [
      '-p',
      'dccp',
      '-m',
      'dccp',
      '!',
      '--sport',
      '30:20',
      '--dport',
      '70000',
      '!',
      '--dccp-option',
      '255',
    ],
    ext: dccp,
    revision: 0,
    value: { dpts: [4464, 4464], spts: [30, 20], flags: 11, invflags: 9, typemask: 0, option: 255 },
  },
  {
    args: ['-p', 'dccp', '--dccp-types', 'ACK'],
    ext: dccp,
    revision: 0,
    value: { dpts: [0, 0], spts: [0, 0], flags: 4, invflags: 0, typemask: 8, option: 0 },
  },
  {
    args: ['-m', 'string', '--algo', 'bm', '--string', 'GET /'],
    ext: string,
    revision: 1,
    value: { ...STR, pattern: 'GET /', patlen: 5 },
  },
  {
    args: [
      '-m',
      'string',
      '--algo',
      'kmp',
      '!',
      '--string',
      'a"b\\c',
      '--from',
      '10',
      '--to',
      '100',
      '--icase',
    ],
    ext: string,
    revision: 1,
    value: {
      ...STR,
      algo: 'kmp',
      pattern: 'a"b\\c',
      patlen: 5,
      flags: 3,
      from: 10,
      to: 100,
    },
  },
  {
    args: ['-m', 'string', '--algo', 'bm', '--hex-string', 'a\\|b|0d 0a|c'],
    ext: string,
    revision: 1,
    value: { ...STR, pattern: 'a|b\r\nc', patlen: 6 },
  },
  {
    args: ['-m', 'string', '--algo', 'bm', '--string', 'ab\\'],
    ext: string,
    revision: 1,
    value: { ...STR, pattern: 'ab\\', patlen: 3 },
  },
  {
    args: ['-m', 'u32', '!', '--u32', '0>>22&0x3C@12>>26&0x3C@0=0x45,6:017&&4<<1=0'],
    ext: u32,
    revision: 0,
    value: {
      tests: [
        {
          location: [
            { number: 0, nextop: 0 },
            { number: 22, nextop: 2 },
            { number: 0x3c, nextop: 0 },
            { number: 12, nextop: 3 },
            { number: 26, nextop: 2 },
            { number: 0x3c, nextop: 0 },
            { number: 0, nextop: 3 },
          ],
          value: [
            { min: 0x45, max: 0x45 },
            { min: 6, max: 15 },
          ],
          nnums: 7,
          nvalues: 2,
        },
        {
          location: [
            { number: 4, nextop: 0 },
            { number: 1, nextop: 1 },
          ],
          value: [],
          nnums: 2,
          nvalues: 1,
        },
      ],
      ntests: 2,
      invert: 1,
    },
  },
  {
    args: [
      '-m',
      'addrtype',
      '--src-type',
      'UNSPEC,UNICAST,LOCAL,BROADCAST,ANYCAST,MULTICAST,BLACKHOLE,UNREACHABLE,PROHIBIT,THROW,NAT,XRESOLVE',
    ],
    ext: addrtype,
    revision: 1,
    value: { source: 0x0fff, dest: 0, flags: 0, invertSource: 0, invertDest: 0 },
  },
  {
    args: ['-m', 'addrtype', '!', '--src-type', 'LOCAL', '--dst-type', 'b,m', '--limit-iface-in'],
    chain: 'FORWARD',
    ext: addrtype,
    revision: 1,
    value: { source: 0x4, dest: 0x28, flags: 0x5, invertSource: 0, invertDest: 0 },
  },
  {
    args: ['-m', 'addrtype', '!', '--dst-type', 'blackhole,unreachable', '--limit-iface-out'],
    chain: 'OUTPUT',
    ext: addrtype,
    revision: 1,
    value: { source: 0, dest: 0xc0, flags: 0xa, invertSource: 0, invertDest: 0 },
  },
  {
    args: ['-m', 'recent', '--set'],
    ext: recent,
    revision: 1,
    value: { ...RECENT, checkSet: 0x2 },
  },
  {
    args: [
      '-m',
      'recent',
      '!',
      '--rcheck',
      '--seconds',
      '60',
      '--reap',
      '--hitcount',
      '65535',
      '--rttl',
      '--name',
      'ssh-brute',
      '--mask',
      '255.255.255.0',
      '--rdest',
    ],
    ext: recent,
    revision: 1,
    value: {
      ...RECENT,
      seconds: 60,
      hitCount: 65535,
      checkSet: 0x1 | 0x10 | 0x20,
      invert: 1,
      name: 'ssh-brute',
      side: 1,
      mask: [0xffffff00, 0, 0, 0],
    },
  },
  {
    args: ['-m', 'recent', '--update', '--seconds', '4294967295', '--rdest', '--rsource'],
    ext: recent,
    revision: 1,
    value: { ...RECENT, seconds: 0xffffffff, checkSet: 0x4 },
  },
  {
    args: ['-m', 'recent', '!', '--remove', '--name', 'n'.repeat(250)],
    ext: recent,
    revision: 1,
    value: { ...RECENT, checkSet: 0x8, invert: 1, name: 'n'.repeat(199) },
  },
  {
    args: ['-m', 'mac', '--mac-source', '00:1B:2c:3d:4e:5F'],
    ext: mac,
    revision: 0,
    value: { srcaddr: [0x00, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f], invert: 0 },
  },
  {
    args: ['-m', 'mac', '!', '--mac-source', '-1:+a::0:1:B'],
    chain: 'FORWARD',
    ext: mac,
    revision: 0,
    value: { srcaddr: [0xff, 0x0a, 0, 0, 1, 0x0b], invert: 1 },
  },
  {
    args: ['-m', 'owner', '--uid-owner', '1000-1999', '!', '--gid-owner', '0x10:020'],
    chain: 'OUTPUT',
    ext: owner,
    revision: 1,
    value: { uidMin: 1000, uidMax: 1999, gidMin: 16, gidMax: 16, match: 0x3, invert: 0x2 },
  },
  {
    args: ['-m', 'hashlimit', '--hashlimit-upto', '5/sec', '--hashlimit-name', 'h'],
    ext: hashlimit,
    revision: 3,
    value: HASHLIMIT,
  },
  {
    args: [
      '-m',
      'hashlimit',
      '!',
      '--hashlimit-upto',
      '10/minute',
      '--hashlimit-burst',
      '20',
      '--hashlimit-mode',
      'srcip,dstport',
      '--hashlimit-name',
      'h2',
      '--hashlimit-htable-size',
      '100',
      '--hashlimit-htable-max',
      '200',
      '--hashlimit-htable-gcinterval',
      '500',
      '--hashlimit-htable-expire',
      '7000',
      '--hashlimit-srcmask',
      '24',
      '--hashlimit-dstmask',
      '255.255.0.0',
    ],
    ext: hashlimit,
    revision: 3,
    value: {
      ...HASHLIMIT,
      name: 'h2',
      mode: 0x16,
      avg: 6000000n,
      burst: 20n,
      size: 100,
      max: 200,
      gcInterval: 500,
      expire: 7000,
      srcmask: 24,
      dstmask: 16,
    },
  },
  {
    args: [
      '-m',
      'hashlimit',
      '!',
      '--hashlimit-above',
      '2mb/s',
      '--hashlimit-burst',
      '10m',
      '--hashlimit-name',
      'h3',
      '--hashlimit-mode',
      'dstip|srcport',
    ],
    ext: hashlimit,
    revision: 3,
    value: { ...HASHLIMIT, name: 'h3', mode: 0x29, avg: 32767n, burst: 5n, expire: 60000 },
  },
  {
    args: ['-m', 'hashlimit', '--hashlimit-above', '1kb/s', '--hashlimit-name', 'h4'],
    ext: hashlimit,
    revision: 3,
    value: { ...HASHLIMIT, name: 'h4', mode: 0x30, avg: 66076419n, burst: 0n, expire: 15000 },
  },
  {
    args: [
      '-m',
      'hashlimit',
      '--hashlimit',
      '3/h',
      '--hashlimit-name',
      'h5',
      '--hashlimit-rate-match',
      '--hashlimit-htable-size',
      '2000000',
      '--hashlimit-htable-max',
      '1048577',
    ],
    ext: hashlimit,
    revision: 3,
    // checkentry clamps size and max in the copy GET_ENTRIES returns.
    value: {
      ...HASHLIMIT,
      name: 'h5',
      mode: 0x40,
      avg: 333333n,
      expire: 3600000,
      interval: 3600,
      size: 1048576,
      max: 1048576,
    },
  },
  {
    args: [
      '-m',
      'hashlimit',
      '--hashlimit-upto',
      '5kb/s',
      '--hashlimit-name',
      'h6',
      '--hashlimit-rate-match',
      '--hashlimit-burst',
      '1000k',
      '--hashlimit-rate-interval',
      '9',
    ],
    ext: hashlimit,
    revision: 3,
    value: {
      ...HASHLIMIT,
      name: 'h6',
      mode: 0x60,
      avg: 13379960n,
      burst: 200n,
      expire: 60000,
      interval: 9,
    },
  },
  {
    args: [
      '-m',
      'owner',
      '!',
      '--socket-exists',
      '!',
      '--uid-owner',
      '4294967294',
      '--gid-owner',
      '0-4294967294',
      '--suppl-groups',
    ],
    chain: 'OUTPUT',
    ext: owner,
    revision: 1,
    value: {
      uidMin: 4294967294,
      uidMax: 4294967294,
      gidMin: 0,
      gidMax: 4294967294,
      match: 0xf,
      invert: 0x5,
    },
  },
];

function ct(over: Record<string, unknown>): Record<string, unknown> {
  return {
    origsrc: ZERO_ADDR,
    origdst: ZERO_ADDR,
    replsrc: ZERO_ADDR,
    repldst: ZERO_ADDR,
    expiresMin: 0,
    expiresMax: 0,
    l4proto: 0,
    origsrcPort: NO_PORT,
    origdstPort: NO_PORT,
    replsrcPort: NO_PORT,
    repldstPort: NO_PORT,
    matchFlags: 0,
    invertFlags: 0,
    stateMask: 0,
    statusMask: 0,
    ...over,
  };
}

const INPUT_CTX: CheckContext = { table: 'filter', hookMask: 2, proto: 0, invProto: false };

let kernel: KernelTable;

beforeAll(() => {
  kernel = new KernelTable();
});

afterAll(() => {
  kernel.close();
});

describe('extension payloads equal the kernel’s GET_ENTRIES bytes', () => {
  for (const c of CASES) {
    it(`${c.chain ?? 'INPUT'} ${c.args.join(' ')}`, () => {
      const chain = c.chain ?? 'INPUT';
      const entry = kernel.rule(c.args, chain);
      const items = c.ext.kind === 'match' ? entry.matches : [entry.target];
      const found = items.filter((m) => nameOf(m.name) === c.ext.name);
      expect(found).toHaveLength(1);
      const m = found[0]!;
      expect(m.revision).toBe(c.revision);
      expect(m.data.length).toBe((c.ext.dataSize(c.revision) + 7) & ~7);
      const value: unknown = c.ext.decode(m.data, c.revision);
      expect(value).toEqual(c.value);
      expect(c.ext.encode(value, c.revision).toString('hex')).toBe(m.data.toString('hex'));
      const context: CheckContext = {
        table: 'filter',
        hookMask: 1 << (HOOK_OF[chain] ?? 1),
        proto: entry.ip.proto,
        invProto: (entry.ip.invflags & 0x40) !== 0,
      };
      expect(() => c.ext.check(value, c.revision, context)).not.toThrow();
      // format() spells the value as iptables-legacy -S prints the kernel's rule.
      const shown = kernel.list(chain)[0] ?? '';
      const text = c.ext.format(value, c.revision);
      expect(shown).toContain(
        c.ext.kind === 'match'
          ? `-m ${c.ext.name} ${text}`
          : `-j ${c.ext.name}${text === '' ? '' : ` ${text}`}`,
      );
    });
  }

  it('-m state reaches the kernel as a conntrack rev 3 alias (iptables 1.8), decoded exactly', () => {
    // iptables-legacy 1.8 sends -m state as conntrack with XT_CONNTRACK_STATE_ALIAS; the kernel's
    // own "state" rev 0 is only reached by older binaries (its layout is checked in layouts.test).
    const entry = kernel.rule(['-m', 'state', '--state', 'NEW,ESTABLISHED']);
    const m = entry.matches[0]!;
    expect(nameOf(m.name)).toBe('conntrack');
    expect(m.revision).toBe(3);
    const v = conntrack.decode(m.data, 3);
    expect(v).toEqual(ct({ matchFlags: 0x1 | 0x2000, stateMask: 0x8 | 0x2 }));
    expect(conntrack.encode(v, 3).equals(m.data)).toBe(true);
    expect(conntrack.format(v, 3)).toBe('--ctstate NEW,ESTABLISHED');
  });
});

describe('refusals agree with the kernel’s errno', () => {
  const refused = (
    args: readonly string[],
    errnoText: string,
    table = 'filter',
    chain = 'INPUT',
  ): void => {
    kernel.iptables(['-t', table, '-F']);
    const r = kernel.iptables(['-t', table, '-A', chain, ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(errnoText);
  };

  it('REJECT tcp-reset on a udp rule: EINVAL from both', () => {
    refused(['-p', 'udp', '-j', 'REJECT', '--reject-with', 'tcp-reset'], 'Invalid argument');
    expectErrno(
      () =>
        REJECT.check({ with: 7 }, 0, { table: 'filter', hookMask: 2, proto: 17, invProto: false }),
      EINVAL,
    );
  });

  it('REJECT outside the filter table: EINVAL from both', () => {
    refused(['-j', 'REJECT'], 'Invalid argument', 'mangle');
    expectErrno(
      () =>
        REJECT.check({ with: 3 }, 0, { table: 'mangle', hookMask: 2, proto: 0, invProto: false }),
      EINVAL,
    );
  });

  it('limit: accept/ERANGE agrees with the kernel over rates x bursts (u32 wrap-around included)', () => {
    const units: Readonly<Record<string, number>> = { sec: 1, min: 60, hour: 3600, day: 86400 };
    const rates = ['1/day', '2/day', '1/hour', '7/hour', '1/min', '13/min', '1/sec', '400/sec'];
    const bursts = [0, 1, 2, 4, 5, 100, 10000];
    let refusedCount = 0;
    for (const rate of rates) {
      const [n, unit] = rate.split('/') as [string, string];
      const avg = Math.floor((10000 * (units[unit] ?? 0)) / Number(n));
      for (const burst of bursts) {
        kernel.iptables(['-F']);
        const r = kernel.iptables([
          '-A',
          'INPUT',
          '-m',
          'limit',
          '--limit',
          rate,
          '--limit-burst',
          String(burst),
        ]);
        let ours = 0;
        try {
          limit.check({ avg, burst }, 0, {} as CheckContext);
        } catch (e) {
          ours = (e as { errno: number }).errno;
        }
        const kernelSays = r.status === 0 ? 0 : r.stderr.includes('out of range') ? ERANGE : -1;
        expect({ rate, burst, errno: ours }).toEqual({ rate, burst, errno: kernelSays });
        if (kernelSays !== 0) refusedCount++;
        else
          expect(limit.decode(kernel.entries('filter')[0]!.entry.matches[0]!.data, 0)).toEqual({
            avg,
            burst,
          });
      }
    }
    // Both outcomes occur, so the comparison is not vacuous.
    expect(refusedCount).toBeGreaterThan(rates.length);
    expect(refusedCount).toBeLessThan(rates.length * bursts.length);
  });

  it('realm and devgroup hook rules: accept/EINVAL agree with the kernel per chain', () => {
    const HOOK: Readonly<Record<string, number>> = {
      PREROUTING: 0,
      FORWARD: 2,
      OUTPUT: 3,
      POSTROUTING: 4,
    };
    const realm1 = { id: 1, mask: 0xffffffff, invert: 0 };
    const group = (flags: number) => ({
      flags,
      srcGroup: 1,
      srcMask: ~0 >>> 0,
      dstGroup: 2,
      dstMask: ~0 >>> 0,
    });
    const cases: readonly (readonly [string, string, Extension<unknown>, unknown])[] = [
      ['PREROUTING', '-m realm --realm 1', realm, realm1],
      ['POSTROUTING', '-m realm --realm 1', realm, realm1],
      ['POSTROUTING', '-m devgroup --src-group 1', devgroup, group(1)],
      ['PREROUTING', '-m devgroup --src-group 1', devgroup, group(1)],
      ['PREROUTING', '-m devgroup --dst-group 2', devgroup, group(4)],
      ['OUTPUT', '-m devgroup --dst-group 2', devgroup, group(4)],
      ['FORWARD', '-m devgroup --src-group 1 --dst-group 2', devgroup, group(5)],
    ];
    let refusedCount = 0;
    for (const [chain, args, ext, value] of cases) {
      kernel.iptables(['-t', 'mangle', '-F']);
      const r = kernel.iptables(['-t', 'mangle', '-A', chain, ...args.split(' ')]);
      const kernelSays = r.status === 0 ? 0 : r.stderr.includes('Invalid argument') ? EINVAL : -1;
      let ours = 0;
      try {
        ext.check(value, 0, {
          table: 'mangle',
          hookMask: 1 << (HOOK[chain] ?? 0),
          proto: 0,
          invProto: false,
        });
      } catch (e) {
        ours = (e as { errno: number }).errno;
      }
      expect({ chain, args, errno: ours }).toEqual({ chain, args, errno: kernelSays });
      if (kernelSays !== 0) refusedCount++;
    }
    kernel.iptables(['-t', 'mangle', '-F']);
    expect(refusedCount).toBe(3);
  });

  it('recent: what the kernel refuses, check refuses with EINVAL', () => {
    const cases: readonly (readonly [string[], Partial<RecentMatch>])[] = [
      [['--update', '--hitcount', '65536'], { checkSet: 0x4, hitCount: 65536 }],
      [['--set', '--seconds', '5'], { checkSet: 0x2, seconds: 5 }],
      [['--remove', '--reap', '--seconds', '5'], { checkSet: 0x28, seconds: 5 }],
      [['--rcheck', '--name', '..'], { checkSet: 0x1, name: '..' }],
      [['--rcheck', '--name', 'a/b'], { checkSet: 0x1, name: 'a/b' }],
      [['--rcheck', '--name', ''], { checkSet: 0x1, name: '' }],
    ];
    for (const [args, over] of cases) {
      refused(['-m', 'recent', ...args], 'Invalid argument');
      expectErrno(() => recent.check({ ...RECENT, ...over }, 1, {} as CheckContext), EINVAL);
    }
  });

  it('mac in OUTPUT: EINVAL from both (.hooks)', () => {
    refused(['-m', 'mac', '--mac-source', '0:1:2:3:4:5'], 'Invalid argument', 'filter', 'OUTPUT');
    expectErrno(
      () => mac.check({ srcaddr: [0, 1, 2, 3, 4, 5], invert: 0 }, 0, { ...INPUT_CTX, hookMask: 8 }),
      EINVAL,
    );
  });

  it('owner: outside OUTPUT/POSTROUTING or with a reversed range, EINVAL from both', () => {
    const none = { uidMin: 0, uidMax: 0, gidMin: 0, gidMax: 0, match: 0, invert: 0 };
    refused(['-m', 'owner', '--socket-exists'], 'Invalid argument', 'filter', 'INPUT');
    expectErrno(() => owner.check({ ...none, match: 4 }, 1, INPUT_CTX), EINVAL);
    refused(['-m', 'owner', '--uid-owner', '9-3'], 'Invalid argument', 'filter', 'OUTPUT');
    const out = { ...INPUT_CTX, hookMask: 1 << 3 };
    expectErrno(() => owner.check({ ...none, match: 1, uidMin: 9, uidMax: 3 }, 1, out), EINVAL);
  });

  it('hashlimit: what the kernel refuses, check refuses with the same errno', () => {
    const n = ['--hashlimit-name', 'r'];
    const cases: readonly (readonly [string[], Partial<HashlimitMatch>, number, string])[] = [
      [['--hashlimit-htable-gcinterval', '0'], { gcInterval: 0 }, EINVAL, 'Invalid argument'],
      [['--hashlimit-htable-expire', '0'], { expire: 0 }, EINVAL, 'Invalid argument'],
      [['--hashlimit-srcmask', '33'], { srcmask: 0xff }, EINVAL, 'Invalid argument'],
      [
        ['--hashlimit-upto', '1/day', '--hashlimit-burst', '100'],
        { avg: 86400000000n, burst: 100n, expire: 86400000 },
        ERANGE,
        'out of range',
      ],
    ];
    for (const [args, over, errno, text] of cases) {
      const rate = args.includes('--hashlimit-upto') ? [] : ['--hashlimit-upto', '5/s'];
      refused(['-m', 'hashlimit', ...rate, ...n, ...args], text);
      expectErrno(() => hashlimit.check({ ...HASHLIMIT, ...over }, 3, INPUT_CTX), errno);
    }
    refused(
      ['-m', 'hashlimit', '--hashlimit-upto', '5/s', '--hashlimit-name', 'a/b'],
      'Invalid argument',
    );
  });

  it('physdev --physdev-out in OUTPUT without --physdev-is-bridged: EINVAL from both', () => {
    refused(['-m', 'physdev', '--physdev-out', 'br0'], 'Invalid argument', 'filter', 'OUTPUT');
    const v = physdev.decode(Buffer.alloc(72), 0);
    expectErrno(
      () => physdev.check({ ...v, bitmask: 2 }, 0, { ...INPUT_CTX, hookMask: 8 }),
      EINVAL,
    );
  });

  it('policy --dir out in INPUT, --dir in in OUTPUT: EINVAL from both', () => {
    const v = policy.decode(Buffer.alloc(312), 0);
    refused(['-m', 'policy', '--dir', 'out'], 'Invalid argument', 'filter', 'INPUT');
    expectErrno(() => policy.check({ ...v, flags: 2, len: 1 }, 0, INPUT_CTX), EINVAL);
    refused(['-m', 'policy', '--dir', 'in'], 'Invalid argument', 'filter', 'OUTPUT');
    expectErrno(
      () => policy.check({ ...v, flags: 1, len: 1 }, 0, { ...INPUT_CTX, hookMask: 8 }),
      EINVAL,
    );
  });

  it('recent: a list name without a NUL in its 200 bytes is ENAMETOOLONG from both', () => {
    const entry = kernel.rule(['-m', 'recent', '--rcheck']);
    const { info, blob } = kernel.snapshot('filter');
    const v = { ...recent.decode(entry.matches[0]!.data, 1), name: 'z'.repeat(200) };
    const b = Buffer.from(blob);
    recent.encode(v, 1).copy(b, 112 + 32);
    expect(kernel.replace(info, b)).toBe(ENAMETOOLONG);
    expectErrno(() => recent.check(v, 1, {} as CheckContext), ENAMETOOLONG);
    recent.encode({ ...v, name: 'z'.repeat(199) }, 1).copy(b, 112 + 32);
    expect(kernel.replace(info, b)).toBe(0);
  });

  it('limit with a u32-overflowing avg*burst: ERANGE from both', () => {
    // 1/day is avg 864000000; a burst of 5 wraps the u32 product.
    refused(['-m', 'limit', '--limit', '1/day', '--limit-burst', '5'], 'out of range');
    expectErrno(() => limit.check({ avg: 864000000, burst: 5 }, 0, {} as CheckContext), ERANGE);
  });
});
