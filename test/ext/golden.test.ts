// Each extension's decode of the kernel's own payload (rules added by the stock iptables-legacy,
// read back with GET_ENTRIES) gives the expected typed value, and encode reproduces the kernel's
// bytes exactly — including the private bytes GET_ENTRIES zeroes (limit).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EINVAL, ERANGE } from '../../src/translate/errno.js';
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
import { conntrack } from '../../src/translate/ext/conntrack.js';
import { icmp } from '../../src/translate/ext/icmp.js';
import { iprange } from '../../src/translate/ext/iprange.js';
import { length } from '../../src/translate/ext/length.js';
import { limit } from '../../src/translate/ext/limit.js';
import { LOG } from '../../src/translate/ext/LOG.js';
import { mark } from '../../src/translate/ext/mark.js';
import { multiport } from '../../src/translate/ext/multiport.js';
import { REJECT } from '../../src/translate/ext/REJECT.js';
import { tcp } from '../../src/translate/ext/tcp.js';
import { ttl } from '../../src/translate/ext/ttl.js';
import type { CheckContext, Extension } from '../../src/translate/ext/types.js';
import { udp } from '../../src/translate/ext/udp.js';
import { expectErrno } from './helpers.js';
import { KernelTable, nameOf } from './kernel.js';

interface Case {
  readonly args: readonly string[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly ext: Extension<any>;
  readonly revision: number;
  readonly value: unknown;
}

const ANY: readonly [number, number] = [0, 0xffff];
const ZERO_ADDR = { addr: 0, mask: 0 };
const NO_PORT = { lo: 0, hi: 0 };
const ip = (a: number, b: number, c: number, d: number): number =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const ports15 = (...p: number[]): number[] => [...p, ...Array<number>(15 - p.length).fill(0)];

const STR = { from: 0, to: 0xffff, algo: 'bm', flags: 0, pad: 0 };

const CASES: readonly Case[] = [
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

let kernel: KernelTable;

beforeAll(() => {
  kernel = new KernelTable();
});

afterAll(() => {
  kernel.close();
});

describe('extension payloads equal the kernel’s GET_ENTRIES bytes', () => {
  for (const c of CASES) {
    it(`${c.args.join(' ')}`, () => {
      const entry = kernel.rule(c.args);
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
        hookMask: 1 << 1,
        proto: entry.ip.proto,
        invProto: (entry.ip.invflags & 0x40) !== 0,
      };
      expect(() => c.ext.check(value, c.revision, context)).not.toThrow();
      // format() spells the value as iptables-legacy -S prints the kernel's rule.
      const shown = kernel.list('INPUT')[0] ?? '';
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
  const refused = (args: readonly string[], errnoText: string, table = 'filter'): void => {
    kernel.iptables(['-t', table, '-F']);
    const r = kernel.iptables(['-t', table, '-A', 'INPUT', ...args]);
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

  it('limit with a u32-overflowing avg*burst: ERANGE from both', () => {
    // 1/day is avg 864000000; a burst of 5 wraps the u32 product.
    refused(['-m', 'limit', '--limit', '1/day', '--limit-burst', '5'], 'out of range');
    expectErrno(() => limit.check({ avg: 864000000, burst: 5 }, 0, {} as CheckContext), ERANGE);
  });
});
