import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../src/translate/errno.js';
import { OptionError } from '../../src/translate/ext/args.js';
import { owner, type OwnerMatch } from '../../src/translate/ext/owner.js';
import type { SaveOption } from '../../src/translate/ext/types.js';
import { ctx, expectErrno, hex, roundTrip, u32, u8 } from './helpers.js';

const OUT = ctx({ hookMask: 1 << 3 });
const none: OwnerMatch = { uidMin: 0, uidMax: 0, gidMin: 0, gidMax: 0, match: 0, invert: 0 };
const opt = (name: string, args: string[] = [], invert = false): SaveOption => ({
  name,
  invert,
  args,
});
const parse = (options: SaveOption[]): OwnerMatch =>
  owner.parse!(options, { proto: 0, invProto: false }).value as OwnerMatch;

describe('owner match (rev 1)', () => {
  it('four u32 ids, match and invert bytes (20 bytes)', () => {
    const v = { uidMin: 1000, uidMax: 1999, gidMin: 5, gidMax: 5, match: 0x0f, invert: 0x05 };
    const b = hex('e8030000 cf070000 05000000 05000000 0f05 0000 00000000');
    expect(owner.dataSize(1)).toBe(20);
    expect(owner.encode(v, 1)).toEqual(b);
    expect(owner.decode(b, 1)).toEqual(v);
    expect(owner.format(v, 1)).toBe(
      '! --socket-exists ! --uid-owner 1000-1999 --gid-owner 5 --suppl-groups',
    );
  });

  roundTrip(
    owner,
    fc.record({
      uidMin: u32(),
      uidMax: u32(),
      gidMin: u32(),
      gidMax: u32(),
      match: u8(),
      invert: u8(),
    }),
    1,
  );

  it('check: OUTPUT and POSTROUTING only, known bits, mappable ordered ranges (EINVAL)', () => {
    const ok = (v: Partial<OwnerMatch>, c = OUT): void =>
      expect(() => owner.check({ ...none, ...v }, 1, c)).not.toThrow();
    const bad = (v: Partial<OwnerMatch>, c = OUT): void =>
      expectErrno(() => owner.check({ ...none, ...v }, 1, c), EINVAL);
    ok({ match: 0x4 }, ctx({ hookMask: (1 << 3) | (1 << 4) }));
    bad({ match: 0x4 }, ctx({ hookMask: 1 << 2 }));
    bad({ match: 0x4 }, ctx({ hookMask: (1 << 3) | (1 << 1) }));
    bad({ match: 0x10 });
    ok({ match: 0x1, uidMin: 5, uidMax: 5 });
    bad({ match: 0x1, uidMin: 6, uidMax: 5 });
    bad({ match: 0x1, uidMin: 0, uidMax: 0xffffffff });
    bad({ match: 0x2, gidMin: 0xffffffff, gidMax: 0xffffffff });
    bad({ match: 0x2, gidMin: 2, gidMax: 1 });
    // Ranges of tests not asked for are not looked at.
    ok({ match: 0x4 | 0x8, uidMin: 9, uidMax: 1, gidMin: 0xffffffff, gidMax: 0 });
  });

  it('parse: ranges as owner_parse_range reads them', () => {
    expect(parse([opt('uid-owner', ['0x10-020'], true)])).toEqual({
      ...none,
      uidMin: 16,
      uidMax: 16,
      match: 1,
      invert: 1,
    });
    expect(parse([opt('gid-owner', ['+7: 9']), opt('suppl-groups')])).toEqual({
      ...none,
      gidMin: 7,
      gidMax: 9,
      match: 0xa,
    });
    expect(parse([opt('socket-exists', [], true)])).toEqual({ ...none, match: 4, invert: 4 });
    expect(parse([opt('uid-owner', ['9-3'])])).toMatchObject({ uidMin: 9, uidMax: 3 });
    expect(parse([opt('uid-owner', ['4294967294'])])).toMatchObject({ uidMax: 4294967294 });
  });

  it('parse refuses what libxt_owner refuses', () => {
    expect(() => parse([])).toThrow(/is required/);
    expect(() => parse([opt('suppl-groups')])).toThrow(/--gid-owner first/);
    expect(() => parse([opt('suppl-groups'), opt('gid-owner', ['1'])])).toThrow(/first/);
    expect(() => parse([opt('gid-owner', ['1']), opt('suppl-groups', [], true)])).toThrow(
      /cannot be inverted/,
    );
    for (const bad of ['4294967295', '-1', '1-', '1-2-3', '08', 'root', '1,2', '']) {
      expect(() => parse([opt('uid-owner', [bad])])).toThrow(OptionError);
    }
  });
});
