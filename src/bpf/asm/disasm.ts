// Text form of instructions, close to the verifier's and bpftool's, and its parser:
// format(parse(t)) == t and parse(format(p)) == p for every program this module emits.
import {
  AluOp,
  ATOMIC_FETCH,
  Class,
  JmpOp,
  Mode,
  Pseudo,
  Size,
  opClass,
  opMode,
  opOp,
  opSize,
  opSource,
  Source,
} from './opcodes.js';
import { checkReg, type Insn, type Reg } from './insn.js';
import { ATOMIC_CMPXCHG } from './load_store.js';

export class ParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'ParseError';
  }
}

const ALU_SYM: Readonly<Record<number, string>> = {
  [AluOp.ADD]: '+=',
  [AluOp.SUB]: '-=',
  [AluOp.MUL]: '*=',
  [AluOp.DIV]: '/=',
  [AluOp.OR]: '|=',
  [AluOp.AND]: '&=',
  [AluOp.LSH]: '<<=',
  [AluOp.RSH]: '>>=',
  [AluOp.MOD]: '%=',
  [AluOp.XOR]: '^=',
  [AluOp.MOV]: '=',
  [AluOp.ARSH]: 's>>=',
};
const JMP_SYM: Readonly<Record<number, string>> = {
  [JmpOp.JEQ]: '==',
  [JmpOp.JNE]: '!=',
  [JmpOp.JGT]: '>',
  [JmpOp.JGE]: '>=',
  [JmpOp.JLT]: '<',
  [JmpOp.JLE]: '<=',
  [JmpOp.JSET]: '&',
  [JmpOp.JSGT]: 's>',
  [JmpOp.JSGE]: 's>=',
  [JmpOp.JSLT]: 's<',
  [JmpOp.JSLE]: 's<=',
};
const SIZE_NAME: Readonly<Record<number, string>> = {
  [Size.B]: 'u8',
  [Size.H]: 'u16',
  [Size.W]: 'u32',
  [Size.DW]: 'u64',
};

const invert = (m: Readonly<Record<number, string>>): Map<string, number> =>
  new Map(Object.entries(m).map(([k, v]) => [v, Number(k)]));
const ALU_BY_SYM = invert(ALU_SYM);
const JMP_BY_SYM = invert(JMP_SYM);
const SIZE_BY_NAME = invert(SIZE_NAME);

const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);
const mem = (size: number, reg: number, off: number): string =>
  `*(${SIZE_NAME[size]} *)(r${reg} ${signed(off)})`;
const target = (insn: Insn, rawDelta: number): string =>
  insn.ref?.kind === 'label' ? insn.ref.name : `pc${signed(rawDelta)}`;
const hex64 = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;

/** One instruction as text, without its labels and comment. */
export function formatInsn(insn: Insn): string {
  const { code, dst, src, off, imm } = insn;
  const cls = opClass(code);
  const op = opOp(code);
  if (cls === Class.ALU || cls === Class.ALU64) {
    const r = cls === Class.ALU64 ? 'r' : 'w';
    if (op === AluOp.NEG) return `${r}${dst} = -${r}${dst}`;
    if (op === AluOp.END && cls === Class.ALU) {
      return `r${dst} = ${opSource(code) === Source.X ? 'be' : 'le'}${imm} r${dst}`;
    }
    const sym = ALU_SYM[op];
    if (sym !== undefined)
      return `${r}${dst} ${sym} ${opSource(code) === Source.X ? `${r}${src}` : imm}`;
  }
  if (cls === Class.JMP || cls === Class.JMP32) {
    if (cls === Class.JMP && op === JmpOp.EXIT) return 'exit';
    if (cls === Class.JMP && op === JmpOp.CALL) {
      if (src === Pseudo.CALL) return `call ${target(insn, imm)}`;
      if (src === Pseudo.KFUNC_CALL)
        return off === 0 ? `call kfunc ${imm}` : `call kfunc ${imm} btf ${off}`;
      if (src === 0) return `call ${imm}`;
    }
    if (cls === Class.JMP && op === JmpOp.JA) return `goto ${target(insn, off)}`;
    if (cls === Class.JMP32 && op === JmpOp.JA) return `gotol ${target(insn, imm)}`;
    const sym = JMP_SYM[op];
    if (sym !== undefined) {
      const r = cls === Class.JMP ? 'r' : 'w';
      const rhs = opSource(code) === Source.X ? `${r}${src}` : `${imm}`;
      return `if ${r}${dst} ${sym} ${rhs} goto ${target(insn, off)}`;
    }
  }
  if (cls === Class.LDX && opMode(code) === Mode.MEM)
    return `r${dst} = ${mem(opSize(code), src, off)}`;
  if (cls === Class.STX && opMode(code) === Mode.MEM)
    return `${mem(opSize(code), dst, off)} = r${src}`;
  if (cls === Class.ST && opMode(code) === Mode.MEM)
    return `${mem(opSize(code), dst, off)} = ${imm}`;
  if (cls === Class.STX && opMode(code) === Mode.ATOMIC && (imm & ~ATOMIC_FETCH) === AluOp.ADD) {
    const m = mem(opSize(code), dst, off);
    return imm & ATOMIC_FETCH
      ? `r${src} = atomic_fetch_add(${m.slice(1)}, r${src})`
      : `lock ${m} += r${src}`;
  }
  if (cls === Class.STX && opMode(code) === Mode.ATOMIC && imm === ATOMIC_CMPXCHG) {
    return `r0 = cmpxchg(${mem(opSize(code), dst, off).slice(1)}, r0, r${src})`;
  }
  if (code === 0x18) {
    const v = insn.imm64 ?? 0n;
    const name = insn.ref?.name;
    if (src === Pseudo.MAP_FD)
      return name !== undefined ? `r${dst} = map[${name}]` : `r${dst} = map_fd[${imm}]`;
    if (src === Pseudo.MAP_VALUE) {
      const o = Number(BigInt.asUintN(64, v) >> 32n);
      return name !== undefined
        ? `r${dst} = map_value[${name}] ${signed(o)}`
        : `r${dst} = map_value_fd[${imm}] ${signed(o)}`;
    }
    if (src === Pseudo.FUNC) return `r${dst} = func ${target(insn, imm)}`;
    if (src === 0) return `r${dst} = ${hex64(v)} ll`;
  }
  return `.insn ${code} ${dst} ${src} ${off} ${imm}`;
}

/** A program as text: labels on their own lines, comments after `;`. */
export function format(insns: readonly Insn[]): string {
  const lines: string[] = [];
  for (const insn of insns) {
    for (const l of insn.labels ?? []) lines.push(`${l}:`);
    const text = formatInsn(insn);
    lines.push(insn.comment !== undefined ? `\t${text} ; ${insn.comment}` : `\t${text}`);
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

const REG = String.raw`([rw])(\d+)`;
const NUM = String.raw`(-?(?:0x[0-9a-f]+|\d+))`;
const TGT = String.raw`(pc[+-]\d+|[A-Za-z_.][\w.$-]*)`;
const MEM = String.raw`\*\((u8|u16|u32|u64) \*\)\(r(\d+) ([+-]\d+)\)`;

const num = (s: string): number => Number(s.startsWith('-') ? -Number(s.slice(1)) : Number(s));
const reg = (s: string): Reg => checkReg(Number(s));

function withTarget(insn: Omit<Insn, 'ref'>, t: string, field: 'off' | 'imm'): Insn {
  const m = /^pc([+-]\d+)$/.exec(t);
  if (m) return { ...insn, [field]: Number(m[1]) };
  return { ...insn, ref: { kind: 'label', name: t } };
}

/** Parses one instruction's text (as formatInsn prints it). */
export function parseInsn(text: string, line = 1): Insn {
  const t = text.trim();
  let m: RegExpExecArray | null;
  const base = { dst: 0 as Reg, src: 0, off: 0, imm: 0 };
  if (t === 'exit') return { ...base, code: Class.JMP | JmpOp.EXIT };
  if ((m = new RegExp(`^goto ${TGT}$`).exec(t)))
    return withTarget({ ...base, code: Class.JMP | JmpOp.JA }, m[1] as string, 'off');
  if ((m = new RegExp(`^gotol ${TGT}$`).exec(t)))
    return withTarget({ ...base, code: Class.JMP32 | JmpOp.JA }, m[1] as string, 'imm');
  if ((m = /^call kfunc (-?\d+)(?: btf (\d+))?$/.exec(t))) {
    return {
      ...base,
      code: Class.JMP | JmpOp.CALL,
      src: Pseudo.KFUNC_CALL,
      imm: Number(m[1]),
      off: Number(m[2] ?? 0),
    };
  }
  if ((m = /^call (-?\d+)$/.exec(t)))
    return { ...base, code: Class.JMP | JmpOp.CALL, imm: Number(m[1]) };
  if ((m = new RegExp(`^call ${TGT}$`).exec(t))) {
    return withTarget(
      { ...base, code: Class.JMP | JmpOp.CALL, src: Pseudo.CALL },
      m[1] as string,
      'imm',
    );
  }
  if ((m = new RegExp(`^if ${REG} (\\S+) (?:${REG}|${NUM}) goto ${TGT}$`).exec(t))) {
    const [, w, d, sym, w2, s, k, to] = m as unknown as string[];
    const op = JMP_BY_SYM.get(sym as string);
    if (op === undefined) throw new ParseError(line, `unknown condition '${sym}'`);
    if (w2 !== undefined && w2 !== w) throw new ParseError(line, 'mixed r/w registers');
    const cls = w === 'r' ? Class.JMP : Class.JMP32;
    const code = cls | op | (s !== undefined ? Source.X : Source.K);
    return withTarget(
      {
        ...base,
        code,
        dst: reg(d as string),
        src: s !== undefined ? Number(s) : 0,
        imm: k !== undefined ? num(k) : 0,
      },
      to as string,
      'off',
    );
  }
  if ((m = new RegExp(`^${MEM} = r(\\d+)$`).exec(t))) {
    return {
      code: Class.STX | Mode.MEM | (SIZE_BY_NAME.get(m[1] as string) as number),
      dst: reg(m[2] as string),
      src: Number(m[4]),
      off: Number(m[3]),
      imm: 0,
    };
  }
  if ((m = new RegExp(`^${MEM} = ${NUM}$`).exec(t))) {
    return {
      code: Class.ST | Mode.MEM | (SIZE_BY_NAME.get(m[1] as string) as number),
      dst: reg(m[2] as string),
      src: 0,
      off: Number(m[3]),
      imm: num(m[4] as string),
    };
  }
  if ((m = new RegExp(`^lock ${MEM} \\+= r(\\d+)$`).exec(t))) {
    return {
      code: Class.STX | Mode.ATOMIC | (SIZE_BY_NAME.get(m[1] as string) as number),
      dst: reg(m[2] as string),
      src: Number(m[4]),
      off: Number(m[3]),
      imm: AluOp.ADD,
    };
  }
  if (
    (m = /^r(\d+) = atomic_fetch_add\(\((u8|u16|u32|u64) \*\)\(r(\d+) ([+-]\d+)\), r(\d+)\)$/.exec(
      t,
    ))
  ) {
    if (m[1] !== m[5])
      throw new ParseError(line, 'atomic_fetch_add must return into its source register');
    return {
      code: Class.STX | Mode.ATOMIC | (SIZE_BY_NAME.get(m[2] as string) as number),
      dst: reg(m[3] as string),
      src: Number(m[5]),
      off: Number(m[4]),
      imm: AluOp.ADD | ATOMIC_FETCH,
    };
  }
  if ((m = /^r0 = cmpxchg\(\((u32|u64) \*\)\(r(\d+) ([+-]\d+)\), r0, r(\d+)\)$/.exec(t))) {
    return {
      code: Class.STX | Mode.ATOMIC | (SIZE_BY_NAME.get(m[1] as string) as number),
      dst: reg(m[2] as string),
      src: Number(m[4]),
      off: Number(m[3]),
      imm: ATOMIC_CMPXCHG,
    };
  }
  if ((m = new RegExp(`^r(\\d+) = ${MEM}$`).exec(t))) {
    return {
      code: Class.LDX | Mode.MEM | (SIZE_BY_NAME.get(m[2] as string) as number),
      dst: reg(m[1] as string),
      src: Number(m[3]),
      off: Number(m[4]),
      imm: 0,
    };
  }
  if ((m = /^r(\d+) = (0x[0-9a-f]+) ll$/.exec(t))) {
    const v = BigInt(m[2] as string);
    return {
      code: 0x18,
      dst: reg(m[1] as string),
      src: 0,
      off: 0,
      imm: Number(BigInt.asIntN(32, v)),
      imm64: v,
    };
  }
  if ((m = /^r(\d+) = map\[([^\]]+)\]$/.exec(t))) {
    return {
      code: 0x18,
      dst: reg(m[1] as string),
      src: Pseudo.MAP_FD,
      off: 0,
      imm: 0,
      imm64: 0n,
      ref: { kind: 'map', name: m[2] as string },
    };
  }
  if ((m = /^r(\d+) = map_fd\[(-?\d+)\]$/.exec(t))) {
    const fd = Number(m[2]);
    return {
      code: 0x18,
      dst: reg(m[1] as string),
      src: Pseudo.MAP_FD,
      off: 0,
      imm: fd,
      imm64: BigInt.asUintN(32, BigInt(fd)),
    };
  }
  if ((m = /^r(\d+) = map_value\[([^\]]+)\] ([+-]\d+)$/.exec(t))) {
    return {
      code: 0x18,
      dst: reg(m[1] as string),
      src: Pseudo.MAP_VALUE,
      off: 0,
      imm: 0,
      imm64: BigInt.asUintN(32, BigInt(Number(m[3]))) << 32n,
      ref: { kind: 'map', name: m[2] as string },
    };
  }
  if ((m = /^r(\d+) = map_value_fd\[(-?\d+)\] ([+-]\d+)$/.exec(t))) {
    const fd = Number(m[2]);
    return {
      code: 0x18,
      dst: reg(m[1] as string),
      src: Pseudo.MAP_VALUE,
      off: 0,
      imm: fd,
      imm64: (BigInt.asUintN(32, BigInt(Number(m[3]))) << 32n) | BigInt.asUintN(32, BigInt(fd)),
    };
  }
  if ((m = new RegExp(`^r(\\d+) = func ${TGT}$`).exec(t))) {
    const pc = /^pc([+-]\d+)$/.exec(m[2] as string);
    const b = { code: 0x18, dst: reg(m[1] as string), src: Pseudo.FUNC, off: 0 };
    if (pc) return { ...b, imm: Number(pc[1]), imm64: BigInt.asUintN(32, BigInt(Number(pc[1]))) };
    return { ...b, imm: 0, imm64: 0n, ref: { kind: 'label', name: m[2] as string } };
  }
  if ((m = /^r(\d+) = (be|le)(16|32|64) r(\d+)$/.exec(t))) {
    if (m[1] !== m[4]) throw new ParseError(line, 'byte swap works in place');
    return {
      code: Class.ALU | AluOp.END | (m[2] === 'be' ? Source.X : Source.K),
      dst: reg(m[1] as string),
      src: 0,
      off: 0,
      imm: Number(m[3]),
    };
  }
  if ((m = /^([rw])(\d+) = -([rw])(\d+)$/.exec(t))) {
    if (m[1] !== m[3] || m[2] !== m[4]) throw new ParseError(line, 'neg works in place');
    return {
      code: (m[1] === 'r' ? Class.ALU64 : Class.ALU) | AluOp.NEG,
      dst: reg(m[2] as string),
      src: 0,
      off: 0,
      imm: 0,
    };
  }
  if ((m = new RegExp(`^${REG} (\\S+) (?:${REG}|${NUM})$`).exec(t))) {
    const [, w, d, sym, w2, s, k] = m as unknown as string[];
    const op = ALU_BY_SYM.get(sym as string);
    if (op === undefined) throw new ParseError(line, `unknown operator '${sym}'`);
    if (w2 !== undefined && w2 !== w) throw new ParseError(line, 'mixed r/w registers');
    const cls = w === 'r' ? Class.ALU64 : Class.ALU;
    return {
      code: cls | op | (s !== undefined ? Source.X : Source.K),
      dst: reg(d as string),
      src: s !== undefined ? Number(s) : 0,
      off: 0,
      imm: k !== undefined ? num(k) | 0 : 0,
    };
  }
  if ((m = /^\.insn (\d+) (\d+) (\d+) (-?\d+) (-?\d+)$/.exec(t))) {
    return {
      code: Number(m[1]),
      dst: reg(m[2] as string),
      src: Number(m[3]),
      off: Number(m[4]),
      imm: Number(m[5]),
    };
  }
  throw new ParseError(line, `cannot parse '${t}'`);
}

/** Parses a program as `format` prints it. */
export function parse(text: string): Insn[] {
  const out: Insn[] = [];
  let pending: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const label = /^([A-Za-z_.][\w.$-]*):$/.exec(line);
    if (label) {
      pending.push(label[1] as string);
      return;
    }
    const semi = line.indexOf(' ; ');
    const body = semi >= 0 ? line.slice(0, semi) : line;
    let insn = parseInsn(body, i + 1);
    if (pending.length) insn = { ...insn, labels: pending };
    if (semi >= 0) insn = { ...insn, comment: line.slice(semi + 3) };
    out.push(insn);
    pending = [];
  });
  if (pending.length) throw new ParseError(0, `label '${pending[0]}' names no instruction`);
  return out;
}
