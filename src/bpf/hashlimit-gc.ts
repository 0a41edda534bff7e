// The hashlimit tables' garbage collector (htable_gc): every table's gc_interval, its entries
// whose expiry has come (time_after_eq(jiffies, expires)) leave the entries map and the table's
// count, so a later packet of that flow starts a fresh bucket and `max` counts what the kernel
// would. The sweep is a small BPF program the helper test-runs: it walks the entries map with
// bpf_for_each_map_elem, reads jiffies there as the kernel's sweep does per entry, and drops
// entries of tables that are gone. Timing is the helper's timer, as the kernel's is a deferrable
// work item: both run at about gc_interval, neither exactly.
import {
  Add,
  AtomicAdd,
  Call,
  Exit,
  FP,
  JEq,
  JSLt,
  LoadFunc,
  LoadMapPtr,
  LoadMem,
  Mov,
  R0,
  R1,
  R2,
  R3,
  R4,
  R6,
  R7,
  R8,
  Rsh,
  And,
  Size,
  StoreImm,
  Sub,
  withLabel,
  type Insn,
} from './asm/index.js';
import { ENT, HASHLIMIT_ENTRIES, HASHLIMIT_TABLES, TABLE_SLOTS, TBL } from './codegen/hashlimit.js';
import { loadSweep, runSweep } from './sweep.js';
import { close, mapCreate, mapKeys, mapLookup, MapType, mapUpdate, u32 } from './syscall.js';

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_map_delete_elem = 3;
const BPF_FUNC_jiffies64 = 118;
const BPF_FUNC_for_each_map_elem = 164;

/** The sweep's argument: a bit per table slot whose gc_interval has come. */
const ARGS = 'hl_gc_args';
const ARGS_BYTES = TABLE_SLOTS / 8;

/**
 * main: for_each(entries, sweep). sweep(map, key, value, ctx): no table → drop; table due and
 * expired → drop and uncount.
 */
function sweepProgram(): Insn[] {
  return [
    withLabel(LoadMapPtr(R1, HASHLIMIT_ENTRIES), 'main'),
    LoadFunc(R2, 'sweep'),
    Mov.imm(R3, 0),
    Mov.imm(R4, 0),
    Call.helper(BPF_FUNC_for_each_map_elem),
    Mov.imm(R0, 1),
    Exit(),
    // R2 = key (its first word is the table's slot, the tables map's key), R3 = value
    withLabel(Mov.reg(R6, R2), 'sweep'),
    Mov.reg(R7, R3),
    LoadMapPtr(R1, HASHLIMIT_TABLES),
    Mov.reg(R2, R6),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, 'drop'),
    Mov.reg(R8, R0),
    StoreImm(FP, -8, 0, Size.W),
    LoadMapPtr(R1, ARGS),
    Mov.reg(R2, FP),
    Add.imm(R2, -8),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, 'keep'),
    LoadMem(R1, R6, 0, Size.W),
    And.imm(R1, TABLE_SLOTS - 1),
    Mov.reg(R2, R1),
    Rsh.imm(R2, 3),
    Add.reg(R0, R2),
    LoadMem(R2, R0, 0, Size.B),
    And.imm(R1, 7),
    Rsh.reg(R2, R1),
    And.imm(R2, 1),
    JEq.imm(R2, 0, 'keep'),
    Call.helper(BPF_FUNC_jiffies64),
    LoadMem(R1, R7, ENT.EXPIRES, Size.DW),
    Sub.reg(R0, R1),
    JSLt.imm(R0, 0, 'keep'),
    Mov.imm(R1, -1),
    AtomicAdd(R8, TBL.COUNT, R1, Size.W),
    withLabel(LoadMapPtr(R1, HASHLIMIT_ENTRIES), 'drop'),
    Mov.reg(R2, R6),
    Call.helper(BPF_FUNC_map_delete_elem),
    withLabel(Mov.imm(R0, 0), 'keep'),
    Exit(),
  ];
}

interface Table {
  readonly name: string;
  readonly interval: number;
  due: number;
}

/** One namespace's collector, over its two hashlimit maps. */
export class HashlimitGc {
  private prog: number | undefined;
  private args: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly tables = new Map<number, Table>();
  /** Sweeps done, for tests. */
  sweeps = 0;

  constructor(
    private readonly tablesFd: number,
    private readonly entriesFd: number,
    private readonly onError: (e: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Begins sweeping: each table every gc_interval from when it was first seen. */
  start(): void {
    this.tick();
  }

  private load(): number {
    if (this.prog !== undefined) return this.prog;
    this.args = mapCreate({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: ARGS_BYTES,
      maxEntries: 1,
      name: 'bpf_hl_gc_args',
    });
    this.prog = loadSweep(
      'bpf_hl_gc',
      sweepProgram(),
      new Map([
        [HASHLIMIT_TABLES, this.tablesFd],
        [HASHLIMIT_ENTRIES, this.entriesFd],
        [ARGS, this.args],
      ]),
    );
    return this.prog;
  }

  /** The tables the map holds now, by slot. */
  private scan(): void {
    const seen = new Set<number>();
    for (const k of mapKeys(this.tablesFd, 4)) {
      const slot = k.readUInt32LE(0);
      let v: Buffer;
      try {
        v = mapLookup(this.tablesFd, k, TBL.BYTES);
      } catch {
        continue; // dropped meanwhile
      }
      seen.add(slot);
      const name = v.toString('latin1', TBL.NAME, TBL.BYTES).replace(/\0.*$/s, '');
      const interval = v.readUInt32LE(TBL.GC_INTERVAL);
      const had = this.tables.get(slot);
      if (had && had.name === name && had.interval === interval) continue;
      this.tables.set(slot, { name, interval, due: this.now() + interval });
    }
    for (const slot of this.tables.keys()) if (!seen.has(slot)) this.tables.delete(slot);
  }

  /** Sweeps the tables that are due now; an empty set sweeps only what has no table. */
  sweep(due: readonly number[]): void {
    const prog = this.load();
    const bits = Buffer.alloc(ARGS_BYTES);
    for (const slot of due) bits[slot >> 3] = (bits[slot >> 3] ?? 0) | (1 << (slot & 7));
    mapUpdate(this.args as number, u32(0), bits);
    runSweep(prog);
    this.sweeps++;
  }

  private tick(): void {
    this.timer = undefined;
    try {
      this.scan();
      const t = this.now();
      const due = [...this.tables].filter(([, x]) => x.due <= t).map(([slot]) => slot);
      if (due.length > 0) {
        this.sweep(due);
        for (const slot of due) {
          const x = this.tables.get(slot);
          if (x) x.due = this.now() + x.interval;
        }
      }
    } catch (e) {
      this.onError(e);
    }
    const next = Math.min(...[...this.tables.values()].map((x) => x.due), this.now() + RESCAN_MS);
    this.timer = setTimeout(() => this.tick(), Math.max(1, next - this.now()));
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.prog !== undefined) close(this.prog);
    if (this.args !== undefined) close(this.args);
    this.prog = undefined;
    this.args = undefined;
  }
}

/** How often a collector looks for tables a replace created. */
const RESCAN_MS = 1000;
