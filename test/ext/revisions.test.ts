// Revisions iptables-legacy 1.8 never sends (conntrack 1 and 2, state 0, addrtype 0, recent 0, hashlimit 1 and 2) still reach
// the kernel here: a real rule's match area is rewritten with our encodings of them (same total size, so
// every offset stays valid), handed to SET_REPLACE, and read back with GET_ENTRIES. The kernel
// accepting them proves dataSize (it refuses any other size with EINVAL), and the bytes it
// returns must be exactly the ones we encoded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xtAlign } from '../../src/translate/abi.js';
import { addrtype } from '../../src/translate/ext/addrtype.js';
import { conntrack, type ConntrackMatch } from '../../src/translate/ext/conntrack.js';
import { hashlimit } from '../../src/translate/ext/hashlimit.js';
import { mark } from '../../src/translate/ext/mark.js';
import { recent } from '../../src/translate/ext/recent.js';
import { state } from '../../src/translate/ext/state.js';
import { ttl } from '../../src/translate/ext/ttl.js';
import type { Extension } from '../../src/translate/ext/types.js';
import { HASHLIMIT, RECENT } from './fixtures.js';
import { KernelTable, nameOf } from './kernel.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Item = readonly [Extension<any>, number, unknown];

function matchBytes([ext, revision, value]: Item): Buffer {
  const data = ext.encode(value, revision);
  const head = Buffer.alloc(32);
  head.writeUInt16LE(32 + data.length, 0);
  head.write(ext.name, 2, 'latin1');
  head[31] = revision;
  return Buffer.concat([head, data]);
}

const CT: ConntrackMatch = {
  origsrc: { addr: 0x0a000000, mask: 0xff000000 },
  origdst: { addr: 0, mask: 0 },
  replsrc: { addr: 0, mask: 0 },
  repldst: { addr: 0xc0a80001, mask: 0xffffffff },
  expiresMin: 10,
  expiresMax: 3600,
  l4proto: 6,
  origsrcPort: { lo: 0, hi: 0 },
  origdstPort: { lo: 443, hi: 443 },
  replsrcPort: { lo: 0, hi: 0 },
  repldstPort: { lo: 0, hi: 0 },
  matchFlags: 0x1 | 0x2 | 0x4 | 0x20 | 0x80 | 0x200,
  invertFlags: 0x4,
  stateMask: 0x0a,
  statusMask: 0x04,
};

const CT_TTL_TTL = [
  '-m',
  'conntrack',
  '--ctstate',
  'NEW',
  '-m',
  'ttl',
  '--ttl-eq',
  '1',
  '-m',
  'ttl',
  '--ttl-eq',
  '2',
];

const CT_MARK = ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'mark', '--mark', '1'];
const MARK_TTL = ['-m', 'mark', '--mark', '1', '-m', 'ttl', '--ttl-eq', '1'];
const CT_MARK_MARK_TTL = [
  ...CT_MARK,
  ...['-m', 'mark', '--mark', '2', '-m', 'ttl', '--ttl-eq', '1'],
];

/**
 * Each layout replaces the match area of a rule with as many bytes: by default the 280 of
 * `-m conntrack -m ttl -m ttl` (200 + 40 + 40), else those of the rule given third.
 */
const LAYOUTS: readonly (readonly [string, readonly Item[], (readonly string[])?])[] = [
  [
    'conntrack rev 1 + mark + mark',
    [
      [conntrack, 1, CT],
      [mark, 1, { mark: 1, mask: 0xff, invert: 0 }],
      [mark, 1, { mark: 2, mask: 0xff, invert: 1 }],
    ],
  ],
  [
    'conntrack rev 2 + mark + ttl',
    [
      [conntrack, 2, { ...CT, stateMask: 0x14a, statusMask: 0x204 }],
      [mark, 1, { mark: 3, mask: 0xffffffff, invert: 0 }],
      [ttl, 0, { mode: 2, ttl: 9 }],
    ],
  ],
  [
    'conntrack rev 3 + state rev 0 + state rev 0',
    [
      [conntrack, 3, { ...CT, origdstPort: { lo: 1000, hi: 2000 } }],
      [state, 0, { statemask: 0x0a }],
      [state, 0, { statemask: 0x41 }],
    ],
  ],
  [
    'addrtype rev 0 (48 bytes, as -m mark)',
    [
      [
        addrtype,
        0,
        { source: 0x4, dest: 0x820, flags: 0, invertSource: 1, invertDest: 0xdeadbeef },
      ],
    ],
    ['-m', 'mark', '--mark', '1'],
  ],
  [
    'recent rev 0 (248 bytes, as -m conntrack -m mark)',
    [
      [
        recent,
        0,
        {
          seconds: 30,
          hitCount: 2,
          checkSet: 0x14,
          invert: 1,
          name: 'rev0-list',
          side: 1,
          mask: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        },
      ],
    ],
    CT_MARK,
  ],
  [
    'hashlimit rev 1 (88 bytes, as -m mark -m ttl)',
    [
      [
        hashlimit,
        1,
        {
          ...HASHLIMIT,
          name: 'v',
          mode: 0x15,
          avg: 2000n,
          burst: 10n,
          size: 64,
          max: 128,
          gcInterval: 500,
          expire: 10000,
          srcmask: 24,
        },
      ],
    ],
    MARK_TTL,
  ],
  [
    'hashlimit rev 2 (336 bytes, as -m conntrack -m mark -m mark -m ttl)',
    [
      [
        hashlimit,
        2,
        {
          ...HASHLIMIT,
          name: 'v',
          mode: 0x15,
          avg: 200000n,
          burst: 10n,
          size: 64,
          max: 128,
          gcInterval: 500,
          expire: 10000,
          srcmask: 24,
        },
      ],
    ],
    CT_MARK_MARK_TTL,
  ],
];

let kernel: KernelTable;

beforeAll(() => {
  kernel = new KernelTable();
});

afterAll(() => {
  kernel.close();
});

describe('revisions iptables 1.8 does not send, through the kernel', () => {
  for (const [title, items, base = CT_TTL_TTL] of LAYOUTS) {
    it(title, () => {
      const entry = kernel.rule(base);
      const { info, blob } = kernel.snapshot('filter');
      const area = Buffer.concat(items.map(matchBytes));
      expect(area.length).toBe(entry.targetOffset - 112);
      const b = Buffer.from(blob);
      area.copy(b, 112);
      expect(kernel.replace(info, b)).toBe(0);

      const back = kernel.entries('filter')[0]!.entry;
      expect(back.matches).toHaveLength(items.length);
      back.matches.forEach((m, i) => {
        const [ext, revision, value] = items[i]!;
        expect([nameOf(m.name), m.revision]).toEqual([ext.name, revision]);
        expect(m.data.length).toBe(xtAlign(ext.dataSize(revision)));
        expect(m.data.toString('hex')).toBe(ext.encode(value, revision).toString('hex'));
        expect(ext.decode(m.data, revision)).toEqual(value);
      });
    });
  }

  it('the kernel refuses a conntrack rev 1 payload sized as rev 2 (EINVAL), as dataSize implies', () => {
    kernel.rule(CT_TTL_TTL);
    const { info, blob } = kernel.snapshot('filter');
    const wrong = matchBytes([conntrack, 2, CT]);
    wrong[31] = 1; // rev 1 header on a 160-byte payload
    const area = Buffer.concat([
      wrong,
      matchBytes([mark, 1, { mark: 0, mask: 0, invert: 0 }]),
      matchBytes([ttl, 0, { mode: 0, ttl: 1 }]),
    ]);
    const b = Buffer.from(blob);
    area.copy(b, 112);
    expect(kernel.replace(info, b)).toBe(22);
  });
});

/** One match of a revision iptables does not send, in place of `base`'s match area. */
type Probe = readonly [string, Item, readonly string[]];

const HL1 = { ...HASHLIMIT, name: 'v', avg: 2000n };
const HL2 = { ...HL1, avg: 200000n };
const RECENT0 = { ...RECENT, checkSet: 0x1, name: 'r0' };

const PROBES: readonly Probe[] = [
  ['hashlimit 1 accepted', [hashlimit, 1, HL1], MARK_TTL],
  ['hashlimit 1 name of 16 bytes', [hashlimit, 1, { ...HL1, name: 'n'.repeat(16) }], MARK_TTL],
  ['hashlimit 1 gc interval 0', [hashlimit, 1, { ...HL1, gcInterval: 0 }], MARK_TTL],
  [
    'hashlimit 1 avg·burst·3 wraps',
    [hashlimit, 1, { ...HL1, avg: 0xffffffffn, burst: 0x55555556n }],
    MARK_TTL,
  ],
  [
    'hashlimit 1 u32 max avg and burst',
    [hashlimit, 1, { ...HL1, avg: 0xffffffffn, burst: 0xffffffffn }],
    MARK_TTL,
  ],
  ['hashlimit 1 byte cost 1', [hashlimit, 1, { ...HL1, mode: 0x20, avg: 1n }], MARK_TTL],
  [
    'hashlimit 1 rate-match bit, burst 0',
    [hashlimit, 1, { ...HL1, mode: 0x40, burst: 0n }],
    MARK_TTL,
  ],
  ['hashlimit 2 accepted', [hashlimit, 2, HL2], CT_MARK_MARK_TTL],
  [
    'hashlimit 2 avg·burst wraps u64',
    [hashlimit, 2, { ...HL2, avg: 1n << 63n, burst: 2n }],
    CT_MARK_MARK_TTL,
  ],
  [
    'hashlimit 2 rate-match bit, avg 0',
    [hashlimit, 2, { ...HL2, mode: 0x40, avg: 0n }],
    CT_MARK_MARK_TTL,
  ],
  [
    'hashlimit 2 size above 2^20 (clamped on a copy)',
    [hashlimit, 2, { ...HL2, size: 2000000 }],
    CT_MARK_MARK_TTL,
  ],
  ['recent 0 accepted', [recent, 0, RECENT0], CT_MARK],
  ['recent 0 two commands', [recent, 0, { ...RECENT0, checkSet: 0x3 }], CT_MARK],
  ['recent 0 name "."', [recent, 0, { ...RECENT0, name: '.' }], CT_MARK],
  [
    'addrtype 0 with any flags (no checkentry)',
    [addrtype, 0, { source: 4, dest: 0, flags: 0, invertSource: 0xc, invertDest: 7 }],
    ['-m', 'mark', '--mark', '1'],
  ],
];

describe('check() of revisions iptables does not send agrees with the kernel', () => {
  it.each(PROBES)('%s', (_title, item, base) => {
    const entry = kernel.rule(base);
    const { info, blob } = kernel.snapshot('filter');
    const area = matchBytes(item);
    expect(area.length).toBe(entry.targetOffset - 112);
    const b = Buffer.from(blob);
    area.copy(b, 112);
    const [ext, revision, value] = item;
    let ours = 0;
    try {
      ext.check(value, revision, { table: 'filter', hookMask: 1 << 1, proto: 0, invProto: false });
    } catch (e) {
      ours = (e as { errno: number }).errno;
    }
    expect(ours).toBe(kernel.replace(info, b));
  });
});
