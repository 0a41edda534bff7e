// -m tos: struct xt_tos_match_info (linux/netfilter/xt_dscp.h), "tos" revision 1 of xt_dscp.c,
// registered per family, no checkentry. Matches when ((iph->tos & tos_mask) == tos_value) ^
// invert. The kernel no longer has revision 0 (ipt_tos_info), so iptables always sends 1.
import { OptionError, readOptions, strtoul } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { hex2, inv, payload, zeroed } from './util.js';
import { LoadMem, R1, Size, type Insn } from '../../bpf/asm/index.js';
import { anyBits, equalHolds, unlessInverted } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

export interface TosMatch {
  readonly mask: number;
  readonly value: number;
  readonly invert: number;
}

/** The TOS names iptables knows (tos_values.c); a name implies mask 0x3f in revision 1. */
export const TOS_NAMES: readonly (readonly [number, string])[] = [
  [0x10, 'Minimize-Delay'],
  [0x08, 'Maximize-Throughput'],
  [0x04, 'Maximize-Reliability'],
  [0x02, 'Minimize-Cost'],
  [0x00, 'Normal-Service'],
];

/** The mask a symbolic --tos gets in revision 1 (the option's .max). */
const SYMBOL_MASK = 0x3f;
const SIZE = 3;

export const tos: Extension<TosMatch> = {
  kind: 'match',
  name: 'tos',
  revisions: [1],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): TosMatch {
    const b = payload(data, SIZE);
    return { mask: b[0] ?? 0, value: b[1] ?? 0, invert: b[2] ?? 0 };
  },
  encode(v: TosMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt8(v.mask, 0);
    b.writeUInt8(v.value, 1);
    b.writeUInt8(v.invert, 2);
    return b;
  },
  check(): void {},
  format(v: TosMatch): string {
    return `${inv(v.invert !== 0)}--tos ${hex2(v.value)}/${hex2(v.mask)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "tos"', options, { tos: { names: ['tos'], invert: true } });
    if (o.tos === undefined) throw new OptionError('match "tos": --tos is required');
    const [value, mask] = parseTosMask(o.tos.args[0] ?? '', SYMBOL_MASK, 'match "tos": --tos');
    return { extension: tos, revision: 1, value: { mask, value, invert: o.tos.invert ? 1 : 0 } };
  },
  engine: {
    recordSize: SIZE,
    record: (v: TosMatch) => tos.encode(v, 1),
    // ((iph->tos & tos_mask) == tos_value) ^ !!invert
    evaluate: (cg: EvalContext): Insn[] => [
      ...equalHolds([LoadMem(R1, STATE, S.IP + 1, Size.B)], 1, Size.B, cg, 0),
      ...unlessInverted(anyBits(2), cg),
    ],
  },
};

/**
 * XTTYPE_TOSMASK (xtopt_parse_tosmask): a leading number up to 255 means `value[/mask]` with
 * mask 0xff by default; anything else must be a TOS name (any case), which gets `symbolMask`.
 * A number above 255 is therefore reported as an unknown name, as iptables does.
 */
export function parseTosMask(s: string, symbolMask: number, what: string): [number, number] {
  const head = strtoul(s);
  if (head !== undefined && head.value <= 0xffn) {
    const rest = s.slice(head.end);
    if (rest === '') return [Number(head.value), 0xff];
    const mask = rest.startsWith('/') ? strtoul(rest.slice(1)) : undefined;
    if (mask === undefined || mask.value > 0xffn || mask.end !== rest.length - 1) {
      throw new OptionError(`${what}: illegal value "${s}"`);
    }
    return [Number(head.value), Number(mask.value)];
  }
  const named = TOS_NAMES.find(([, n]) => n.toLowerCase() === s.toLowerCase());
  if (named === undefined) throw new OptionError(`${what}: symbolic name "${s}" is unknown`);
  return [named[0], symbolMask];
}
