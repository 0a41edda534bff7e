// -m realm: struct xt_realm_info (linux/netfilter/xt_realm.h), revision 0 of xt_realm.c, with
// .hooks = POST_ROUTING | FORWARD | LOCAL_OUT | LOCAL_IN (the route's tclassid exists only after
// routing), no checkentry. Matches (id == (dst->tclassid & mask)) ^ invert.
import { OptionError, parseValMask, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { formatValMask, inv, payload, readPad, requireHooks, writePad, zeroed } from './util.js';

export interface RealmMatch {
  readonly id: number;
  readonly mask: number;
  readonly invert: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** (1 << NF_INET_LOCAL_IN) | FORWARD | LOCAL_OUT | POST_ROUTING. */
export const REALM_HOOKS = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4);

/** Debian's /etc/iproute2/rt_realms (iptables maps names through it; the rest are comments). */
export const REALM_NAMES: readonly (readonly [number, string])[] = [[0, 'cosmos']];

const SIZE = 12;

export const realm: Extension<RealmMatch> = {
  kind: 'match',
  name: 'realm',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): RealmMatch {
    const b = payload(data, SIZE);
    return {
      id: b.readUInt32LE(0),
      mask: b.readUInt32LE(4),
      invert: b[8] ?? 0,
      ...readPad(b, 9, 3),
    };
  },
  encode(v: RealmMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.id >>> 0, 0);
    b.writeUInt32LE(v.mask >>> 0, 4);
    b.writeUInt8(v.invert, 8);
    writePad(b, 9, 3, v.pad);
    return b;
  },
  check(_v: RealmMatch, _revision: number, ctx: CheckContext): void {
    requireHooks(ctx, REALM_HOOKS, 'match "realm"');
  },
  format(v: RealmMatch): string {
    return `${inv(v.invert !== 0)}--realm ${formatValMask(v.id, v.mask, REALM_NAMES)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "realm"', options, { realm: { names: ['realm'], invert: true } });
    if (o.realm === undefined) throw new OptionError('match "realm": --realm is required');
    const r = parseValMask(o.realm.args[0] ?? '', 'match "realm": --realm', REALM_NAMES);
    const value = { id: r.value, mask: r.mask, invert: o.realm.invert ? 1 : 0 };
    return { extension: realm, revision: 0, value };
  },
};
