// Revisions iptables-legacy 1.8 never sends (conntrack 1 and 2, state 0, addrtype 0, recent 0) still reach
// the kernel here: a real rule's match area is rewritten with our encodings of them (same total size, so
// every offset stays valid), handed to SET_REPLACE, and read back with GET_ENTRIES. The kernel
// accepting them proves dataSize (it refuses any other size with EINVAL), and the bytes it
// returns must be exactly the ones we encoded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xtAlign } from '../../src/translate/abi.js';
import { addrtype } from '../../src/translate/ext/addrtype.js';
import { conntrack, type ConntrackMatch } from '../../src/translate/ext/conntrack.js';
import { mark } from '../../src/translate/ext/mark.js';
import { recent } from '../../src/translate/ext/recent.js';
import { state } from '../../src/translate/ext/state.js';
import { ttl } from '../../src/translate/ext/ttl.js';
import type { Extension } from '../../src/translate/ext/types.js';
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
    ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'mark', '--mark', '1'],
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
    kernel.rule([
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
    ]);
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
