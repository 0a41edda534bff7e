// Raw views of entries inside an entry blob, shared by validate.ts (the kernel's checks) and
// table.ts (blob ⇄ IR). Offsets are relative to the start of the entry blob. The functions read
// exactly the bytes the kernel reads, so they are only safe on entries that passed the
// structural checks they document.
import {
  NF_INET_NUMHOOKS,
  SIZEOF_IPT_ENTRY,
  SIZEOF_IPT_IP,
  SIZEOF_XT_ENTRY_TARGET,
} from './abi.js';

export const OFF_TARGET_OFFSET = 88;
export const OFF_NEXT_OFFSET = 90;
export const OFF_COMEFROM = 92;
export const OFF_COUNTERS = 96;

export function targetOffsetAt(blob: Buffer, pos: number): number {
  return blob.readUInt16LE(pos + OFF_TARGET_OFFSET);
}

export function nextOffsetAt(blob: Buffer, pos: number): number {
  return blob.readUInt16LE(pos + OFF_NEXT_OFFSET);
}

/**
 * strcmp(name, want) == 0 for the C string starting at `at` (name[29] then revision and data, as
 * strcmp would run on if there is no NUL). Only the first want.length + 1 bytes matter.
 */
export function cNameIs(blob: Buffer, at: number, want: string): boolean {
  for (let i = 0; i < want.length; i++) {
    if (blob[at + i] !== want.charCodeAt(i)) return false;
  }
  return blob[at + want.length] === 0;
}

/** The target's u.user.name equals `want` (entry at `pos`; needs target_offset + 32 <= next_offset). */
export function targetNameIs(blob: Buffer, pos: number, want: string): boolean {
  return cNameIs(blob, pos + targetOffsetAt(blob, pos) + 2, want);
}

/** xt_standard_target.verdict, read as the kernel does whatever the target is. */
export function verdictAt(blob: Buffer, pos: number): number {
  return blob.readInt32LE(pos + targetOffsetAt(blob, pos) + SIZEOF_XT_ENTRY_TARGET);
}

/** ip_tables.c unconditional(): no matches and an all-zero ipt_ip. */
export function unconditional(blob: Buffer, pos: number): boolean {
  if (targetOffsetAt(blob, pos) !== SIZEOF_IPT_ENTRY) return false;
  for (let i = pos; i < pos + SIZEOF_IPT_IP; i++) if (blob[i] !== 0) return false;
  return true;
}

/** xt_find_jump_offset: binary search of a sorted offset table. */
export function findJumpOffset(offsets: readonly number[], target: number): boolean {
  let low = 0;
  let hi = offsets.length;
  while (hi > low) {
    const m = (low + hi) >>> 1;
    const v = offsets[m] ?? 0;
    if (v > target) hi = m;
    else if (v < target) low = m + 1;
    else return true;
  }
  return false;
}

/**
 * ip_tables.c mark_source_chains(): walks every valid hook's chain without recursion, using
 * back pointers, and records in comefrom the hooks each entry is reachable from. Returns the
 * comefrom of every entry at index offset / 8, or null where the kernel returns 0 (→ ELOOP): a
 * loop, a jump to something that is not an entry start, or falling off the end of the table.
 *
 * `offsets` are the entry start offsets in order, each 8-aligned (check_entry_size_and_hooks
 * refuses others); `hookEntry` the validated hook entry points.
 */
export function markSourceChains(
  blob: Buffer,
  size: number,
  validHooks: number,
  hookEntry: readonly number[],
  offsets: readonly number[],
): Int32Array | null {
  // Per entry by offset / 8: arrays, not maps, as this walks every entry of every command.
  const slots = (size >> 3) + 1;
  const from = new Int32Array(slots);
  const backs = new Int32Array(slots);
  for (const off of offsets) {
    if (off % 8 !== 0 || off >= size) throw new Error(`entry offset ${off} is not 8-aligned`);
  }
  const busy = 1 << NF_INET_NUMHOOKS;
  const at = (off: number): number => off >> 3;

  for (let hook = 0; hook < NF_INET_NUMHOOKS; hook++) {
    if (!(validHooks & (1 << hook))) continue;
    let pos = hookEntry[hook] ?? 0;
    backs[at(pos)] = pos;
    for (;;) {
      const was = from[at(pos)] as number;
      const visited = (was & (1 << hook)) !== 0;
      if (was & busy) return null;
      from[at(pos)] = was | (1 << hook) | busy;

      if (
        (unconditional(blob, pos) && targetNameIs(blob, pos, '') && verdictAt(blob, pos) < 0) ||
        visited
      ) {
        // Return: backtrack through the last big jump.
        let oldpos: number;
        let done = false;
        for (;;) {
          from[at(pos)] = (from[at(pos)] as number) ^ busy;
          oldpos = pos;
          pos = backs[at(pos)] as number;
          backs[at(oldpos)] = 0;
          if (pos === oldpos) {
            done = true;
            break;
          }
          if (oldpos !== pos + nextOffsetAt(blob, pos)) break;
        }
        if (done) break;
        const step = nextOffsetAt(blob, pos);
        if (pos + step >= size) return null;
        backs[at(pos + step)] = pos;
        pos += step;
      } else {
        // Only a standard target's verdict is a jump; other targets may be too short to read.
        const standard = targetNameIs(blob, pos, '');
        let newpos = standard ? verdictAt(blob, pos) : -1;
        if (standard && newpos >= 0) {
          if (!findJumpOffset(offsets, newpos)) return null;
        } else {
          newpos = pos + nextOffsetAt(blob, pos);
          if (newpos >= size) return null;
        }
        backs[at(newpos)] = pos;
        pos = newpos;
      }
    }
  }
  return from;
}
