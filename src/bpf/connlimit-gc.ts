// connlimit's sweep (find_or_evict over every counted tuple): each tuple's conntrack entry is
// read with bpf_probe_read_kernel — struct nf_conn lives in a SLAB_TYPESAFE_BY_RCU cache, so a
// freed entry reads as one with no references or another tuple — and a tuple whose connection
// is gone (freed, reused, dying, expired, never confirmed two jiffies after it was counted) or
// TCP-closed (TIME_WAIT, CLOSE) stops counting. Emptied lists go after a second unused, as the
// kernel frees empty tree nodes when it next passes them.
import {
  AtomicAdd,
  Call,
  Exit,
  FP,
  Ja,
  JEq,
  JGt,
  JLt,
  JNe,
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
  Size,
  StoreMem,
  Sub,
  withLabel,
  type Insn,
} from './asm/index.js';
import {
  CONNLIMIT_CONNS,
  CONNLIMIT_COUNTS,
  connLayout,
  CVAL,
  findConn,
  TKEY,
  TVAL,
  type ConnLayout,
} from './codegen/connlimit.js';
import { loadSweep, runSweep } from './sweep.js';
import { close } from './syscall.js';
import { vmlinuxBtf } from './vmlinux.js';

const BPF_FUNC_map_lookup_elem = 1;
const BPF_FUNC_map_delete_elem = 3;
const BPF_FUNC_jiffies64 = 118;
const BPF_FUNC_for_each_map_elem = 164;
/** Jiffies an emptied list waits before it goes (a second at HZ 250). */
const EMPTY_LINGER = 250;

function sweepProgram(l: ConnLayout): Insn[] {
  const [now, ct, word, buf] = [-8, -16, -24, -72];
  let n = 0;
  const label = (h: string): string => `${h}_${n++}`;
  return [
    withLabel(LoadMapPtr(R1, CONNLIMIT_CONNS), 'main'),
    LoadFunc(R2, 'sweep'),
    Mov.imm(R3, 0),
    Mov.imm(R4, 0),
    Call.helper(BPF_FUNC_for_each_map_elem),
    LoadMapPtr(R1, CONNLIMIT_COUNTS),
    LoadFunc(R2, 'empty'),
    Mov.imm(R3, 0),
    Mov.imm(R4, 0),
    Call.helper(BPF_FUNC_for_each_map_elem),
    Mov.imm(R0, 1),
    Exit(),
    // sweep(map, key, value, ctx): one counted tuple
    withLabel(Mov.reg(R6, R2), 'sweep'),
    Mov.reg(R7, R3),
    Call.helper(BPF_FUNC_jiffies64),
    StoreMem(FP, now, R0, Size.DW),
    LoadMem(R1, R7, TVAL.CT, Size.DW),
    StoreMem(FP, ct, R1, Size.DW),
    ...findConn(l, {
      ctAt: ct,
      tuple: [R6, TKEY.TUPLE],
      now,
      buf,
      word,
      notFound: 'young',
      closed: 'gone',
      label,
    }),
    Ja('keep'),
    // not in the conntrack table: find_or_evict keeps it for two jiffies
    withLabel(LoadMem(R1, FP, now, Size.DW), 'young'),
    LoadMem(R2, R7, TVAL.ADDED, Size.DW),
    Sub.reg(R1, R2),
    JLt.imm(R1, 2, 'keep'),
    // gone: out of the map, and its list counts one less (once, whoever deletes it)
    withLabel(LoadMapPtr(R1, CONNLIMIT_CONNS), 'gone'),
    Mov.reg(R2, R6),
    Call.helper(BPF_FUNC_map_delete_elem),
    JNe.imm(R0, 0, 'keep'),
    LoadMapPtr(R1, CONNLIMIT_COUNTS),
    Mov.reg(R2, R6),
    Call.helper(BPF_FUNC_map_lookup_elem),
    JEq.imm(R0, 0, 'keep'),
    Mov.imm(R1, -1),
    AtomicAdd(R0, CVAL.COUNT, R1, Size.W),
    withLabel(Mov.imm(R0, 0), 'keep'),
    Exit(),
    // empty(map, key, value, ctx): a list with nothing counted, unused for a while
    withLabel(LoadMem(R1, R3, CVAL.COUNT, Size.W), 'empty'),
    JNe.imm(R1, 0, 'kept'),
    Mov.reg(R6, R2),
    Mov.reg(R7, R3),
    Call.helper(BPF_FUNC_jiffies64),
    LoadMem(R1, R7, CVAL.USED, Size.W),
    Sub.reg32(R0, R1),
    JGt.imm32(R0, EMPTY_LINGER, 'unused'),
    Ja('kept'),
    withLabel(LoadMapPtr(R1, CONNLIMIT_COUNTS), 'unused'),
    Mov.reg(R2, R6),
    Call.helper(BPF_FUNC_map_delete_elem),
    withLabel(Mov.imm(R0, 0), 'kept'),
    Exit(),
  ];
}

/** How often the counted tuples are checked against conntrack. */
export const SWEEP_MS = 50;

/** One namespace's sweep over its connlimit maps, every `periodMs`. */
export class ConnlimitGc {
  private prog: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  sweeps = 0;

  constructor(
    private readonly connsFd: number,
    private readonly countsFd: number,
    private readonly onError: (e: unknown) => void,
    private readonly periodMs = SWEEP_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      try {
        this.sweep();
      } catch (e) {
        this.onError(e);
      }
    }, this.periodMs);
    this.timer.unref();
  }

  sweep(): void {
    this.prog ??= loadSweep(
      'bpf_cl_gc',
      sweepProgram(connLayout(vmlinuxBtf())),
      new Map([
        [CONNLIMIT_CONNS, this.connsFd],
        [CONNLIMIT_COUNTS, this.countsFd],
      ]),
      ['sweep', 'empty'],
    );
    runSweep(this.prog);
    this.sweeps++;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.prog !== undefined) close(this.prog);
    this.prog = undefined;
  }
}
