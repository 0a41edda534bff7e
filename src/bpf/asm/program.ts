// The fixup pass: lay instructions out in 8-byte slots, resolve labels into jump offsets and
// call/func immediates, patch map references with fds, and encode struct bpf_insn bytes.
import { Class, JmpOp, Pseudo, opClass, opOp } from './opcodes.js';
import { slots, type Insn } from './insn.js';

export class AsmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AsmError';
  }
}

export interface AssembleOptions {
  /** Map name → fd, for LoadMapPtr/LoadMapValue. */
  readonly maps?: (name: string) => number;
}

export interface Assembled {
  /** struct bpf_insn[], little-endian. */
  readonly bytes: Buffer;
  /** Label → slot index. */
  readonly labels: ReadonlyMap<string, number>;
  /** Slot index of each input instruction. */
  readonly positions: readonly number[];
}

export function layout(insns: readonly Insn[]): {
  positions: number[];
  labels: Map<string, number>;
  total: number;
} {
  const positions: number[] = [];
  const labels = new Map<string, number>();
  let pc = 0;
  for (const insn of insns) {
    positions.push(pc);
    for (const l of insn.labels ?? []) {
      if (labels.has(l)) throw new AsmError(`label '${l}' defined twice`);
      labels.set(l, pc);
    }
    pc += slots(insn);
  }
  return { positions, labels, total: pc };
}

/** gotol (BPF_JMP32 | BPF_JA): an unconditional jump whose offset is the 32-bit imm. */
export const GOTOL = Class.JMP32 | JmpOp.JA;

function isJump(insn: Insn): boolean {
  const cls = opClass(insn.code);
  const op = opOp(insn.code);
  return (
    (cls === Class.JMP || cls === Class.JMP32) &&
    op !== JmpOp.CALL &&
    op !== JmpOp.EXIT &&
    insn.code !== GOTOL
  );
}

/** A 16-bit jump offset the verifier can still patch: its rewrites (helper inlining, ctx and
 *  map accesses) grow the code between our jumps and their targets, so we keep a wide margin. */
export const NEAR = 0x2000;

/**
 * Relaxation: jumps to labels farther than NEAR become gotol (same size), conditional ones
 * `if cond goto +1; goto +1; gotol target` — repeated until the layout settles, since the
 * longer forms move what follows. Programs past 32k instructions then still link and verify.
 */
export function relax(insns: readonly Insn[]): Insn[] {
  let cur = [...insns];
  let n = 0;
  for (;;) {
    const { positions, labels } = layout(cur);
    let changed = false;
    const next: Insn[] = [];
    cur.forEach((insn, i) => {
      const ref = insn.ref;
      const target = ref?.kind === 'label' ? labels.get(ref.name) : undefined;
      const far =
        target !== undefined &&
        isJump(insn) &&
        Math.abs(target - ((positions[i] as number) + 1)) > NEAR;
      if (!far || !ref) {
        next.push(insn);
        return;
      }
      changed = true;
      const long: Insn = { code: GOTOL, dst: 0, src: 0, off: 0, imm: 0, ref };
      if (opOp(insn.code) === JmpOp.JA && opClass(insn.code) === Class.JMP) {
        next.push({ ...long, ...(insn.labels ? { labels: insn.labels } : {}) });
        return;
      }
      const over = `relax_${n++}`;
      const { ref: _r, ...cond } = insn;
      void _r;
      next.push(
        { ...cond, off: 1 },
        {
          code: Class.JMP | JmpOp.JA,
          dst: 0,
          src: 0,
          off: 0,
          imm: 0,
          ref: { kind: 'label', name: over },
        },
        long,
      );
      next.push({ code: Class.JMP | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0, labels: [over] });
    });
    cur = next;
    if (!changed) return cur;
  }
}

/** Resolves references; returns instructions whose off/imm are final and which carry no ref. */
export function resolve(insns: readonly Insn[], opts: AssembleOptions = {}): Insn[] {
  const { positions, labels } = layout(insns);
  return insns.map((insn, i) => {
    const ref = insn.ref;
    if (!ref) return insn;
    const pc = positions[i] as number;
    if (ref.kind === 'map') {
      if (!opts.maps) throw new AsmError(`map '${ref.name}' referenced but no map resolver given`);
      const fd = opts.maps(ref.name);
      const hi = BigInt.asUintN(64, insn.imm64 ?? 0n) >> 32n;
      return { ...strip(insn), imm: fd, imm64: (hi << 32n) | BigInt(fd >>> 0) };
    }
    const target = labels.get(ref.name);
    if (target === undefined) throw new AsmError(`undefined label '${ref.name}'`);
    const delta = target - (pc + 1);
    if (insn.code === GOTOL) return { ...strip(insn), imm: delta };
    if (isJump(insn)) {
      if (delta < -0x8000 || delta > 0x7fff) {
        throw new AsmError(
          `jump to '${ref.name}' spans ${delta} slots: more than a 16-bit offset holds`,
        );
      }
      return { ...strip(insn), off: delta };
    }
    if (insn.code === 0x18)
      return { ...strip(insn), imm: delta, imm64: BigInt.asUintN(32, BigInt(delta)) };
    return { ...strip(insn), imm: delta };
  });
}

function strip(insn: Insn): Insn {
  const { ref: _ref, ...rest } = insn;
  return rest;
}

function writeSlot(
  buf: Buffer,
  at: number,
  code: number,
  dst: number,
  src: number,
  off: number,
  imm: number,
): void {
  buf.writeUInt8(code, at);
  buf.writeUInt8(((src & 0xf) << 4) | (dst & 0xf), at + 1);
  buf.writeInt16LE(off, at + 2);
  buf.writeInt32LE(imm | 0, at + 4);
}

/** Encodes resolved instructions (no refs left). */
export function encode(insns: readonly Insn[]): Buffer {
  const total = insns.reduce((n, i) => n + slots(i), 0);
  const buf = Buffer.alloc(total * 8);
  let at = 0;
  for (const insn of insns) {
    if (insn.ref) throw new AsmError(`unresolved reference to '${insn.ref.name}'`);
    if (insn.code === 0x18) {
      const v = BigInt.asUintN(64, insn.imm64 ?? BigInt.asUintN(32, BigInt(insn.imm)));
      writeSlot(buf, at, insn.code, insn.dst, insn.src, insn.off, Number(BigInt.asIntN(32, v)));
      writeSlot(buf, at + 8, 0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n)));
      at += 16;
    } else {
      writeSlot(buf, at, insn.code, insn.dst, insn.src, insn.off, insn.imm);
      at += 8;
    }
  }
  return buf;
}

export function assemble(insns: readonly Insn[], opts: AssembleOptions = {}): Assembled {
  const { positions, labels } = layout(insns);
  return { bytes: encode(resolve(insns, opts)), labels, positions };
}

/** Decodes struct bpf_insn bytes; jump/call targets become labels `L<slot>`. */
export function decode(bytes: Buffer): Insn[] {
  if (bytes.length % 8 !== 0)
    throw new AsmError(`${bytes.length} bytes is not a whole number of instructions`);
  const raw: { pc: number; insn: Insn }[] = [];
  for (let at = 0; at < bytes.length;) {
    const code = bytes.readUInt8(at);
    const regs = bytes.readUInt8(at + 1);
    const base = {
      code,
      dst: (regs & 0xf) as Insn['dst'],
      src: regs >> 4,
      off: bytes.readInt16LE(at + 2),
      imm: bytes.readInt32LE(at + 4),
    };
    if (code === 0x18) {
      if (at + 16 > bytes.length) throw new AsmError('ld_imm64 cut short');
      const hi = BigInt(bytes.readUInt32LE(at + 12));
      raw.push({
        pc: at / 8,
        insn: { ...base, imm64: (hi << 32n) | BigInt(bytes.readUInt32LE(at + 4)) },
      });
      at += 16;
    } else {
      raw.push({ pc: at / 8, insn: base });
      at += 8;
    }
  }
  const targets = new Set<number>();
  const out = raw.map(({ pc, insn }) => {
    const t = targetOf(pc, insn);
    if (t === undefined) return insn;
    targets.add(t);
    const { off: _o, ...rest } = insn;
    void _o;
    const cleared = isJump(insn)
      ? { ...rest, off: 0 }
      : insn.code === GOTOL
        ? { ...insn, imm: 0 }
        : { ...insn, imm: 0, ...(insn.code === 0x18 ? { imm64: 0n } : {}) };
    return { ...cleared, ref: { kind: 'label' as const, name: `L${t}` } };
  });
  return out.map((insn, i) => {
    const pc = raw[i]?.pc as number;
    return targets.has(pc) ? { ...insn, labels: [...(insn.labels ?? []), `L${pc}`] } : insn;
  });
}

function targetOf(pc: number, insn: Insn): number | undefined {
  if (insn.code === GOTOL) return pc + 1 + insn.imm;
  if (isJump(insn)) return pc + 1 + insn.off;
  if (
    opClass(insn.code) === Class.JMP &&
    opOp(insn.code) === JmpOp.CALL &&
    insn.src === Pseudo.CALL
  )
    return pc + 1 + insn.imm;
  if (insn.code === 0x18 && insn.src === Pseudo.FUNC) return pc + 1 + insn.imm;
  return undefined;
}
