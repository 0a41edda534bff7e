// What generated programs need to know about the running kernel, read from its BTF
// (/sys/kernel/btf/vmlinux): kfunc ids and struct member offsets. Both change between kernel
// builds, so nothing here is hard-coded.
import { readFileSync } from 'node:fs';

const KIND_STRUCT = 4;
const KIND_UNION = 5;
const KIND_FUNC = 12;
const KIND_ENUM = 6;
const KIND_ENUM64 = 19;

/** Bytes of kind-specific data after each type's 12-byte header, by kind. */
function extraBytes(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 3: // ARRAY
      return 12;
    case KIND_STRUCT:
    case KIND_UNION:
    case 15: // DATASEC
    case 19: // ENUM64
      return 12 * vlen;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return 8 * vlen;
    default:
      return 0;
  }
}

export interface Btf {
  /** Type id of the FUNC named `name`. */
  funcId(name: string): number;
  /** Byte offset of `member` in struct/union `struct_`. */
  memberOffset(struct_: string, member: string): number;
  /** Bit offset of `member` in `struct_`: bitfields too (e.g. sk_buff.ip_summed). */
  memberBitOffset(struct_: string, member: string): number;
  /**
   * Byte offset of a member path such as `tuplehash[1].tuple.dst.protonum`: members of
   * members (named or anonymous types) and array elements.
   */
  offsetOf(struct_: string, path: string): number;
  /** Whether struct/union `struct_` has `member` (directly or in an anonymous member). */
  hasMember(struct_: string, member: string): boolean;
  /** The value of the enumerator `name` (e.g. NF_CT_EXT_ACCT): enum ids differ by config. */
  enumValue(name: string): number;
}

/** Parses a raw BTF blob (the format of /sys/kernel/btf/vmlinux). */
export function parseBtf(blob: Buffer): Btf {
  if (blob.readUInt16LE(0) !== 0xeb9f) throw new Error('not a BTF blob (bad magic)');
  const hdrLen = blob.readUInt32LE(4);
  const typeStart = hdrLen + blob.readUInt32LE(8);
  const typeEnd = typeStart + blob.readUInt32LE(12);
  const strStart = hdrLen + blob.readUInt32LE(16);
  const str = (off: number): string => {
    const end = blob.indexOf(0, strStart + off);
    return blob.toString('latin1', strStart + off, end);
  };
  const funcs = new Map<string, number>();
  const structs = new Map<string, number>();
  const enums: number[] = [];
  const at: number[] = [0];
  for (let p = typeStart, id = 1; p < typeEnd; id++) {
    at[id] = p;
    const info = blob.readUInt32LE(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (kind === KIND_FUNC) funcs.set(str(blob.readUInt32LE(p)), id);
    if (kind === KIND_ENUM || kind === KIND_ENUM64) enums.push(id);
    if (kind === KIND_STRUCT || kind === KIND_UNION) {
      const name = str(blob.readUInt32LE(p));
      if (name && !structs.has(name)) structs.set(name, id);
    }
    p += 12 + extraBytes(kind, vlen);
  }
  /** Follows typedefs and qualifiers to the type they name. */
  const resolved = (id: number): number => {
    for (;;) {
      const p = at[id];
      if (p === undefined) return id;
      const kind = (blob.readUInt32LE(p + 4) >>> 24) & 0x1f;
      if (![8, 9, 10, 11, 18].includes(kind)) return id;
      id = blob.readUInt32LE(p + 8);
    }
  };
  const KIND_INT = 1;
  const KIND_ARRAY = 3;
  const KIND_PTR = 2;
  /** Byte size of type `id`. */
  const sizeOf = (id: number): number => {
    const r = resolved(id);
    const p = at[r];
    if (p === undefined) throw new Error(`BTF type ${r} is missing`);
    const kind = (blob.readUInt32LE(p + 4) >>> 24) & 0x1f;
    if ([KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, 19].includes(kind)) {
      return blob.readUInt32LE(p + 8);
    }
    if (kind === KIND_PTR) return 8;
    if (kind === KIND_ARRAY) return sizeOf(blob.readUInt32LE(p + 12)) * blob.readUInt32LE(p + 20);
    throw new Error(`BTF type ${r} (kind ${kind}) has no size`);
  };
  /** [bit offset, type id] of `member` in struct/union `id`, through anonymous members. */
  const findTyped = (id: number, member: string): [number, number] | undefined => {
    const p = at[id];
    if (p === undefined) return undefined;
    const info = blob.readUInt32LE(p + 4);
    const kind = (info >>> 24) & 0x1f;
    if (kind !== KIND_STRUCT && kind !== KIND_UNION) return undefined;
    const kindFlag = info >>> 31;
    for (let k = 0; k < (info & 0xffff); k++) {
      const m = p + 12 + 12 * k;
      const name = str(blob.readUInt32LE(m));
      const raw = blob.readUInt32LE(m + 8);
      const bits = kindFlag ? raw & 0xffffff : raw;
      const type = blob.readUInt32LE(m + 4);
      if (name === member) return [bits, type];
      if (name === '') {
        const inner = findTyped(resolved(type), member);
        if (inner !== undefined) return [bits + inner[0], inner[1]];
      }
    }
    return undefined;
  };
  const offsetOf = (struct_: string, path: string): number => {
    let id = structs.get(struct_);
    if (id === undefined) throw new Error(`kernel BTF has no struct ${struct_}`);
    let bits = 0;
    for (const seg of path.split('.')) {
      const m = /^(\w+)(?:\[(\d+)\])?$/.exec(seg);
      if (!m) throw new Error(`bad member path ${path}`);
      const found = findTyped(resolved(id), m[1] as string);
      if (found === undefined) throw new Error(`struct ${struct_} has no member ${path}`);
      bits += found[0];
      id = resolved(found[1]);
      if (m[2] !== undefined) {
        const p = at[id] as number;
        if (((blob.readUInt32LE(p + 4) >>> 24) & 0x1f) !== KIND_ARRAY) {
          throw new Error(`${seg} in ${path} is not an array`);
        }
        const elem = blob.readUInt32LE(p + 12);
        bits += 8 * sizeOf(elem) * Number(m[2]);
        id = resolved(elem);
      }
    }
    if (bits % 8) throw new Error(`${path} is a bitfield`);
    return bits / 8;
  };
  const memberBitOffset = (struct_: string, member: string): number => {
    const id = structs.get(struct_);
    if (id === undefined) throw new Error(`kernel BTF has no struct ${struct_}`);
    const found = findTyped(id, member)?.[0];
    if (found === undefined) throw new Error(`struct ${struct_} has no member ${member}`);
    return found;
  };
  let enumerators: Map<string, number> | undefined;
  const enumValue = (name: string): number => {
    if (enumerators === undefined) {
      enumerators = new Map();
      for (const id of enums) {
        const p = at[id] as number;
        const info = blob.readUInt32LE(p + 4);
        const kind = (info >>> 24) & 0x1f;
        const step = kind === KIND_ENUM64 ? 12 : 8;
        for (let k = 0; k < (info & 0xffff); k++) {
          const e = p + 12 + step * k;
          const n = str(blob.readUInt32LE(e));
          if (!enumerators.has(n)) enumerators.set(n, blob.readInt32LE(e + 4));
        }
      }
    }
    const v = enumerators.get(name);
    if (v === undefined) throw new Error(`kernel BTF has no enumerator ${name}`);
    return v;
  };
  return {
    enumValue,
    hasMember(struct_, member) {
      const id = structs.get(struct_);
      return id !== undefined && findTyped(id, member) !== undefined;
    },
    funcId(name) {
      const id = funcs.get(name);
      if (id === undefined) throw new Error(`kernel BTF has no function ${name}`);
      return id;
    },
    memberBitOffset,
    offsetOf,
    memberOffset(struct_, member) {
      const bits = memberBitOffset(struct_, member);
      if (bits % 8) throw new Error(`${member} is a bitfield`);
      return bits / 8;
    },
  };
}

let cached: Btf | undefined;

export function vmlinuxBtf(): Btf {
  cached ??= parseBtf(readFileSync('/sys/kernel/btf/vmlinux'));
  return cached;
}
