import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL, XtError } from '../src/translate/errno.js';
import { ZERO_COUNTERS } from '../src/translate/ir.js';
import {
  parseCounterArray,
  parseCountersInfo,
  parseEntries,
  parseEntry,
  parseGetEntries,
  parseGetinfo,
  parseGetRevision,
  parseIptIp,
  parseReplace,
} from '../src/translate/parser.js';
import {
  serializeCountersInfo,
  serializeEntries,
  serializeEntry,
  serializeGetEntries,
  serializeGetinfo,
  serializeGetRevision,
  serializeIptIp,
  serializeReplace,
  writeCounterArray,
} from '../src/translate/serializer.js';
import type { IptEntry, XtEntryMatch } from '../src/translate/wire.js';

/** A 152-byte "-j ACCEPT" policy entry, byte by byte. */
function acceptEntry(): Buffer {
  const b = Buffer.alloc(152);
  b.writeUInt16LE(112, 88); // target_offset
  b.writeUInt16LE(152, 90); // next_offset
  b.writeUInt32LE(0x2, 92); // comefrom
  b.writeBigUInt64LE(7n, 96); // pcnt
  b.writeBigUInt64LE(700n, 104); // bcnt
  b.writeUInt16LE(40, 112); // target_size, name "" rev 0
  b.writeInt32LE(-2, 144); // verdict NF_ACCEPT
  return b;
}

function cstr(s: string, n: number): Buffer {
  const b = Buffer.alloc(n);
  b.write(s, 'latin1');
  return b;
}

describe('hand-built buffers', () => {
  it('ipt_ip decodes addresses in network order and flags', () => {
    const b = Buffer.alloc(84);
    Buffer.from([10, 0, 0, 1]).copy(b, 0);
    Buffer.from([255, 255, 255, 0]).copy(b, 8);
    b.write('eth0', 16, 'latin1');
    b.fill(0xff, 48, 53);
    b.writeUInt16LE(6, 80);
    b.writeUInt8(0x02, 82);
    b.writeUInt8(0x48, 83);
    const ip = parseIptIp(b);
    expect(ip.src).toBe(0x0a000001);
    expect(ip.smsk).toBe(0xffffff00);
    expect(ip.iniface.toString('latin1', 0, 4)).toBe('eth0');
    expect([...ip.inifaceMask.subarray(0, 6)]).toEqual([255, 255, 255, 255, 255, 0]);
    expect([ip.proto, ip.flags, ip.invflags]).toEqual([6, 2, 0x48]);
    expect(serializeIptIp(ip)).toEqual(b);
  });

  it('ipt_entry with a standard target', () => {
    const b = acceptEntry();
    const e = parseEntry(b, 0);
    expect(e.targetOffset).toBe(112);
    expect(e.nextOffset).toBe(152);
    expect(e.comefrom).toBe(2);
    expect(e.counters).toEqual({ pcnt: 7n, bcnt: 700n });
    expect(e.matches).toEqual([]);
    expect(e.target.size).toBe(40);
    expect(e.target.revision).toBe(0);
    expect(e.target.data.readInt32LE(0)).toBe(-2);
    expect(e.trailer.length).toBe(0);
    expect(serializeEntry(e)).toEqual(b);
  });

  it('ipt_entry with one match tiles up to the target', () => {
    const b = Buffer.alloc(112 + 48 + 40);
    b.writeUInt16LE(160, 88);
    b.writeUInt16LE(200, 90);
    b.writeUInt16LE(48, 112);
    b.write('tcp', 114, 'latin1');
    b.writeUInt16LE(22, 144 + 4);
    b.writeUInt16LE(40, 160);
    b.writeInt32LE(-1, 192);
    const e = parseEntry(b, 0);
    expect(e.matches).toHaveLength(1);
    expect(e.matches[0]?.name.toString('latin1', 0, 3)).toBe('tcp');
    expect(e.matches[0]?.data.length).toBe(16);
    expect(serializeEntry(e)).toEqual(b);
  });

  it('a match overrunning the target is EINVAL', () => {
    const b = Buffer.alloc(200);
    b.writeUInt16LE(160, 88);
    b.writeUInt16LE(200, 90);
    b.writeUInt16LE(56, 112);
    b.writeUInt16LE(40, 160);
    expect(() => parseEntry(b, 0)).toThrow(expect.objectContaining({ errno: EINVAL }) as XtError);
  });

  it('ipt_replace header and entries', () => {
    const entries = Buffer.concat([acceptEntry(), acceptEntry()]);
    const b = Buffer.alloc(96 + entries.length);
    b.write('filter', 0, 'latin1');
    b.writeUInt32LE(0xe, 32);
    b.writeUInt32LE(2, 36);
    b.writeUInt32LE(entries.length, 40);
    b.writeUInt32LE(152, 48); // hook_entry[1]
    b.writeUInt32LE(3, 84);
    b.writeBigUInt64LE(0x7fff0000n, 88);
    entries.copy(b, 96);
    const r = parseReplace(b);
    expect(r.name.toString('latin1', 0, 6)).toBe('filter');
    expect([r.validHooks, r.numEntries, r.size, r.numCounters]).toEqual([0xe, 2, 304, 3]);
    expect(r.hookEntry).toEqual([0, 152, 0, 0, 0]);
    expect(r.counters).toBe(0x7fff0000n);
    expect(parseEntries(r.entries).map((x) => x.offset)).toEqual([0, 152]);
    expect(serializeReplace(r)).toEqual(b);
  });

  it('ipt_getinfo, ipt_get_entries, xt_counters_info, xt_get_revision', () => {
    const gi = Buffer.alloc(84);
    gi.write('filter', 0, 'latin1');
    gi.writeUInt32LE(0xe, 32);
    gi.writeUInt32LE(304, 40);
    gi.writeUInt32LE(4, 76);
    gi.writeUInt32LE(608, 80);
    const info = parseGetinfo(gi);
    expect([info.validHooks, info.numEntries, info.size, info.hookEntry[1]]).toEqual([
      0xe, 4, 608, 304,
    ]);
    expect(serializeGetinfo(info)).toEqual(gi);

    const ge = Buffer.concat([
      cstr('filter', 32),
      Buffer.from([152, 0, 0, 0, 0, 0, 0, 0]),
      acceptEntry(),
    ]);
    const g = parseGetEntries(ge);
    expect(g.size).toBe(152);
    expect(serializeGetEntries(g)).toEqual(ge);

    const ci = Buffer.alloc(40 + 32);
    ci.write('filter', 0, 'latin1');
    ci.writeUInt32LE(2, 32);
    ci.writeBigUInt64LE(5n, 40);
    ci.writeBigUInt64LE(500n, 48);
    const c = parseCountersInfo(ci);
    expect(c.counters).toEqual([
      { pcnt: 5n, bcnt: 500n },
      { pcnt: 0n, bcnt: 0n },
    ]);
    expect(serializeCountersInfo(c)).toEqual(ci);

    const rev = Buffer.concat([cstr('conntrack', 29), Buffer.from([3])]);
    expect(parseGetRevision(rev).revision).toBe(3);
    expect(serializeGetRevision(parseGetRevision(rev))).toEqual(rev);
  });
});

const bytes = (n: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));

const matchArb = (minPayload: number): fc.Arbitrary<XtEntryMatch> =>
  fc
    .record({ name: bytes(29), revision: fc.nat(255), words: fc.nat(6) })
    .chain(({ name, revision, words }) =>
      bytes(minPayload + words * 8).map((data) => ({
        size: 32 + data.length,
        name,
        revision,
        data,
      })),
    );

const entryArb: fc.Arbitrary<IptEntry> = fc
  .record({
    ipBytes: bytes(84),
    nfcache: fc.nat(0xffffffff),
    comefrom: fc.nat(0xffffffff),
    pcnt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    bcnt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    matches: fc.array(matchArb(0), { maxLength: 3 }),
    target: matchArb(0),
    trailerWords: fc.nat(2),
  })
  .map(({ ipBytes, nfcache, comefrom, pcnt, bcnt, matches, target, trailerWords }) => {
    const targetOffset = 112 + matches.reduce((n, m) => n + m.size, 0);
    const trailer = Buffer.alloc(trailerWords * 8, 0xa5);
    return {
      ip: parseIptIp(ipBytes),
      nfcache,
      targetOffset,
      nextOffset: targetOffset + target.size + trailer.length,
      comefrom,
      counters: { pcnt, bcnt },
      matches,
      target,
      trailer,
    };
  });

describe('round trips (fast-check)', () => {
  it('entries: parse(serialize(e)) = e and serialize(parse(b)) = b', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 6 }), (entries) => {
        const blob = serializeEntries(entries);
        const parsed = parseEntries(blob);
        expect(parsed.map((p) => p.entry)).toEqual(entries);
        expect(serializeEntries(parsed.map((p) => p.entry))).toEqual(blob);
      }),
      { numRuns: 200 },
    );
  });

  it('fixed-size structs: encode(decode(b)) = b for any bytes', () => {
    fc.assert(
      fc.property(bytes(84), bytes(30), bytes(84), (gi, rev, ip) => {
        expect(serializeGetinfo(parseGetinfo(gi))).toEqual(gi);
        expect(serializeGetRevision(parseGetRevision(rev))).toEqual(rev);
        expect(serializeIptIp(parseIptIp(ip))).toEqual(ip);
      }),
    );
  });

  it('ipt_replace and xt_counters_info headers: encode(decode(b)) = b', () => {
    fc.assert(
      fc.property(
        bytes(96),
        fc.array(entryArb, { maxLength: 3 }),
        bytes(40),
        fc.nat(4),
        (hdr, entries, ci, n) => {
          const blob = serializeEntries(entries);
          hdr.writeUInt32LE(blob.length, 40);
          const b = Buffer.concat([hdr, blob]);
          expect(serializeReplace(parseReplace(b))).toEqual(b);
          ci.writeUInt32LE(n, 32);
          const c = Buffer.concat([ci, Buffer.alloc(16 * n, 0x3c)]);
          expect(serializeCountersInfo(parseCountersInfo(c))).toEqual(c);
        },
      ),
    );
  });
});

describe('counter arrays', () => {
  // Mostly zero, as a big table's are, with some words set in one half only (a zero test that
  // read fewer than the four words would take those for zero).
  const counter = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ pcnt: 0n, bcnt: 0n }) },
    fc.record({
      pcnt: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      bcnt: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    }),
    fc
      .record({ k: fc.integer({ min: 0, max: 3 }), v: fc.integer({ min: 1, max: 0xffffffff }) })
      .map(({ k, v }) => {
        const b = Buffer.alloc(16);
        b.writeUInt32LE(v, 4 * k);
        return { pcnt: b.readBigUInt64LE(0), bcnt: b.readBigUInt64LE(8) };
      }),
  );

  it('read back what was written, at any offset, the zero ones as ZERO_COUNTERS', () => {
    fc.assert(
      fc.property(
        fc.array(counter, { maxLength: 40 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        (cs, slack, shift) => {
          // `shift` bytes into a bigger allocation: the buffer's own offset is unaligned too.
          const whole = Buffer.alloc(shift + slack + 16 * cs.length + 3, 0);
          const buf = whole.subarray(shift, shift + slack + 16 * cs.length);
          buf.fill(0);
          writeCounterArray(buf, slack, cs);
          for (const [i, c] of cs.entries()) {
            expect(buf.readBigUInt64LE(slack + 16 * i)).toBe(c.pcnt);
            expect(buf.readBigUInt64LE(slack + 16 * i + 8)).toBe(c.bcnt);
          }
          const back = parseCounterArray(buf, slack, cs.length);
          expect(back).toEqual(cs);
          back.forEach((c, i) => {
            const zero = cs[i]?.pcnt === 0n && cs[i]?.bcnt === 0n;
            expect(c === ZERO_COUNTERS).toBe(zero);
          });
        },
      ),
    );
  });
});
