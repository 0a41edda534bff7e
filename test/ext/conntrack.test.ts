import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conntrack, type ConntrackMatch, type CtPort } from '../../src/translate/ext/conntrack.js';
import { ctx, roundTrip, u16, u32, u8 } from './helpers.js';

const ZERO = { addr: 0, mask: 0 };
const NO_PORT = { lo: 0, hi: 0 };
const ESTABLISHED: ConntrackMatch = {
  origsrc: ZERO,
  origdst: ZERO,
  replsrc: ZERO,
  repldst: ZERO,
  expiresMin: 0,
  expiresMax: 0,
  l4proto: 0,
  origsrcPort: NO_PORT,
  origdstPort: { lo: 443, hi: 443 },
  replsrcPort: NO_PORT,
  repldstPort: NO_PORT,
  matchFlags: 0x1 | 0x200,
  invertFlags: 0,
  stateMask: 0x6,
  statusMask: 0,
};

function arb(rev: number): fc.Arbitrary<ConntrackMatch> {
  const addr = fc.record({ addr: u32(), mask: u32() });
  const port: fc.Arbitrary<CtPort> =
    rev === 3 ? fc.record({ lo: u16(), hi: u16() }) : u16().map((p) => ({ lo: p, hi: p }));
  const mask = rev === 1 ? u8() : u16();
  return fc.record({
    origsrc: addr,
    origdst: addr,
    replsrc: addr,
    repldst: addr,
    expiresMin: u32(),
    expiresMax: u32(),
    l4proto: u16(),
    origsrcPort: port,
    origdstPort: port,
    replsrcPort: port,
    repldstPort: port,
    matchFlags: u16(),
    invertFlags: u16(),
    stateMask: mask,
    statusMask: mask,
  });
}

describe('conntrack match (rev 1, 2, 3)', () => {
  it('has the three kernel sizes', () => {
    expect([1, 2, 3].map((r) => conntrack.dataSize(r))).toEqual([152, 156, 164]);
    expect(conntrack.revisions).toEqual([1, 2, 3]);
  });

  it('rev 1: __be16 ports, u8 masks, hand-built bytes', () => {
    const b = Buffer.alloc(152);
    b.writeUInt16BE(443, 140); // origdst_port, network order
    b.writeUInt16LE(0x201, 146); // match_flags STATE | ORIGDST_PORT
    b[150] = 0x6; // state_mask
    expect(conntrack.decode(b, 1)).toEqual(ESTABLISHED);
    expect(conntrack.encode(ESTABLISHED, 1)).toEqual(b);
  });

  it('rev 2: __be16 ports, u16 masks, hand-built bytes', () => {
    const v = { ...ESTABLISHED, stateMask: 0x106, statusMask: 0x204 };
    const b = Buffer.alloc(160);
    b.writeUInt16BE(443, 140);
    b.writeUInt16LE(0x201, 146);
    b.writeUInt16LE(0x106, 150);
    b.writeUInt16LE(0x204, 152);
    expect(conntrack.decode(b, 2)).toEqual(v);
    expect(conntrack.encode(v, 2)).toEqual(b);
  });

  it('rev 3: host-order port ranges and addresses, hand-built bytes', () => {
    const v: ConntrackMatch = {
      ...ESTABLISHED,
      origsrc: { addr: 0x0a010000, mask: 0xffff0000 },
      origdstPort: { lo: 1000, hi: 2000 },
      matchFlags: 0x205,
    };
    const b = Buffer.alloc(168);
    b.writeUInt32BE(0x0a010000, 0); // origsrc_addr
    b.writeUInt32BE(0xffff0000, 16); // origsrc_mask
    b.writeUInt16LE(1000, 140);
    b.writeUInt16LE(0x205, 146);
    b.writeUInt16LE(0x6, 150);
    b.writeUInt16LE(2000, 156); // origdst_port_high
    expect(conntrack.decode(b, 3)).toEqual(v);
    expect(conntrack.encode(v, 3)).toEqual(b);
  });

  roundTrip(conntrack, arb(1), 1);
  roundTrip(conntrack, arb(2), 2);
  roundTrip(conntrack, arb(3), 3);

  it('accepts any value, as conntrack_mt_check does', () => {
    const all: ConntrackMatch = { ...ESTABLISHED, matchFlags: 0xffff, invertFlags: 0xffff };
    for (const rev of [1, 2, 3]) {
      expect(() => conntrack.check(all, rev, ctx({ table: 'mangle', hookMask: 31 }))).not.toThrow();
    }
  });

  it('formats as iptables-save would', () => {
    expect(conntrack.format(ESTABLISHED, 3)).toBe(
      '--ctstate RELATED,ESTABLISHED --ctorigdstport 443',
    );
  });
});
