// What esp, ah and ipcomp share: a `u32 spis[2]; u8 invflags;` prefix (host order), a check
// that refuses unknown invflags with EINVAL, and libxt_esp's --espspi syntax and save format.
import { EINVAL, XtError } from '../errno.js';
import { parseRangeRC, readOptions } from './args.js';
import type { CheckContext, Engine, Extension, SaveOption } from './types.js';
import { inv, payload, readPad, requireProto, writePad, zeroed } from './util.js';
import { LoadMem, R1, Size, ToBe, type Insn } from '../../bpf/asm/index.js';
import { inRange, requireFirstFragment, requireL4, type RecordBit } from '../../bpf/codegen/cmp.js';
import type { EvalContext } from '../../bpf/codegen/eval.js';
import { S, STATE } from '../../bpf/codegen/state.js';

/** The only invflags bit of all three (XT_ESP_INV_SPI, IPT_AH_INV_SPI, XT_IPCOMP_INV_SPI). */
export const SPI_INV = 0x01;

/** u32 spis[2], u8 invflags (+ ipcomp's u8 hdrres): 9 or 10 bytes padded to 12. */
export const SPI_SIZE = 12;

export interface SpiRange {
  /** Inclusive [lo, hi] of the header's SPI (ipcomp: its 16-bit CPI). */
  readonly spis: readonly [number, number];
  readonly invflags: number;
  /** Struct padding, when not zero (see readPad). */
  readonly pad?: number;
}

/** The range and invflags, and the padding that follows at [padAt, 12). */
export function decodeSpi(data: Buffer, padAt: number): SpiRange & { readonly rest: Buffer } {
  const b = payload(data, SPI_SIZE);
  return {
    spis: [b.readUInt32LE(0), b.readUInt32LE(4)],
    invflags: b[8] ?? 0,
    ...readPad(b, padAt, SPI_SIZE - padAt),
    rest: b,
  };
}

export function encodeSpi(v: SpiRange, padAt: number): Buffer {
  const out = zeroed(SPI_SIZE);
  out.writeUInt32LE(v.spis[0] >>> 0, 0);
  out.writeUInt32LE(v.spis[1] >>> 0, 4);
  out.writeUInt8(v.invflags, 8);
  writePad(out, padAt, SPI_SIZE - padAt, v.pad);
  return out;
}

export function checkSpi(v: SpiRange, what: string): void {
  if ((v.invflags & ~SPI_INV) !== 0) {
    throw new XtError(EINVAL, `${what}: unknown invflags 0x${v.invflags.toString(16)}`);
  }
}

/** esp_save: nothing for [0, 0xffffffff] (so a `!` on it is not shown), else `[! ]--OPT lo[:hi]`. */
export function formatSpi(v: SpiRange, option: string): string {
  const [lo, hi] = v.spis;
  if (lo === 0 && hi === 0xffffffff) return '';
  return `${inv((v.invflags & SPI_INV) !== 0)}--${option} ${lo === hi ? lo : `${lo}:${hi}`}`;
}

/** `--OPT spi[:spi]` (XTTYPE_UINT32RC): a single value is [v, v]; absent is `absent`. */
export function parseSpi(
  opt: SaveOption | undefined,
  absent: readonly [number, number],
  what: string,
): SpiRange {
  if (opt === undefined) return { spis: absent, invflags: 0 };
  const [lo = 0, hi = lo] = parseRangeRC(opt.args[0] ?? '', 0xffffffff, `${what}: --${opt.name}`);
  return { spis: [lo, hi], invflags: opt.invert ? SPI_INV : 0 };
}

/** Where a header keeps its SPI (CPI), and how big the header must be. */
export interface SpiField {
  /** sizeof the kernel's header struct: fewer bytes at thoff hotdrop the packet. */
  readonly header: number;
  readonly offset: number;
  readonly size: 2 | 4;
}

const INVERT: RecordBit = { offset: 8, bit: SPI_INV };

/**
 * esp_mt, ah_mt, comp_mt: never a non-first fragment; a header cut short hotdrops; then the
 * field (network order) in [spis[0], spis[1]] ^ the invert bit. No region: the SPI is not in the
 * classifier's key, and the rule's own -p already names the protocol.
 */
export function spiEngine<T extends SpiRange>(
  field: SpiField,
  encode: (v: T) => Buffer,
): Engine<T> {
  const load = (): Insn[] =>
    field.size === 4
      ? [LoadMem(R1, STATE, S.L4 + field.offset, Size.W), ToBe(R1, 32)]
      : [LoadMem(R1, STATE, S.L4 + field.offset, Size.H), ToBe(R1, 16)];
  return {
    hotdrops: true,
    recordSize: SPI_SIZE,
    record: encode,
    evaluate: (cg: EvalContext): Insn[] => [
      ...requireFirstFragment(cg),
      ...requireL4(field.header, cg),
      ...inRange(load(), 0, 4, Size.W, INVERT, cg),
    ],
  };
}

/**
 * esp and ah, which differ only in name, protocol, option name and header: `.proto` set, the
 * range [0, 0xffffffff] when the option is absent (their libxt init).
 */
export function spiMatch(
  name: string,
  proto: number,
  option: string,
  field: SpiField,
): Extension<SpiRange> {
  const what = `match "${name}"`;
  const ext: Extension<SpiRange> = {
    kind: 'match',
    name,
    revisions: [0],
    dataSize: () => SPI_SIZE,
    userSize: () => SPI_SIZE,
    decode(data: Buffer): SpiRange {
      const { rest: _, ...v } = decodeSpi(data, 9);
      return v;
    },
    encode(v: SpiRange): Buffer {
      return encodeSpi(v, 9);
    },
    check(v: SpiRange, _revision: number, ctx: CheckContext): void {
      requireProto(ctx, proto, what);
      checkSpi(v, what);
    },
    format(v: SpiRange): string {
      return formatSpi(v, option);
    },
    parse(options: readonly SaveOption[]) {
      const o = readOptions(what, options, { spi: { names: [option], invert: true } });
      return { extension: ext, revision: 0, value: parseSpi(o.spi, [0, 0xffffffff], what) };
    },
    engine: spiEngine(field, (v: SpiRange) => encodeSpi(v, 9)),
  };
  return ext;
}
