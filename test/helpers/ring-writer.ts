// A BPF program (netfilter type, for BPF_PROG_TEST_RUN) that writes one ring buffer record per
// run: `size` bytes reserved, each 8-byte word set to `word` (sign-extended, so -1 is all 0xff),
// then submitted or discarded. It returns 1, or 0 when the ring had no room.
import {
  assemble,
  Call,
  Exit,
  JEq,
  LoadMapPtr,
  Mov,
  R0,
  R1,
  R2,
  R3,
  R6,
  Size,
  StoreImm,
  withLabel,
} from '../../src/bpf/asm/index.js';
import { progLoad } from '../../src/bpf/syscall.js';

const RINGBUF_RESERVE = 131;
const RINGBUF_SUBMIT = 132;
const RINGBUF_DISCARD = 133;

export function ringWriter(ring: number, size: number, word: number, discard = false): number {
  return progLoad({
    type: 32,
    expectedAttachType: 45,
    name: `rb_${size}`,
    insns: assemble(
      [
        LoadMapPtr(R1, 'ring'),
        Mov.imm(R2, size),
        Mov.imm(R3, 0),
        Call.helper(RINGBUF_RESERVE),
        JEq.imm(R0, 0, 'out'),
        Mov.reg(R6, R0),
        ...Array.from({ length: size / 8 }, (_, k) => StoreImm(R6, 8 * k, word, Size.DW)),
        Mov.reg(R1, R6),
        Mov.imm(R2, 0),
        Call.helper(discard ? RINGBUF_DISCARD : RINGBUF_SUBMIT),
        Mov.imm(R0, 1),
        withLabel(Exit(), 'out'),
      ],
      { maps: () => ring },
    ).bytes,
  });
}
