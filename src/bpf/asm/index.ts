// The eBPF assembler: instruction builders, the fixup pass, the text form.
export * from './insn.js';
export * from './opcodes.js';
export * from './alu.js';
export * from './jump.js';
export * from './load_store.js';
export * from './program.js';
export * from './disasm.js';
export * from './prune.js';
