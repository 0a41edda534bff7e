// What /proc/net/xt_recent/NAME gives the kernel's users, for the lists our programs keep
// (codegen/recent.ts): the listing (recent_seq_show's lines) and the writes recent_mt_proc_write
// takes — "+ADDR" adds or refreshes an entry, "-ADDR" removes it, "/" empties the list. A write
// copies the list out and back under its spin lock (BPF_F_LOCK); a packet the program counts
// between the two copies is lost, which the kernel's single critical section never does.
// Entries are listed in slot order; the kernel lists them in the order of a hash with a random
// seed, so no order is the kernel's.
import { assemble, Call, Exit, Mov, R0, R1, R6, Size, StoreMem } from './asm/index.js';
import { HDR, LIST_TOT, SLOT, TABLE_SIZE } from './codegen/recent.js';
import { BPF_F_LOCK, close, mapLookupLocked, mapUpdate, u32 } from './syscall.js';
import { addressOf, bpfSyscall } from '../sys/libc.js';

export interface RecentEntry {
  readonly slot: number;
  /** The address as the packet's bytes, dotted. */
  readonly addr: string;
  readonly ttl: number;
  readonly index: number;
  readonly stamps: readonly bigint[];
  readonly seq: bigint;
}

const BPF_PROG_LOAD = 5;
const BPF_PROG_TEST_RUN = 10;
const PROG_TYPE_SYSCALL = 31;
const BPF_F_SLEEPABLE = 1 << 4;
const BPF_FUNC_jiffies64 = 118;

/** The kernel's jiffies now: a syscall program reads bpf_jiffies64 into its context. */
export function jiffies(): bigint {
  const code = assemble([
    Mov.reg(R6, R1),
    Call.helper(BPF_FUNC_jiffies64),
    StoreMem(R6, 0, R0, Size.DW),
    Mov.imm(R0, 0),
    Exit(),
  ]).bytes;
  const license = Buffer.from('GPL\0');
  const load = Buffer.alloc(128);
  load.writeUInt32LE(PROG_TYPE_SYSCALL, 0);
  load.writeUInt32LE(code.length / 8, 4);
  load.writeBigUInt64LE(addressOf(code), 8);
  load.writeBigUInt64LE(addressOf(license), 16);
  load.writeUInt32LE(BPF_F_SLEEPABLE, 44);
  const fd = bpfSyscall(BPF_PROG_LOAD, load);
  try {
    const ctx = Buffer.alloc(8);
    const run = Buffer.alloc(80);
    run.writeUInt32LE(fd, 0);
    // A syscall program's test run writes the context back into ctx_in.
    run.writeUInt32LE(8, 40);
    run.writeBigUInt64LE(addressOf(ctx), 48);
    bpfSyscall(BPF_PROG_TEST_RUN, run);
    return ctx.readBigUInt64LE(0);
  } finally {
    close(fd);
  }
}

const slotAt = (i: number): number => HDR.SIZE + i * SLOT.SIZE;

export function listEntries(table: Buffer): RecentEntry[] {
  const out: RecentEntry[] = [];
  for (let i = 0; i < LIST_TOT; i++) {
    const at = slotAt(i);
    if (table[at + SLOT.USED] === 0) continue;
    const n = table.readUInt16LE(at + SLOT.NSTAMPS);
    out.push({
      slot: i,
      addr: [...table.subarray(at + SLOT.ADDR, at + SLOT.ADDR + 4)].join('.'),
      ttl: table[at + SLOT.TTL] ?? 0,
      index: table.readUInt16LE(at + SLOT.INDEX),
      stamps: Array.from({ length: n }, (_, k) => table.readBigUInt64LE(at + SLOT.STAMPS + 8 * k)),
      seq: table.readBigUInt64LE(at + SLOT.SEQ),
    });
  }
  return out;
}

/** recent_seq_show's lines for every entry of `table`. */
export function formatList(table: Buffer): string {
  const nmask = table.readUInt32LE(HDR.NMASK);
  return listEntries(table)
    .map((e) => {
      const last = e.stamps[(e.index - 1) & nmask] ?? 0n;
      const all = e.stamps.map((s, k) => `${k ? ',' : ''} ${s}`).join('');
      return `src=${e.addr} ttl: ${e.ttl} last_seen: ${last} oldest_pkt: ${e.index}${all}\n`;
    })
    .join('');
}

/** in4_pton up to a newline: four decimal octets, nothing else. */
function parseDotted(s: string): Buffer | undefined {
  const text = s.split('\n')[0] ?? '';
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return undefined;
  }
  return Buffer.from(parts.map(Number));
}

/**
 * recent_mt_proc_write on a copy of the list: the new list, or an error as the kernel's errno
 * sentence ("EINVAL ...").
 */
export function writeList(table: Buffer, command: string, now: bigint): Buffer | string {
  const t = Buffer.from(table);
  const c = command[0];
  if (c === '/') {
    for (let i = 0; i < LIST_TOT; i++) t[slotAt(i) + SLOT.USED] = 0;
    t.writeUInt32LE(0, HDR.ENTRIES);
    return t;
  }
  if (c !== '+' && c !== '-') return 'EINVAL: need "+ip", "-ip" or "/"';
  const rest = command.slice(1);
  if (rest.includes(':')) return 'EINVAL: IPv6 addresses are not kept in IPv4 lists here';
  const addr = parseDotted(rest);
  if (!addr) return 'EINVAL: illegal address';
  const entries = listEntries(t);
  const found = entries.find((e) => e.addr === [...addr].join('.'));
  const bumpSeq = (at: number): void => {
    const seq = t.readBigUInt64LE(HDR.SEQ) + 1n;
    t.writeBigUInt64LE(seq, HDR.SEQ);
    t.writeBigUInt64LE(seq, at + SLOT.SEQ);
  };
  if (found) {
    const at = slotAt(found.slot);
    if (c === '-') {
      t[at + SLOT.USED] = 0;
      t.writeUInt32LE(t.readUInt32LE(HDR.ENTRIES) - 1, HDR.ENTRIES);
      return t;
    }
    // recent_entry_update
    const index = found.index & t.readUInt32LE(HDR.NMASK);
    t.writeBigUInt64LE(now, at + SLOT.STAMPS + 8 * index);
    t.writeUInt16LE(index + 1, at + SLOT.INDEX);
    if (index + 1 > t.readUInt16LE(at + SLOT.NSTAMPS))
      t.writeUInt16LE(index + 1, at + SLOT.NSTAMPS);
    bumpSeq(at);
    return t;
  }
  if (c === '-') return t;
  // recent_entry_init with ttl 0, the LRU head evicted when the list is full
  let free = -1;
  for (let i = 0; i < LIST_TOT && free < 0; i++) if (t[slotAt(i) + SLOT.USED] === 0) free = i;
  if (t.readUInt32LE(HDR.ENTRIES) >= LIST_TOT || free < 0) {
    const lru = entries.reduce((a, b) => (b.seq < a.seq ? b : a));
    t[slotAt(lru.slot) + SLOT.USED] = 0;
    t.writeUInt32LE(t.readUInt32LE(HDR.ENTRIES) - 1, HDR.ENTRIES);
    free = lru.slot;
  }
  const at = slotAt(free);
  t.fill(0, at, at + SLOT.SIZE);
  addr.copy(t, at + SLOT.ADDR);
  t[at + SLOT.USED] = 1;
  t.writeUInt16LE(1, at + SLOT.INDEX);
  t.writeUInt16LE(1, at + SLOT.NSTAMPS);
  t.writeBigUInt64LE(now, at + SLOT.STAMPS);
  bumpSeq(at);
  t.writeUInt32LE(t.readUInt32LE(HDR.ENTRIES) + 1, HDR.ENTRIES);
  return t;
}

/** The list in `slot` of the recent map `fd`: listed, or changed by `command` first. */
export function recentList(fd: number, slot: number, command?: string): string {
  const key = u32(slot);
  const table = mapLookupLocked(fd, key, TABLE_SIZE);
  if (command === undefined) return formatList(table);
  const next = writeList(table, command, jiffies());
  if (typeof next === 'string') throw new Error(next);
  mapUpdate(fd, key, next, BPF_F_LOCK);
  return '';
}
