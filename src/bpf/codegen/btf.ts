// The smallest BTF that lets the verifier accept a program with a bpf_loop callback: it refuses
// callbacks without func_info, and func_info names FUNC types in a BTF object loaded beside the
// program. Two functions: the program (ctx) and the chain-walk step (index, ctx).

const BTF_MAGIC = 0xeb9f;
const KIND_INT = 1;
const KIND_PTR = 2;
const KIND_FUNC = 12;
const KIND_FUNC_PROTO = 13;
const INT_SIGNED = 1 << 24;

export interface FuncInfoBtf {
  /** The raw BTF blob for BPF_BTF_LOAD. */
  readonly blob: Buffer;
  /** FUNC type ids by function name. */
  readonly funcs: ReadonlyMap<string, number>;
}

/** BTF with an int, a void *, and one static FUNC per name; `params` gives each one's arity. */
export function funcInfoBtf(
  functions: readonly { name: string; params: readonly ('int' | 'ptr')[] }[],
): FuncInfoBtf {
  const strings: string[] = [''];
  const strOff = (s: string): number => {
    let off = 0;
    for (const x of strings) {
      if (x === s) return off;
      off += Buffer.byteLength(x) + 1;
    }
    strings.push(s);
    return off;
  };
  const types: Buffer[] = [];
  const add = (name: number, info: number, sizeOrType: number, extra: number[] = []): number => {
    const b = Buffer.alloc(12 + 4 * extra.length);
    b.writeUInt32LE(name, 0);
    b.writeUInt32LE(info >>> 0, 4);
    b.writeUInt32LE(sizeOrType, 8);
    extra.forEach((v, k) => b.writeUInt32LE(v >>> 0, 12 + 4 * k));
    types.push(b);
    return types.length;
  };
  const int = add(strOff('int'), KIND_INT << 24, 4, [INT_SIGNED | 32]);
  const ptr = add(0, KIND_PTR << 24, 0);
  const funcs = new Map<string, number>();
  for (const f of functions) {
    const params = f.params.flatMap((p, k) => [strOff(`a${k}`), p === 'int' ? int : ptr]);
    const proto = add(0, (KIND_FUNC_PROTO << 24) | f.params.length, int, params);
    funcs.set(f.name, add(strOff(f.name), KIND_FUNC << 24, proto));
  }
  const typeSec = Buffer.concat(types);
  const strSec = Buffer.concat(strings.map((s) => Buffer.from(`${s}\0`, 'latin1')));
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(BTF_MAGIC, 0);
  hdr.writeUInt8(1, 2);
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(typeSec.length, 12);
  hdr.writeUInt32LE(typeSec.length, 16);
  hdr.writeUInt32LE(strSec.length, 20);
  return { blob: Buffer.concat([hdr, typeSec, strSec]), funcs };
}
