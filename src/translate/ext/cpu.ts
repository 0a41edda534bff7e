// -m cpu: struct xt_cpu_info (linux/netfilter/xt_cpu.h), revision 0, family UNSPEC.
// cpu_mt_check refuses an invert other than 0 or 1 (EINVAL). Matches (cpu ==
// smp_processor_id()) ^ invert.
import { EINVAL, XtError } from '../errno.js';
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { inv, payload, zeroed } from './util.js';
import { Call, Mov, R0, R1, Size, type Insn } from '../../bpf/asm/index.js';
import { equalHolds, unlessXor } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';

const BPF_FUNC_get_smp_processor_id = 8;

export interface CpuMatch {
  readonly cpu: number;
  readonly invert: number;
}

const SIZE = 8;

export const cpu: Extension<CpuMatch> = {
  kind: 'match',
  name: 'cpu',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): CpuMatch {
    const b = payload(data, SIZE);
    return { cpu: b.readUInt32LE(0), invert: b.readUInt32LE(4) };
  },
  encode(v: CpuMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.cpu >>> 0, 0);
    b.writeUInt32LE(v.invert >>> 0, 4);
    return b;
  },
  check(v: CpuMatch): void {
    if (v.invert > 1) throw new XtError(EINVAL, `match "cpu": invert ${v.invert}`);
  },
  format(v: CpuMatch): string {
    return `${inv(v.invert !== 0)}--cpu ${v.cpu}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "cpu"', options, { cpu: { names: ['cpu'], invert: true } });
    if (o.cpu === undefined) throw new OptionError('match "cpu": --cpu is required');
    const value = {
      cpu: parseUint(o.cpu.args[0] ?? '', 0, 0xffffffff, 'match "cpu": --cpu'),
      invert: o.cpu.invert ? 1 : 0,
    };
    return { extension: cpu, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: CpuMatch) => cpu.encode(v, 0),
    // (info->cpu == raw_smp_processor_id()) ^ info->invert
    evaluate: (cg: EvalContext): Insn[] => [
      ...equalHolds([Call.helper(BPF_FUNC_get_smp_processor_id), Mov.reg(R1, R0)], 0, Size.W, cg),
      ...unlessXor(4, cg, Size.W),
    ],
  },
};
