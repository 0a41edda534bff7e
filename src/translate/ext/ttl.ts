// -m ttl: struct ipt_ttl_info (linux/netfilter_ipv4/ipt_ttl.h), "ttl" revision 0 of xt_hl.c,
// IPv4 only, no checkentry. An unknown mode never matches (the kernel's switch falls through to
// false); it is still accepted.
import { OptionError, parseUint, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import {
  Ja,
  JEq,
  JGe,
  JLe,
  JNe,
  LoadMem,
  Nop,
  R1,
  R2,
  R3,
  Size,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export const IPT_TTL_EQ = 0;
export const IPT_TTL_NE = 1;
export const IPT_TTL_LT = 2;
export const IPT_TTL_GT = 3;

export interface TtlMatch {
  readonly mode: number;
  readonly ttl: number;
}

const SIZE = 2;

export const ttl: Extension<TtlMatch> = {
  kind: 'match',
  name: 'ttl',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): TtlMatch {
    const b = payload(data, SIZE);
    return { mode: b[0] ?? 0, ttl: b[1] ?? 0 };
  },
  encode(v: TtlMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.mode, 0);
    b.writeUInt8(v.ttl, 1);
    return b;
  },
  check(): void {},
  format(v: TtlMatch): string {
    const opt = ['--ttl-eq', '! --ttl-eq', '--ttl-lt', '--ttl-gt'][v.mode] ?? `--ttl-mode${v.mode}`;
    return `${opt} ${v.ttl}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "ttl"', options, {
      eq: { names: ['ttl-eq'], invert: true },
      lt: { names: ['ttl-lt'] },
      gt: { names: ['ttl-gt'] },
    });
    const set = [o.eq, o.lt, o.gt].filter((x) => x !== undefined);
    const opt = set[0];
    if (opt === undefined || set.length > 1) {
      throw new OptionError('match "ttl": exactly one of --ttl-eq, --ttl-lt, --ttl-gt');
    }
    const mode =
      opt === o.eq
        ? opt.invert
          ? IPT_TTL_NE
          : IPT_TTL_EQ
        : opt === o.lt
          ? IPT_TTL_LT
          : IPT_TTL_GT;
    const value: TtlMatch = {
      mode,
      ttl: parseUint(opt.args[0] ?? '', 0, 255, `match "ttl": --${opt.name}`),
    };
    return { extension: ttl, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: TtlMatch) => ttl.encode(v, 0),
    evaluate(cg: EvalContext): Insn[] {
      const [eq, ne, lt, gt] = [
        cg.label('ttl_eq'),
        cg.label('ttl_ne'),
        cg.label('ttl_lt'),
        cg.label('ttl_gt'),
      ];
      const done = cg.label('ttl_done');
      return [
        LoadMem(R1, STATE, S.IP + 8, Size.B),
        LoadMem(R2, RECORD, 1, Size.B),
        LoadMem(R3, RECORD, 0, Size.B),
        JEq.imm(R3, IPT_TTL_EQ, eq),
        JEq.imm(R3, IPT_TTL_NE, ne),
        JEq.imm(R3, IPT_TTL_LT, lt),
        JEq.imm(R3, IPT_TTL_GT, gt),
        // ttl_mt returns false for modes it does not know.
        Ja(cg.noMatch),
        withLabel(JNe.reg(R1, R2, cg.noMatch), eq),
        Ja(done),
        withLabel(JEq.reg(R1, R2, cg.noMatch), ne),
        Ja(done),
        withLabel(JGe.reg(R1, R2, cg.noMatch), lt),
        Ja(done),
        withLabel(JLe.reg(R1, R2, cg.noMatch), gt),
        withLabel(Nop(), done),
      ];
    },
  },
};
