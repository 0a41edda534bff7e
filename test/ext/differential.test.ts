// Every extension's check against the kernel's: a real rule's blob (from iptables-legacy) gets a
// few payload bytes and possibly its -p / ! -p changed, is handed to the kernel's SET_REPLACE,
// and the errno (0 = accepted) must equal what our decode + check says for the same bytes.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xtAlign } from '../../src/translate/abi.js';
import { XtError } from '../../src/translate/errno.js';
import { ah } from '../../src/translate/ext/ah.js';
import { dscp } from '../../src/translate/ext/dscp.js';
import { ecn } from '../../src/translate/ext/ecn.js';
import { esp } from '../../src/translate/ext/esp.js';
import { ipcomp } from '../../src/translate/ext/ipcomp.js';
import { tcpmss } from '../../src/translate/ext/tcpmss.js';
import { tos } from '../../src/translate/ext/tos.js';
import { quota } from '../../src/translate/ext/quota.js';
import { statistic } from '../../src/translate/ext/statistic.js';
import { time } from '../../src/translate/ext/time.js';
import { addrtype } from '../../src/translate/ext/addrtype.js';
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
import { hashlimit } from '../../src/translate/ext/hashlimit.js';
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
import { recent } from '../../src/translate/ext/recent.js';
import { REJECT } from '../../src/translate/ext/REJECT.js';
import { sctp } from '../../src/translate/ext/sctp.js';
import { tcp } from '../../src/translate/ext/tcp.js';
import { ttl } from '../../src/translate/ext/ttl.js';
import type { Extension } from '../../src/translate/ext/types.js';
import { udp } from '../../src/translate/ext/udp.js';
import { KernelTable, nameOf } from './kernel.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyExt = Extension<any>;

const small = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max });
const ports15 = fc.array(small(6), { minLength: 15, maxLength: 15 });
const spiValues = fc.record({
  spis: fc.tuple(small(9), fc.constantFrom(0, 9, 0xffffffff)),
  invflags: fc.constantFrom(0, 1, 2, 0x80),
});
const flags15 = fc.array(fc.constantFrom(0, 0, 1), { minLength: 15, maxLength: 15 });

/**
 * Typed values near each check's edges, encoded whole into the payload (besides random byte
 * pokes, which rarely line several fields up).
 */
const VALUES = new Map<AnyExt, fc.Arbitrary<unknown>>([
  [
    multiport,
    fc.record({
      flags: small(3),
      count: small(16),
      ports: ports15,
      pflags: flags15,
      invert: small(1),
    }),
  ],
  [
    LOG,
    fc.record({ level: small(9), logflags: small(0x3f), prefix: fc.string({ maxLength: 30 }) }),
  ],
  [REJECT, fc.record({ with: small(10) })],
  [limit, fc.record({ avg: fc.constantFrom(1, 2000, 864000000, 0xffffffff), burst: small(20) })],
  [
    tcp,
    fc.record({
      spts: fc.tuple(small(9), small(9)),
      dpts: fc.tuple(small(9), small(9)),
      option: small(3),
      flgMask: small(63),
      flgCmp: small(63),
      invflags: small(0x1f),
    }),
  ],
  [
    udp,
    fc.record({
      spts: fc.tuple(small(9), small(9)),
      dpts: fc.tuple(small(9), small(9)),
      invflags: small(7),
    }),
  ],
  [icmp, fc.record({ type: small(255), codeMin: small(3), codeMax: small(3), invflags: small(3) })],
  [tos, fc.record({ mask: small(255), value: small(255), invert: small(2) })],
  [dscp, fc.record({ dscp: fc.integer({ min: 0x3e, max: 0x41 }), invert: small(2) })],
  [
    ecn,
    fc.record({
      operation: fc.constantFrom(0, 1, 0x10, 0x20, 0x31, 0x02, 0x40, 0x80),
      invert: fc.constantFrom(0, 1, 0x30, 0x04, 0x08),
      ipEct: small(4),
      tcpEct: small(3),
    }),
  ],
  [tcpmss, fc.record({ min: small(9), max: small(9), invert: small(2) })],
  ...[esp, ah].map((e) => [e, spiValues] as const),
  [ipcomp, spiValues.map((v) => ({ ...v, hdrres: 1 }))],
  [
    statistic,
    fc.record({
      mode: small(3),
      flags: small(3),
      every: small(9),
      packet: small(9),
      count: small(9),
    }),
  ],
  [quota, fc.record({ flags: small(3), pad: small(3), quota: fc.bigInt({ min: 0n, max: 9n }) })],
  [
    time,
    fc.record({
      dateStart: small(9),
      dateStop: small(9),
      daytimeStart: fc.constantFrom(0, 5, 86399, 86400, 0xffffffff),
      daytimeStop: fc.constantFrom(0, 5, 86399, 86400),
      monthdays: small(9),
      weekdays: small(9),
      flags: small(5),
    }),
  ],
  [connmark, fc.record({ mark: small(9), mask: small(9), invert: small(3) })],
  [
    connbytes,
    fc.record({
      from: fc.bigInt({ min: 0n, max: 9n }),
      to: fc.bigInt({ min: 0n, max: 9n }),
      what: small(4),
      direction: small(4),
    }),
  ],
  [helper, fc.record({ invert: small(3), name: fc.constantFrom('', 'ftp', 'x'.repeat(29)) })],
  [realm, fc.record({ id: small(9), mask: small(9), invert: small(3) })],
  [
    devgroup,
    fc.record({
      flags: small(0x1f),
      srcGroup: small(3),
      srcMask: small(3),
      dstGroup: small(3),
      dstMask: small(3),
    }),
  ],
  [cpu, fc.record({ cpu: small(9), invert: small(3) })],
  [
    dccp,
    fc.record({
      dpts: fc.tuple(small(9), small(9)),
      spts: fc.tuple(small(9), small(9)),
      flags: small(0x1f),
      invflags: small(0x1f),
      typemask: small(9),
      option: small(3),
    }),
  ],
  [
    string,
    fc.record({
      from: small(3),
      to: small(3),
      algo: fc.constantFrom('bm', 'kmp', 'fsm', 'BM', '', 'x'.repeat(16)),
      pattern: fc.constantFrom('', 'abc', '\x00\x00\x00A', '\x00\x00\x04A\x01'),
      patlen: fc.constantFrom(0, 1, 3, 4, 8, 128, 129),
      flags: small(4),
      pad: small(1),
    }),
  ],
  [
    u32,
    fc.record({
      tests: fc.array(
        fc.record({
          location: fc.constant([{ number: 1, nextop: 5 }]),
          value: fc.constant([{ min: 2, max: 1 }]),
          nnums: fc.constantFrom(0, 1, 11, 12, 255),
          nvalues: fc.constantFrom(0, 1, 11, 12),
        }),
        { maxLength: 12 },
      ),
      ntests: fc.constantFrom(0, 1, 2, 10, 11, 12, 255),
      invert: small(2),
    }),
  ],
  [
    addrtype,
    fc.record({
      source: small(0xffff),
      dest: small(0xffff),
      flags: small(15),
      invertSource: fc.constant(0),
      invertDest: fc.constant(0),
    }),
  ],
  [
    policy,
    fc.record({
      pol: fc.constant(policy.decode(Buffer.alloc(312), 0).pol),
      flags: small(15),
      len: fc.constantFrom(0, 1, 4, 5, 0xffff),
    }),
  ],
  [
    sctp,
    fc.record({
      dpts: fc.tuple(small(9), small(9)),
      spts: fc.tuple(small(9), small(9)),
      chunkmap: fc.constant(Array<number>(64).fill(0)),
      chunkMatchType: fc.constantFrom(0, 1, 2, 4, 8, 0xffffffff),
      flagInfo: fc.constant(Array(4).fill({ chunktype: 0xff, flag: 0, flagMask: 0 })),
      flagCount: fc.constantFrom(0, 4, 5, -1),
      flags: small(15),
      invflags: small(15),
    }),
  ],
  [
    physdev,
    fc.record({
      physindev: fc.constantFrom('', 'eth0'),
      inMask: fc.constant(Array<number>(16).fill(0)),
      physoutdev: fc.constantFrom('', 'br+'),
      outMask: fc.constant(Array<number>(16).fill(0)),
      invert: small(0x3f),
      bitmask: small(0x3f),
    }),
  ],
  [
    hashlimit,
    fc.record({
      name: fc.constantFrom('d', 'd', '', '..', 'a/b', 'n'.repeat(254), 'n'.repeat(255)),
      mode: fc.constantFrom(0, 0x10, 0x20, 0x40, 0x60, 0x80, 0x7f),
      avg: fc.constantFrom(0n, 1n, 2n, 200000n, 86400000000n, 0xffffffffn, 1n << 32n, 1n << 63n),
      burst: fc.constantFrom(0n, 1n, 5n, 100n, 1000000n, 1n << 32n),
      size: fc.constantFrom(0, 1048577),
      max: fc.constantFrom(0, 1048576),
      gcInterval: fc.constantFrom(0, 1000, 1000),
      expire: fc.constantFrom(0, 1000, 1000),
      interval: fc.constantFrom(0, 1),
      srcmask: fc.constantFrom(0, 32, 32, 33),
      dstmask: fc.constantFrom(0, 32, 32, 255),
    }),
  ],
  [
    owner,
    fc.record({
      uidMin: fc.constantFrom(0, 1, 5, 0xfffffffe, 0xffffffff),
      uidMax: fc.constantFrom(0, 1, 5, 0xfffffffe, 0xffffffff),
      gidMin: fc.constantFrom(0, 1, 5, 0xfffffffe, 0xffffffff),
      gidMax: fc.constantFrom(0, 1, 5, 0xfffffffe, 0xffffffff),
      match: small(0x1f),
      invert: small(0x1f),
    }),
  ],
  [
    recent,
    fc.record({
      seconds: fc.constantFrom(0, 0, 1, 0xffffffff),
      hitCount: fc.constantFrom(0, 0, 1, 65535, 65536, 0xffffffff),
      checkSet: small(0x7f),
      invert: small(2),
      name: fc.constantFrom(
        'DEFAULT',
        '',
        '.',
        '..',
        '...',
        'a/b',
        'x'.repeat(199),
        'y'.repeat(200),
      ),
      side: small(2),
      mask: fc.tuple(fc.constant(0xffffff00), fc.constant(0), fc.constant(0), fc.constant(0)),
    }),
  ],
]);

/** Each rule goes to INPUT unless a third element names another built-in chain. */
const RULES: readonly (readonly [AnyExt, readonly string[], string?])[] = [
  [tcp, ['-p', 'tcp', '--dport', '22']],
  [udp, ['-p', 'udp', '--dport', '53']],
  [icmp, ['-p', 'icmp', '--icmp-type', '8']],
  [multiport, ['-p', 'tcp', '-m', 'multiport', '--dports', '22,80,1000:2000']],
  [conntrack, ['-m', 'conntrack', '--ctstate', 'NEW']],
  [mark, ['-m', 'mark', '--mark', '1']],
  [comment, ['-m', 'comment', '--comment', 'x']],
  [iprange, ['-m', 'iprange', '--src-range', '1.2.3.4-1.2.3.9']],
  [length, ['-m', 'length', '--length', '10:20']],
  [ttl, ['-m', 'ttl', '--ttl-eq', '1']],
  [limit, ['-m', 'limit', '--limit', '5/sec']],
  [LOG, ['-j', 'LOG', '--log-prefix', 'p']],
  [REJECT, ['-p', 'tcp', '-j', 'REJECT']],
  [tos, ['-m', 'tos', '--tos', '0x10']],
  [dscp, ['-m', 'dscp', '--dscp', '1']],
  [ecn, ['-p', 'tcp', '-m', 'ecn', '--ecn-tcp-ece']],
  [tcpmss, ['-p', 'tcp', '-m', 'tcpmss', '--mss', '1:2']],
  [esp, ['-p', 'esp', '-m', 'esp', '--espspi', '1']],
  [ah, ['-p', 'ah', '-m', 'ah', '--ahspi', '1']],
  [ipcomp, ['-p', 'ipcomp', '-m', 'ipcomp', '--ipcompspi', '1']],
  [statistic, ['-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0']],
  [quota, ['-m', 'quota', '--quota', '5']],
  [time, ['-m', 'time', '--timestart', '1:00', '--timestop', '2:00']],
  [connmark, ['-m', 'connmark', '--mark', '1']],
  [
    connbytes,
    [
      '-m',
      'connbytes',
      '--connbytes',
      '1:2',
      '--connbytes-dir',
      'both',
      '--connbytes-mode',
      'bytes',
    ],
  ],
  [helper, ['-m', 'helper', '--helper', 'ftp']],
  [realm, ['-m', 'realm', '--realm', '1']],
  [devgroup, ['-m', 'devgroup', '--src-group', '1']],
  [cpu, ['-m', 'cpu', '--cpu', '1']],
  [dccp, ['-p', 'dccp', '-m', 'dccp', '--dport', '1']],
  [string, ['-m', 'string', '--algo', 'bm', '--string', 'x']],
  [u32, ['-m', 'u32', '--u32', '0=0']],
  [addrtype, ['-m', 'addrtype', '--src-type', 'LOCAL']],
  [addrtype, ['-m', 'addrtype', '--src-type', 'LOCAL', '--limit-iface-in'], 'FORWARD'],
  [addrtype, ['-m', 'addrtype', '--dst-type', 'LOCAL'], 'OUTPUT'],
  [recent, ['-m', 'recent', '--rcheck', '--seconds', '5', '--reap']],
  [mac, ['-m', 'mac', '--mac-source', '0:1:2:3:4:5'], 'FORWARD'],
  [owner, ['-m', 'owner', '--uid-owner', '0-10'], 'OUTPUT'],
  [hashlimit, ['-m', 'hashlimit', '--hashlimit-upto', '5/s', '--hashlimit-name', 'd']],
  [connlimit, ['-m', 'connlimit', '--connlimit-above', '2']],
  [pkttype, ['-m', 'pkttype', '--pkt-type', 'multicast']],
  [physdev, ['-m', 'physdev', '--physdev-in', 'eth0']],
  [policy, ['-m', 'policy', '--dir', 'in', '--pol', 'none']],
  [policy, ['-m', 'policy', '--dir', 'out', '--proto', 'esp'], 'OUTPUT'],
  [policy, ['-m', 'policy', '--dir', 'in', '--reqid', '1'], 'FORWARD'],
  [sctp, ['-p', 'sctp', '--chunk-types', 'any', 'INIT']],
  [physdev, ['-m', 'physdev', '--physdev-is-out', '--physdev-is-bridged'], 'OUTPUT'],
];

/**
 * Extensions whose decode keeps every user-visible byte (struct padding included), so that an
 * accepted payload must come back from GET_ENTRIES as encode(decode(payload)).
 */
const EXACT: ReadonlySet<AnyExt> = new Set([
  tos,
  dscp,
  ecn,
  tcpmss,
  esp,
  ah,
  ipcomp,
  statistic,
  quota,
  time,
  connmark,
  connbytes,
  helper,
  realm,
  devgroup,
  cpu,
  dccp,
  string,
  u32,
]);

/**
 * Extensions whose kernel state outlives a replace and can refuse a later one (a hashlimit table
 * keeps its rate-match setting): each case starts from an empty table, so only the blob decides.
 */
const FRESH: ReadonlySet<AnyExt> = new Set([hashlimit]);

/** ipt_entry.ip.proto (u16) and ip.invflags (u8) offsets; IPT_INV_PROTO. */
const IP_PROTO = 80;
const IP_INVFLAGS = 83;
const INV_PROTO = 0x40;
const RUNS = 60;

let kernel: KernelTable;
const total = { runs: 0, refused: 0, disagreements: 0 };

beforeAll(() => {
  kernel = new KernelTable();
});

afterAll(() => {
  kernel.close();
  console.log(
    `extension check differential: ${total.runs} cases, ${total.refused} refused by the kernel, ${total.disagreements} disagreements`,
  );
});

const HOOK_OF: Readonly<Record<string, number>> = { INPUT: 1, FORWARD: 2, OUTPUT: 3 };

function oursErrno(
  ext: AnyExt,
  data: Buffer,
  revision: number,
  proto: number,
  inv: boolean,
  chain: string,
): number {
  try {
    ext.check(ext.decode(data, revision), revision, {
      table: 'filter',
      hookMask: 1 << (HOOK_OF[chain] ?? 1),
      proto,
      invProto: inv,
    });
    return 0;
  } catch (e) {
    if (e instanceof XtError) return e.errno;
    throw e;
  }
}

describe(`check() agrees with the kernel's SET_REPLACE errno (${RUNS} mutations per extension)`, () => {
  for (const [ext, args, chain = 'INPUT'] of RULES) {
    it(`${ext.kind} ${ext.name}: ${chain} ${args.join(' ')}`, () => {
      const entry = kernel.rule(args, chain);
      const { info, blob } = kernel.snapshot('filter');
      const pos = kernel.ruleOffset(chain);
      const protoAt = pos + IP_PROTO;
      const invAt = pos + IP_INVFLAGS;
      // Payload position of our extension inside the rule's entry.
      let at = pos + entry.targetOffset;
      let revision = entry.target.revision;
      if (ext.kind === 'match') {
        at = pos + 112;
        for (const m of entry.matches) {
          if (nameOf(m.name) === ext.name) {
            revision = m.revision;
            break;
          }
          at += m.size;
        }
      }
      const start = at + 32;
      const size = ext.dataSize(revision);
      const seen = new Map<number, number>();
      fc.assert(
        fc.property(
          fc.array(
            fc.tuple(
              fc.integer({ min: 0, max: size - 1 }),
              fc.oneof(
                fc.constant(0),
                fc.integer({ min: 0, max: 16 }),
                fc.integer({ min: 0, max: 255 }),
              ),
            ),
            { minLength: 0, maxLength: 3 },
          ),
          fc.option(VALUES.get(ext) ?? fc.constant(undefined), { freq: 2 }),
          fc.option(fc.constantFrom(0, 1, 6, 17, 33, 50, 51, 108, 132, 136), { freq: 3 }),
          fc.boolean(),
          (pokes, whole, proto, flipInv) => {
            const b = Buffer.from(blob);
            if (whole !== null && whole !== undefined) ext.encode(whole, revision).copy(b, start);
            for (const [i, val] of pokes) b[start + i] = val;
            if (proto !== null) b.writeUInt16LE(proto, protoAt);
            if (flipInv && (proto !== null || pokes.length === 0))
              b[invAt] = (b[invAt] ?? 0) ^ INV_PROTO;
            if (FRESH.has(ext)) kernel.iptables(['-F']);
            const kernelErrno = kernel.replace(info, b);
            const data = b.subarray(start, start + xtAlign(size));
            const ours = oursErrno(
              ext,
              data,
              revision,
              b.readUInt16LE(protoAt),
              ((b[invAt] ?? 0) & INV_PROTO) !== 0,
              chain,
            );
            seen.set(kernelErrno, (seen.get(kernelErrno) ?? 0) + 1);
            if (ours !== kernelErrno) total.disagreements++;
            expect({ pokes, whole, proto, flipInv, errno: ours }).toEqual({
              pokes,
              whole,
              proto,
              flipInv,
              errno: kernelErrno,
            });
            if (kernelErrno === 0 && EXACT.has(ext)) {
              // What the kernel kept and returns (padding as given, private bytes zeroed,
              // checkentry's own writes) is what our decode keeps and encode writes.
              const back = kernel.snapshot('filter').blob.subarray(start, start + xtAlign(size));
              expect(ext.encode(ext.decode(data, revision), revision).toString('hex')).toBe(
                back.toString('hex'),
              );
            }
          },
        ),
        { numRuns: RUNS },
      );
      // The kernel accepted at least one variant, so the blob shape itself is sound.
      expect(seen.get(0) ?? 0).toBeGreaterThan(0);
      total.runs += RUNS;
      for (const [errno, n] of seen) if (errno !== 0) total.refused += n;
    });
  }
});
