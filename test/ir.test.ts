import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { xtAlign } from '../src/translate/abi.js';
import { MATCHES, TARGETS } from '../src/translate/ext/registry.js';
import type { Extension } from '../src/translate/ext/types.js';
import type {
  Chain,
  ExtensionUse,
  Rule,
  RuleIp,
  RuleTarget,
  Table,
  XtCounters,
} from '../src/translate/ir.js';
import { entryCount, ifaceWildcard } from '../src/translate/ir.js';
import { blobToTable, initialTable, tableCounters, tableToBlob } from '../src/translate/table.js';

const u32 = fc.nat(0xffffffff);
const counters: fc.Arbitrary<XtCounters> = fc.record({
  pcnt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  bcnt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
});
const ifname = fc.string({ unit: fc.constantFrom(...'abcdeth0123+.'.split('')), maxLength: 15 });
const iface = fc.record({
  name: ifname,
  mask: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});
const ip = (goto: boolean): fc.Arbitrary<RuleIp> =>
  fc.record({
    src: u32,
    srcMask: u32,
    dst: u32,
    dstMask: u32,
    inIface: iface,
    outIface: iface,
    proto: fc.nat(0xffff),
    flags: fc.nat(1).map((f) => f | (goto ? 2 : 0)),
    invflags: fc.nat(0x7f),
  });

type Shape = { builtins: number[]; users: string[] };

/** A registered extension at one of its revisions, with the value its all-zero payload decodes to. */
function useArb(list: readonly Extension<unknown>[]): fc.Arbitrary<ExtensionUse> {
  return fc.constantFrom(...list).chain((extension) =>
    fc.constantFrom(...extension.revisions).map((revision) => ({
      extension,
      revision,
      value: extension.decode(Buffer.alloc(xtAlign(extension.dataSize(revision))), revision),
    })),
  );
}

function ruleArb(shape: Shape, chainSizes: Map<string, number>): fc.Arbitrary<Rule> {
  const chains = [...chainSizes.keys()];
  const target: fc.Arbitrary<RuleTarget> = fc.oneof(
    useArb(TARGETS.filter((e) => e.name !== '' && e.name !== 'ERROR')).map((u): RuleTarget => ({
      kind: 'extension',
      target: u,
    })),
    fc.constantFrom<RuleTarget>(
      { kind: 'verdict', verdict: 'ACCEPT' },
      { kind: 'verdict', verdict: 'DROP' },
      { kind: 'verdict', verdict: 'QUEUE' },
      { kind: 'verdict', verdict: 'RETURN' },
    ),
    fc
      .record({
        chain: fc.constantFrom(...chains),
        kind: fc.constantFrom('jump' as const, 'goto' as const),
        pick: fc.nat(),
      })
      .map(({ chain, kind, pick }) => {
        const n = chainSizes.get(chain) ?? 0;
        const user = shape.users.includes(chain);
        // Positions: user chains -1 (head) .. n (footer); built-ins 0 .. n (policy).
        const index = user ? (pick % (n + 2)) - 1 : pick % (n + 1);
        return { kind, chain, index };
      }),
  );
  return target.chain((t) =>
    fc.record({
      ip: ip(t.kind === 'goto'),
      nfcache: u32,
      matches: fc.array(useArb(MATCHES), { maxLength: 3 }),
      target: fc.constant(t),
      counters,
      slack: fc.nat(2).map((n) => n * 8),
    }),
  );
}

/** Random filter tables: built-in chains, up to 3 user chains, rules jumping anywhere legal. */
const tableArb: fc.Arbitrary<Table> = fc
  .record({
    users: fc.uniqueArray(
      fc.string({ unit: fc.constantFrom(...'abcxyz-_'.split('')), minLength: 1, maxLength: 28 }),
      {
        maxLength: 3,
      },
    ),
    sizes: fc.array(fc.nat(3), { minLength: 6, maxLength: 6 }),
  })
  .chain(({ users, sizes }) => {
    const base = initialTable('filter');
    const names = [...base.chains.map((c) => c.name), ...users];
    const chainSizes = new Map(names.map((n, i) => [n, sizes[i] ?? 0]));
    const shape: Shape = { builtins: [1, 2, 3], users };
    const rules = (name: string) =>
      fc.array(ruleArb(shape, chainSizes), {
        minLength: chainSizes.get(name) ?? 0,
        maxLength: chainSizes.get(name) ?? 0,
      });
    const builtins = base.chains.map((c) =>
      fc
        .record({
          rules: rules(c.name),
          policy: fc.constantFrom('ACCEPT' as const, 'DROP' as const),
          policyCounters: counters,
        })
        .map((x): Chain => ({ ...c, ...x })),
    );
    const userChains = users.map((name) =>
      fc
        .record({ rules: rules(name), headCounters: counters, returnCounters: counters })
        .map((x): Chain => ({ kind: 'user', name, ...x })),
    );
    return fc
      .record({ chains: fc.tuple(...builtins, ...userChains), end: counters })
      .map(({ chains, end }): Table => ({
        ...base,
        chains,
        end: { name: 'ERROR', counters: end },
      }));
  });

function layoutOf(t: Table) {
  const enc = tableToBlob(t);
  return {
    enc,
    layout: {
      name: t.name,
      validHooks: t.validHooks,
      hookEntry: enc.hookEntry,
      underflow: enc.underflow,
    },
  };
}

function withoutHookMask(t: Table): Table {
  const strip = (r: Rule): Rule => {
    const copy: { -readonly [K in keyof Rule]?: Rule[K] } = { ...r };
    delete copy.hookMask;
    return copy as Rule;
  };
  return { ...t, chains: t.chains.map((c) => ({ ...c, rules: c.rules.map(strip) })) };
}

describe('IR ⇄ blob', () => {
  it('random IR → blob → IR gives the same table', () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const { enc, layout } = layoutOf(t);
        expect(withoutHookMask(blobToTable(enc.entries, layout))).toEqual(t);
        expect(enc.numEntries).toBe(entryCount(t));
      }),
      { numRuns: 150 },
    );
  });

  it('blob → IR → blob is byte exact', () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const { enc, layout } = layoutOf(t);
        const back = blobToTable(enc.entries, layout);
        expect(tableToBlob(back).entries.equals(enc.entries)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('live counters replace the stored ones, by entry index', () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const live = tableCounters(t).map((_, i) => ({
          pcnt: BigInt(i + 1),
          bcnt: BigInt(1000 * (i + 1)),
        }));
        const { entries } = tableToBlob(t, live);
        let i = 0;
        for (let o = 0; o < entries.length; o += entries.readUInt16LE(o + 90), i++) {
          expect(entries.readBigUInt64LE(o + 96)).toBe(BigInt(i + 1));
          expect(entries.readBigUInt64LE(o + 104)).toBe(BigInt(1000 * (i + 1)));
        }
        expect(i).toBe(entryCount(t));
      }),
      { numRuns: 50 },
    );
  });
});

describe('initialTable and interfaces', () => {
  it('filter: INPUT/FORWARD/OUTPUT ACCEPT then ERROR, 632 bytes, 4 entries', () => {
    const enc = tableToBlob(initialTable('filter'));
    expect([enc.size, enc.numEntries]).toEqual([632, 4]);
    expect(enc.hookEntry).toEqual([0xffffffff, 0, 152, 304, 0xffffffff]);
    expect(enc.underflow).toEqual([0xffffffff, 0, 152, 304, 0xffffffff]);
  });

  it('ifaceWildcard: exact, prefix and any', () => {
    const mask = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => (i < n ? 0xff : 0));
    expect(ifaceWildcard({ name: 'eth0', mask: mask(5) })).toEqual({
      name: 'eth0',
      prefix: false,
      any: false,
    });
    expect(ifaceWildcard({ name: 'eth+', mask: mask(3) })).toEqual({
      name: 'eth',
      prefix: true,
      any: false,
    });
    expect(ifaceWildcard({ name: '', mask: mask(0) })).toEqual({
      name: '',
      prefix: false,
      any: true,
    });
  });
});
