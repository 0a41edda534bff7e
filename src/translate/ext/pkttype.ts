// -m pkttype: struct xt_pkttype_info (linux/netfilter/xt_pkttype.h), revision 0, family UNSPEC,
// no checkentry. The kernel compares skb->pkt_type (a looped-back packet counts as multicast when
// its destination is, else broadcast) with `pkttype` and XORs the C bool with `invert`, so any
// non-zero invert other than 1 makes the match always true.
import { OptionError, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';

/** PACKET_* of linux/if_packet.h. */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;

export interface PkttypeMatch {
  /** A PACKET_* value (C int). */
  readonly pkttype: number;
  /** C int; iptables writes 1 for `!`. */
  readonly invert: number;
}

const SIZE = 8;

/** libxt_pkttype's names: the first four are what iptables prints, the rest aliases. */
const TYPE_NAMES: readonly (readonly [string, number])[] = [
  ['unicast', PACKET_HOST],
  ['broadcast', PACKET_BROADCAST],
  ['multicast', PACKET_MULTICAST],
  ['otherhost', PACKET_OTHERHOST],
  ['bcast', PACKET_BROADCAST],
  ['mcast', PACKET_MULTICAST],
  ['host', PACKET_HOST],
];

export const pkttype: Extension<PkttypeMatch> = {
  kind: 'match',
  name: 'pkttype',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): PkttypeMatch {
    const b = payload(data, SIZE);
    return { pkttype: b.readInt32LE(0), invert: b.readInt32LE(4) };
  },
  encode(v: PkttypeMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeInt32LE(v.pkttype | 0, 0);
    b.writeInt32LE(v.invert | 0, 4);
    return b;
  },
  check(): void {},
  format(v: PkttypeMatch): string {
    const name = TYPE_NAMES.find(([, t]) => t === v.pkttype)?.[0] ?? String(v.pkttype);
    return `${v.invert !== 0 ? '! ' : ''}--pkt-type ${name}`;
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "pkttype"';
    const o = readOptions(what, options, { type: { names: ['pkt-type'], invert: true } });
    if (o.type === undefined) throw new OptionError(`${what}: --pkt-type is required`);
    const text = o.type.args[0] ?? '';
    const hit = TYPE_NAMES.find(([n]) => n === text.toLowerCase());
    if (hit === undefined) throw new OptionError(`${what}: bad packet type "${text}"`);
    const value: PkttypeMatch = { pkttype: hit[1], invert: o.type.invert ? 1 : 0 };
    return { extension: pkttype, revision: 0, value };
  },
};
