import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Add,
  And,
  Arsh,
  AtomicAdd,
  Call,
  Div,
  Exit,
  JEq,
  JGe,
  JLt,
  JNe,
  JSet,
  JSGt,
  JSLe,
  Ja,
  LoadFunc,
  LoadImm64,
  LoadMapPtr,
  LoadMapValue,
  LoadMem,
  Lsh,
  Mod,
  Mov,
  Mul,
  Neg,
  Or,
  Rsh,
  Size,
  StoreImm,
  StoreMem,
  Sub,
  ToBe,
  ToLe,
  Xor,
  AsmError,
  assemble,
  pruneUnreachable,
  relax,
  NEAR,
  formatInsn,
  decode,
  encode,
  format,
  parse,
  resolve,
  withComment,
  withLabel,
  R0,
  R1,
  R2,
  R3,
  R10,
  type Insn,
  type Reg,
} from '../src/bpf/asm/index.js';
import { bpfSyscall, addressOf } from '../src/sys/libc.js';

const hex = (b: Buffer): string => b.toString('hex');
const one = (i: Insn): string => hex(assemble([i]).bytes);

describe('encodings match the kernel ABI (struct bpf_insn, bpf_common.h/bpf.h values)', () => {
  it.each([
    ['r0 = 1', Mov.imm(R0, 1), 'b700000001000000'],
    ['w0 += 3', Add.imm32(R0, 3), '0400000003000000'],
    ['r1 -= r2', Sub.reg(R1, R2), '1f21000000000000'],
    ['r1 *= -1', Mul.imm(R1, -1), '27010000ffffffff'],
    ['r1 /= 2', Div.imm(R1, 2), '3701000002000000'],
    ['w1 %= w2', Mod.reg32(R1, R2), '9c21000000000000'],
    ['r1 |= 128', Or.imm(R1, 0x80), '4701000080000000'],
    ['r1 &= 65535', And.imm(R1, 0xffff), '57010000ffff0000'],
    ['r1 <<= 8', Lsh.imm(R1, 8), '6701000008000000'],
    ['r1 >>= r3', Rsh.reg(R1, R3), '7f31000000000000'],
    ['r1 s>>= 4', Arsh.imm(R1, 4), 'c701000004000000'],
    ['w1 ^= w1', Xor.reg32(R1, R1), 'ac11000000000000'],
    ['r1 = -r1', Neg.reg(R1), '8701000000000000'],
    ['r1 = be16 r1', ToBe(R1, 16), 'dc01000010000000'],
    ['r1 = le32 r1', ToLe(R1, 32), 'd401000020000000'],
    ['r1 = *(u32 *)(r2 +4)', LoadMem(R1, R2, 4, Size.W), '6121040000000000'],
    ['r1 = *(u8 *)(r2 +0)', LoadMem(R1, R2, 0, Size.B), '7121000000000000'],
    ['r1 = *(u16 *)(r2 +2)', LoadMem(R1, R2, 2, Size.H), '6921020000000000'],
    ['*(u64 *)(r10 -8) = r1', StoreMem(R10, -8, R1, Size.DW), '7b1af8ff00000000'],
    ['*(u32 *)(r10 -4) = 7', StoreImm(R10, -4, 7, Size.W), '620afcff07000000'],
    ['lock *(u64 *)(r1 +0) += r2', AtomicAdd(R1, 0, R2, Size.DW), 'db21000000000000'],
    [
      'r2 = atomic_fetch_add((u32 *)(r1 +8), r2)',
      AtomicAdd(R1, 8, R2, Size.W, true),
      'c321080001000000',
    ],
    ['call 1', Call.helper(1), '8500000001000000'],
    ['call kfunc 63855', Call.kfunc(63855), '85200000' + '6ff90000'],
    ['exit', Exit(), '9500000000000000'],
  ])('%s', (_text, insn, bytes) => {
    expect(one(insn)).toBe(bytes);
    expect(format([insn]).trim()).toBe(_text);
  });

  it('ld_imm64 takes two slots, low half first', () => {
    expect(one(LoadImm64(R1, 0x1122334455667788n))).toBe('1801000088776655' + '0000000044332211');
  });

  it('map references are patched with the resolver fd; map values carry the offset in the second slot', () => {
    const maps = (name: string): number => ({ counters: 5, scratch: 9 })[name] ?? -1;
    expect(hex(assemble([LoadMapPtr(R1, 'counters')], { maps }).bytes)).toBe(
      '1811000005000000' + '0000000000000000',
    );
    expect(hex(assemble([LoadMapValue(R2, 'scratch', 16)], { maps }).bytes)).toBe(
      '1822000009000000' + '0000000010000000',
    );
    expect(() => assemble([LoadMapPtr(R1, 'counters')])).toThrow(AsmError);
  });
});

describe('labels are resolved in one fixup pass', () => {
  it('forward and backward jumps, counting ld_imm64 as two slots', () => {
    const prog = [
      withLabel(Mov.imm(R0, 0), 'top'),
      JEq.imm(R1, 5, 'out'),
      LoadImm64(R2, 1n),
      JNe.reg(R1, R2, 'top'),
      withLabel(Exit(), 'out'),
    ];
    const { bytes, labels } = assemble(prog);
    expect(labels.get('out')).toBe(5);
    // jeq at slot 1 → slot 5: off 3; jne at slot 4 → slot 0: off -5
    expect(bytes.readInt16LE(1 * 8 + 2)).toBe(3);
    expect(bytes.readInt16LE(4 * 8 + 2)).toBe(-5);
  });

  it('calls and func pointers are relative to the next slot', () => {
    const prog = [
      LoadFunc(R2, 'cb'),
      Call.local('cb'),
      Exit(),
      withLabel(Mov.imm(R0, 0), 'cb'),
      Exit(),
    ];
    const out = resolve(prog);
    expect(out[0]?.imm).toBe(3); // ld_imm64 at slots 0-1 → slot 4
    expect(out[1]?.imm).toBe(1); // call at slot 2 → slot 4
  });

  it('rejects undefined and duplicate labels and jumps past 16 bits', () => {
    expect(() => assemble([Ja('nowhere')])).toThrow(/undefined label 'nowhere'/);
    expect(() => assemble([withLabel(Exit(), 'a'), withLabel(Exit(), 'a')])).toThrow(
      /defined twice/,
    );
    const far = [
      Ja('end'),
      ...Array.from({ length: 40000 }, () => Mov.imm(R0, 0)),
      withLabel(Exit(), 'end'),
    ];
    expect(() => assemble(far)).toThrow(/16-bit/);
  });
});

const reg = fc.integer({ min: 0, max: 9 }) as fc.Arbitrary<Reg>;
const imm = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const off = fc.integer({ min: -0x8000, max: 0x7fff });
const size = fc.constantFrom(Size.B, Size.H, Size.W, Size.DW);
const alu = [Add, Sub, Mul, Div, Or, And, Lsh, Rsh, Mod, Xor, Mov, Arsh];
const jmp = [JEq, JNe, JGe, JLt, JSet, JSGt, JSLe];
const straight: fc.Arbitrary<Insn> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...alu),
      fc.constantFrom('imm', 'imm32') as fc.Arbitrary<'imm' | 'imm32'>,
      reg,
      imm,
    )
    .map(([b, k, d, v]) => b[k](d, v)),
  fc
    .tuple(
      fc.constantFrom(...alu),
      fc.constantFrom('reg', 'reg32') as fc.Arbitrary<'reg' | 'reg32'>,
      reg,
      reg,
    )
    .map(([b, k, d, s]) => b[k](d, s)),
  reg.map((d) => Neg.reg(d)),
  fc
    .tuple(reg, fc.constantFrom(16, 32, 64) as fc.Arbitrary<16 | 32 | 64>, fc.boolean())
    .map(([d, b, be]) => (be ? ToBe(d, b) : ToLe(d, b))),
  fc.tuple(reg, reg, off, size).map(([d, s, o, z]) => LoadMem(d, s, o, z)),
  fc.tuple(reg, off, reg, size).map(([d, o, s, z]) => StoreMem(d, o, s, z)),
  fc.tuple(reg, off, imm, size).map(([d, o, v, z]) => StoreImm(d, o, v, z)),
  fc
    .tuple(reg, off, reg, fc.constantFrom(Size.W, Size.DW), fc.boolean())
    .map(([d, o, s, z, f]) => AtomicAdd(d, o, s, z, f)),
  fc.tuple(reg, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })).map(([d, v]) => LoadImm64(d, v)),
  fc.integer({ min: 0, max: 211 }).map((id) => Call.helper(id)),
  fc.integer({ min: 1, max: 200000 }).map((id) => Call.kfunc(id)),
  fc.constant(Exit()),
);

/** Random programs whose jumps target labelled instructions of the same program. */
const program = fc
  .array(
    fc.tuple(
      straight,
      fc.option(fc.tuple(fc.constantFrom(...jmp), reg, imm, fc.nat()), { freq: 3 }),
    ),
    { minLength: 1, maxLength: 40 },
  )
  .map((items) => {
    const insns: Insn[] = [];
    items.forEach(([i, j]) => {
      insns.push(i);
      if (j) insns.push(j[0].imm(j[1], j[2], `t${j[3] % items.length}`));
    });
    return insns.map((insn, k) => (k < items.length ? withLabel(insn, `t${k}`) : insn));
  });

describe('text and bytes round-trip', () => {
  it('parse(format(p)) == p and format(parse(t)) == t', () => {
    fc.assert(
      fc.property(program, (p) => {
        const text = format(p);
        expect(parse(text)).toEqual(p);
        expect(format(parse(text))).toBe(text);
      }),
    );
  });

  it('decode(encode(p)) re-encodes to the same bytes, with synthesized labels', () => {
    fc.assert(
      fc.property(program, (p) => {
        const bytes = assemble(p).bytes;
        const back = decode(bytes);
        expect(hex(assemble(back).bytes)).toBe(hex(bytes));
        expect(hex(assemble(parse(format(back))).bytes)).toBe(hex(bytes));
      }),
    );
  });

  it('comments survive the text form', () => {
    const p = [withComment(Mov.imm(R0, 1), 'rule 3: -p tcp --dport 22 -j ACCEPT'), Exit()];
    expect(format(p)).toBe('\tr0 = 1 ; rule 3: -p tcp --dport 22 -j ACCEPT\n\texit\n');
    expect(parse(format(p))).toEqual(p);
  });

  it('encode refuses unresolved references', () => {
    expect(() => encode([Ja('x')])).toThrow(AsmError);
  });
});

describe('the kernel reads our bytes as we wrote them', () => {
  it('a socket filter loads and BPF_OBJ_GET_INFO_BY_FD gives back the same instructions', () => {
    const prog = [
      Call.helper(7), // bpf_get_prandom_u32: a value the verifier cannot fold away
      StoreMem(R10, -8, R0, Size.DW),
      Mov.imm(R0, 0),
      LoadMem(R1, R10, -8, Size.DW),
      Add.imm(R1, 7),
      Lsh.imm32(R1, 3),
      ToBe(R1, 16),
      StoreMem(R10, -16, R1, Size.DW),
      Mov.reg(R2, R10),
      Add.imm(R2, -16),
      Mov.imm(R3, 1),
      AtomicAdd(R2, 0, R3, Size.DW),
      LoadImm64(R3, 0xdeadbeefcafen),
      JSet.imm(R1, 1, 'odd'),
      Xor.reg(R0, R0),
      withLabel(Exit(), 'odd'),
    ];
    const insns = assemble(prog).bytes;
    const license = Buffer.from('GPL\0');
    const log = Buffer.alloc(65536);
    const attr = Buffer.alloc(128);
    attr.writeUInt32LE(1, 0); // BPF_PROG_TYPE_SOCKET_FILTER
    attr.writeUInt32LE(insns.length / 8, 4);
    attr.writeBigUInt64LE(addressOf(insns), 8);
    attr.writeBigUInt64LE(addressOf(license), 16);
    attr.writeUInt32LE(1, 24);
    attr.writeUInt32LE(log.length, 28);
    attr.writeBigUInt64LE(addressOf(log), 32);
    let fd: number;
    try {
      fd = bpfSyscall(5, attr);
    } catch (e) {
      throw new Error(`${String(e)}\n${log.toString('utf8').replace(/\0.*$/s, '')}`);
    }
    const xlated = Buffer.alloc(insns.length);
    const info = Buffer.alloc(256);
    info.writeUInt32LE(xlated.length, 20); // xlated_prog_len
    info.writeBigUInt64LE(addressOf(xlated), 32); // xlated_prog_insns
    const getInfo = Buffer.alloc(16);
    getInfo.writeUInt32LE(fd, 0);
    getInfo.writeUInt32LE(info.length, 4);
    getInfo.writeBigUInt64LE(addressOf(info), 8);
    bpfSyscall(15, getInfo); // BPF_OBJ_GET_INFO_BY_FD
    expect(info.readUInt32LE(20)).toBe(insns.length);
    // The kernel rewrites a helper call's imm into the helper's address: compare the rest.
    const callFree = (b: Buffer): string => format(decode(b).slice(1));
    expect(xlated.readUInt8(0)).toBe(0x85);
    expect(callFree(xlated)).toBe(callFree(insns));
  });
});

describe('pruneUnreachable', () => {
  it('keeps what the entry and the subprograms it names reach, in order', () => {
    const prog = [
      Mov.imm(R0, 0),
      JEq.imm(R0, 1, 'b'),
      Ja('c'),
      withLabel(Mov.imm(R0, 7), 'dead'),
      withLabel(Mov.imm(R0, 1), 'b'),
      withLabel(LoadFunc(R2, 'cb'), 'c'),
      Exit(),
      Mov.imm(R0, 9),
      withLabel(Mov.imm(R0, 0), 'cb'),
      Exit(),
      withLabel(Exit(), 'unused_fn'),
    ];
    const kept = pruneUnreachable(prog);
    expect(kept).toEqual([prog[0], prog[1], prog[2], prog[4], prog[5], prog[6], prog[8], prog[9]]);
    // What is left still assembles: no reference to a dropped label.
    expect(() => assemble(kept)).not.toThrow();
  });

  it('is the identity on a program without dead code', () => {
    const prog = [Mov.imm(R0, 1), JEq.imm(R0, 1, 'x'), Mov.imm(R0, 2), withLabel(Exit(), 'x')];
    expect(pruneUnreachable(prog)).toEqual(prog);
  });
});

describe('relax', () => {
  it('turns far jumps into gotol and far branches into a branch over a gotol', () => {
    const filler = Array.from({ length: NEAR + 10 }, () => Mov.imm(R1, 0));
    const prog = [
      JEq.imm(R1, 1, 'far'),
      Ja('far'),
      ...filler,
      withLabel(Mov.imm(R0, 1), 'far'),
      Exit(),
    ];
    const out = relax(prog);
    expect(out.slice(0, 5).map(formatInsn)).toEqual([
      'if r1 == 1 goto pc+1',
      'goto relax_0',
      'gotol far',
      'goto pc+0',
      'gotol far',
    ]);
    expect(out[3]?.labels).toEqual(['relax_0']);
    // Both gotols land on 'far': slot of far minus the slot after each.
    const a = assemble(out);
    const far = a.labels.get('far') as number;
    const imm = (slot: number): number => a.bytes.readInt32LE(slot * 8 + 4);
    expect(imm(2)).toBe(far - 3);
    expect(imm(4)).toBe(far - 5);
  });

  it('leaves near jumps alone', () => {
    const prog = [JEq.imm(R1, 1, 'x'), Ja('x'), withLabel(Exit(), 'x')];
    expect(relax(prog)).toEqual(prog);
  });
});
