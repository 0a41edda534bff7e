// -m mac: struct xt_mac_info (linux/netfilter/xt_mac.h), revision 0, registered per family with
// .hooks = PREROUTING, INPUT and FORWARD (the only hooks that see an incoming Ethernet header)
// and no checkentry. The kernel matches `ether_addr_equal(h_source, srcaddr) ^ invert` into a
// bool, so any non-zero invert other than 1 makes the match always true.
import { NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_PRE_ROUTING } from '../abi.js';
import { OptionError, readOptions } from './args.js';
import type { CheckContext, Extension, SaveOption } from './types.js';
import { payload, requireHooks, zeroed } from './util.js';
import {
  Add,
  Call,
  FP,
  JEq,
  JNe,
  JSLt,
  LoadMem,
  Mov,
  Nop,
  R0,
  R1,
  R2,
  R3,
  R4,
  Size,
  Sub,
  withLabel,
  type Insn,
} from '../../bpf/asm/index.js';
import { unlessXor } from '../../bpf/codegen/cmp.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';
import { BPF_FUNC_probe_read_kernel, loadSkb, SCRATCH_USE } from '../../bpf/codegen/packet.js';

export const ETH_ALEN = 6;
export const MAC_HOOKS =
  (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD);

export interface MacMatch {
  /** The source address's six bytes. */
  readonly srcaddr: readonly number[];
  /** The C int as stored (read unsigned); iptables writes 1 for `!`. */
  readonly invert: number;
}

/** Six bytes, two of padding, an int. */
const SIZE = 12;
const INVERT = 8;

export const mac: Extension<MacMatch> = {
  kind: 'match',
  name: 'mac',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): MacMatch {
    const b = payload(data, SIZE);
    return { srcaddr: [...b.subarray(0, ETH_ALEN)], invert: b.readUInt32LE(INVERT) };
  },
  encode(v: MacMatch): Buffer {
    const b = zeroed(SIZE);
    for (let i = 0; i < ETH_ALEN; i++) b[i] = v.srcaddr[i] ?? 0;
    b.writeUInt32LE(v.invert >>> 0, INVERT);
    return b;
  },
  check(_v: MacMatch, _revision: number, ctx: CheckContext): void {
    requireHooks(ctx, MAC_HOOKS, 'match "mac"');
  },
  format(v: MacMatch): string {
    return `${v.invert !== 0 ? '! ' : ''}--mac-source ${macText(v.srcaddr)}`;
  },
  parse(options: readonly SaveOption[]) {
    const what = 'match "mac"';
    const o = readOptions(what, options, { src: { names: ['mac-source'], invert: true } });
    if (o.src === undefined) throw new OptionError(`${what}: --mac-source is required`);
    const value: MacMatch = {
      srcaddr: parseMac(o.src.args[0] ?? '', `${what}: --mac-source`),
      invert: o.src.invert ? 1 : 0,
    };
    return { extension: mac, revision: 0, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: MacMatch) => mac.encode(v, 0),
    evaluate: macCode,
  },
};

const ARPHRD_ETHER = 1;
const ETH_HLEN = 14;

/**
 * mac_mt: an Ethernet skb->dev, a link-layer header set and at least ETH_HLEN long before the
 * network header, whose source address (read from skb->head + mac_header + 6) equals the
 * record's; the bool then XORed with the int invert.
 */
function macCode(cg: EvalContext): Insn[] {
  const k = cg.kernel;
  const addr = cg.scratch + SCRATCH_USE.FREE;
  const differ = cg.label('mac_ne');
  return [
    loadSkb(cg),
    LoadMem(R2, R1, k.memberOffset('sk_buff', 'dev'), Size.DW),
    JEq.imm(R2, 0, cg.noMatch),
    LoadMem(R3, R2, k.memberOffset('net_device', 'type'), Size.H),
    JNe.imm(R3, ARPHRD_ETHER, cg.noMatch),
    LoadMem(R3, R1, k.memberOffset('sk_buff', 'mac_header'), Size.H),
    JEq.imm(R3, 0xffff, cg.noMatch),
    LoadMem(R4, R1, k.memberOffset('sk_buff', 'network_header'), Size.H),
    Sub.reg(R4, R3),
    JSLt.imm(R4, ETH_HLEN, cg.noMatch),
    LoadMem(R1, R1, k.memberOffset('sk_buff', 'head'), Size.DW),
    Add.reg(R3, R1),
    Add.imm(R3, ETH_ALEN),
    Mov.reg(R1, FP),
    Add.imm(R1, addr),
    Mov.imm(R2, ETH_ALEN),
    Call.helper(BPF_FUNC_probe_read_kernel),
    JNe.imm(R0, 0, cg.noMatch),
    Mov.imm(R4, 0),
    LoadMem(R1, FP, addr, Size.W),
    LoadMem(R2, RECORD, 0, Size.W),
    JNe.reg(R1, R2, differ),
    LoadMem(R1, FP, addr + 4, Size.H),
    LoadMem(R2, RECORD, 4, Size.H),
    JNe.reg(R1, R2, differ),
    Mov.imm(R4, 1),
    withLabel(Nop(), differ),
    ...unlessXor(INVERT, cg, Size.W),
  ];
}

/** xtables_print_mac: lower-case hex pairs joined by colons. */
export function macText(addr: readonly number[]): string {
  return addr.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * xtopt_parse_ethermac: six colon-separated fields, each what strtoul(…, 16) consumes whole in
 * at most two characters — so an empty field is 0 and a sign is allowed ("-1" is 0xff).
 */
export function parseMac(s: string, what: string): number[] {
  const bad = (): OptionError => new OptionError(`${what}: invalid MAC address "${s}"`);
  const parts = s.split(':');
  if (parts.length !== ETH_ALEN) throw bad();
  return parts.map((p) => {
    if (p === '') return 0;
    const m = /^\s?([+-]?)([0-9a-f]+)$/i.exec(p);
    if (p.length > 2 || m === null) throw bad();
    const v = parseInt(m[2] ?? '', 16);
    return (m[1] === '-' ? -v : v) & 0xff;
  });
}
