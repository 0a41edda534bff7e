// A real iptables blob and its structural mutations (offsets, sizes, verdicts, jumps, revisions,
// hooks, underflows, entry count, proto), shared by validate-fuzz.test.ts (checkReplace against
// the kernel) and the fuzz runner (the whole helper against the kernel).
import { execFileSync } from 'node:child_process';

export const RULES = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:logdrop - [0:0]
:web - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web" -j web
-A INPUT -p udp --dport 53 -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -m limit --limit 5/sec -j ACCEPT
-A INPUT -m ttl --ttl-gt 64 -m mark --mark 0x10/0xff -j logdrop
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A FORWARD -g web
-A web -s 1.2.3.4 -j RETURN
-A web -j ACCEPT
-A logdrop -j LOG --log-prefix "drop: "
-A logdrop -j DROP
COMMIT
`;

export interface BaseBlob {
  /** ipt_replace (num_counters = the entry count) followed by the entries. */
  readonly blob: Buffer;
  /** Offset of each entry within the entries. */
  readonly offsets: readonly number[];
  readonly numEntries: number;
  /** The kernel's GET_INFO and GET_ENTRIES entries, hex, for this table. */
  readonly info: string;
  readonly entries: string;
}

/**
 * RULES as the kernel holds them: restored in `ns` by iptables-legacy-restore, read back with
 * `dump` (cdc-dump-table.c) and framed as the ipt_replace iptables would send.
 */
export function baseBlob(ns: string, dump: string): BaseBlob {
  const sh = (args: string[], input?: string): string =>
    execFileSync('ip', ['netns', 'exec', ns, ...args], { input, encoding: 'utf8' });
  sh(['iptables-legacy-restore'], RULES);
  const [infoHex = '', entriesHex = ''] = sh([dump, 'filter']).split('\n');
  const info = Buffer.from(infoHex, 'hex');
  const entries = Buffer.from(entriesHex, 'hex');
  const hdr = Buffer.alloc(96);
  info.copy(hdr, 0, 0, 36);
  const numEntries = info.readUInt32LE(76);
  hdr.writeUInt32LE(numEntries, 36);
  hdr.writeUInt32LE(info.readUInt32LE(80), 40);
  info.copy(hdr, 44, 36, 76);
  hdr.writeUInt32LE(numEntries, 84);
  const offsets: number[] = [];
  for (let o = 0; o < entries.length; o += entries.readUInt16LE(o + 90)) offsets.push(o);
  return {
    blob: Buffer.concat([hdr, entries]),
    offsets,
    numEntries,
    info: infoHex,
    entries: entriesHex,
  };
}

/** One structural mutation: [field 0..9, entry pick, value pick, delta]. */
export type Mutation = readonly [number, number, number, number];
export const FIELDS = 10;
export const PICKS = 1001;
export const DELTAS = [8, -8, 4, 16, -16, 1] as const;

export function mutate(b: Buffer, offsets: readonly number[], m: Mutation): void {
  const [field, ep, vp, delta] = m;
  const e = 96 + (offsets[ep % offsets.length] ?? 0);
  const to = b.readUInt16LE(e + 88);
  const someEntry = offsets[vp % offsets.length] ?? 0;
  switch (field) {
    case 0:
      return void b.writeUInt16LE((to + delta) & 0xffff, e + 88);
    case 1:
      return void b.writeUInt16LE((b.readUInt16LE(e + 90) + delta) & 0xffff, e + 90);
    case 2:
      return void b.writeInt32LE(someEntry + (vp % 4 === 0 ? delta : 0), e + to + 32);
    case 3:
      return void b.writeInt32LE(-1 - (vp % 6), e + to + 32);
    case 4:
      if (to > 112) b.writeUInt16LE((b.readUInt16LE(e + 112) + delta) & 0xffff, e + 112);
      return;
    case 5:
      return void b.writeUInt16LE((b.readUInt16LE(e + to) + delta) & 0xffff, e + to);
    case 6:
      return void b.writeUInt8(vp % 4, (to > 112 && vp % 2 ? e + 112 : e + to) + 31);
    case 7:
      return void b.writeUInt32LE(someEntry, 44 + 4 * (ep % 10));
    case 8:
      return void b.writeUInt32LE((b.readUInt32LE(36) + (vp % 2 ? 1 : -1)) >>> 0, 36);
    default:
      b.writeUInt16LE(vp % 7, e + 80);
      b.writeUInt8(vp % 2 ? 0x40 : 0, e + 83);
  }
}
