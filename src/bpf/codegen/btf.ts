// Small BTF objects the kernel insists on: func_info for a bpf_loop callback (the verifier
// refuses callbacks without it), and the value type of maps holding a bpf_spin_lock.

const BTF_MAGIC = 0xeb9f;
const KIND_INT = 1;
const KIND_PTR = 2;
const KIND_STRUCT = 4;
const KIND_FUNC = 12;
const KIND_FUNC_PROTO = 13;
const INT_SIGNED = 1 << 24;

class BtfBuilder {
  private readonly strings: string[] = [''];
  private readonly types: Buffer[] = [];

  str(s: string): number {
    let off = 0;
    for (const x of this.strings) {
      if (x === s) return off;
      off += Buffer.byteLength(x) + 1;
    }
    this.strings.push(s);
    return off;
  }

  private add(name: number, info: number, sizeOrType: number, extra: number[] = []): number {
    const b = Buffer.alloc(12 + 4 * extra.length);
    b.writeUInt32LE(name, 0);
    b.writeUInt32LE(info >>> 0, 4);
    b.writeUInt32LE(sizeOrType, 8);
    extra.forEach((v, k) => b.writeUInt32LE(v >>> 0, 12 + 4 * k));
    this.types.push(b);
    return this.types.length;
  }

  int(name: string, bytes: number, signed: boolean): number {
    return this.add(this.str(name), KIND_INT << 24, bytes, [
      (signed ? INT_SIGNED : 0) | (bytes * 8),
    ]);
  }

  /** A pointer to type `to` (0: void). */
  ptr(to = 0): number {
    return this.add(0, KIND_PTR << 24, to);
  }

  struct(
    name: string,
    bytes: number,
    members: readonly { name: string; type: number; offset: number }[],
  ): number {
    const extra = members.flatMap((m) => [this.str(m.name), m.type, m.offset * 8]);
    return this.add(this.str(name), (KIND_STRUCT << 24) | members.length, bytes, extra);
  }

  func(name: string, ret: number, params: readonly number[], global = false): number {
    const proto = this.add(
      0,
      (KIND_FUNC_PROTO << 24) | params.length,
      ret,
      params.flatMap((t, k) => [this.str(`a${k}`), t]),
    );
    // The FUNC's vlen is its linkage: 0 static, 1 global.
    return this.add(this.str(name), (KIND_FUNC << 24) | (global ? 1 : 0), proto);
  }

  build(): Buffer {
    const typeSec = Buffer.concat(this.types);
    const strSec = Buffer.concat(this.strings.map((s) => Buffer.from(`${s}\0`, 'latin1')));
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(BTF_MAGIC, 0);
    hdr.writeUInt8(1, 2);
    hdr.writeUInt32LE(24, 4);
    hdr.writeUInt32LE(0, 8);
    hdr.writeUInt32LE(typeSec.length, 12);
    hdr.writeUInt32LE(typeSec.length, 16);
    hdr.writeUInt32LE(strSec.length, 20);
    return Buffer.concat([hdr, typeSec, strSec]);
  }
}

export interface FuncInfoBtf {
  /** The raw BTF blob for BPF_BTF_LOAD. */
  readonly blob: Buffer;
  /** FUNC type ids by function name. */
  readonly funcs: ReadonlyMap<string, number>;
}

/**
 * A function parameter: an int, an untyped pointer, a pointer to `mem` bytes (what a global
 * function's verifier sees as memory of that size), or the program's context (`ctx`, a pointer
 * to the kernel's struct of that name).
 */
export type BtfParam = 'int' | 'ptr' | { readonly mem: number } | { readonly ctx: string };

export interface BtfFunc {
  readonly name: string;
  readonly params: readonly BtfParam[];
  /**
   * Global functions are verified once, on their own, from their parameter types; static ones
   * with every caller's state.
   */
  readonly global?: boolean;
}

/** BTF with one FUNC per function. */
export function funcInfoBtf(functions: readonly BtfFunc[]): FuncInfoBtf {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const ptr = b.ptr();
  const mems = new Map<number, number>();
  const ctxs = new Map<string, number>();
  const param = (p: BtfParam): number => {
    if (p === 'int') return int;
    if (p === 'ptr') return ptr;
    if ('mem' in p) {
      let t = mems.get(p.mem);
      if (t === undefined) {
        t = b.ptr(b.struct(`bpfilter_mem${p.mem}`, p.mem, []));
        mems.set(p.mem, t);
      }
      return t;
    }
    let t = ctxs.get(p.ctx);
    if (t === undefined) {
      t = b.ptr(b.struct(p.ctx, 0, []));
      ctxs.set(p.ctx, t);
    }
    return t;
  };
  const funcs = new Map<string, number>();
  for (const f of functions) funcs.set(f.name, b.func(f.name, int, f.params.map(param), f.global));
  return { blob: b.build(), funcs };
}

/** The value of the limit buckets map: a spin lock, the credit and the last jiffies seen. */
export const BUCKET = { size: 24, lock: 0, credit: 8, prev: 16 } as const;

export interface MapBtf {
  readonly blob: Buffer;
  readonly keyTypeId: number;
  readonly valueTypeId: number;
}

export function bucketBtf(): MapBtf {
  const b = new BtfBuilder();
  const u32 = b.int('unsigned int', 4, false);
  const u64 = b.int('unsigned long long', 8, false);
  const lock = b.struct('bpf_spin_lock', 4, [{ name: 'val', type: u32, offset: 0 }]);
  const value = b.struct('bpfilter_bucket', BUCKET.size, [
    { name: 'lock', type: lock, offset: BUCKET.lock },
    { name: 'credit', type: u64, offset: BUCKET.credit },
    { name: 'prev', type: u64, offset: BUCKET.prev },
  ]);
  return { blob: b.build(), keyTypeId: u32, valueTypeId: value };
}

/**
 * A map value of `size` bytes whose only described member is a bpf_spin_lock at offset 0: what
 * the kernel needs to let a program lock it (the rest of the layout is the extension's). The key
 * is a u32, or an opaque struct of `keySize` bytes.
 */
export function lockedValueBtf(name: string, size: number, keySize = 4): MapBtf {
  const b = new BtfBuilder();
  const u32 = b.int('unsigned int', 4, false);
  const lock = b.struct('bpf_spin_lock', 4, [{ name: 'val', type: u32, offset: 0 }]);
  const value = b.struct(name, size, [{ name: 'lock', type: lock, offset: 0 }]);
  const key = keySize === 4 ? u32 : b.struct(`${name}_key`, keySize, []);
  return { blob: b.build(), keyTypeId: key, valueTypeId: value };
}
