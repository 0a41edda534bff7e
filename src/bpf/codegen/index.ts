// Table → plan → one program per hook, with everything a loader needs to load them.
import { assemble, type Assembled } from '../asm/index.js';
import type { Table } from '../../translate/ir.js';
import { planTable, type Plan } from '../../translate/plan.js';
import { funcInfoBtf, type FuncInfoBtf } from './btf.js';
import type { HookFlavor } from './flavor.js';
import { netfilterFlavor } from './nf.js';
import { compileHook, type HookProgram } from './program.js';

export { COUNTERS_MAP } from './program.js';
export { LIMITS_MAP } from './context.js';

export interface CompiledTable {
  readonly plan: Plan;
  readonly programs: readonly HookProgram[];
}

export function compileTable(table: Table, flavor: HookFlavor = netfilterFlavor()): CompiledTable {
  const plan = planTable(table);
  return { plan, programs: plan.hooks.map((h) => compileHook(plan, h, flavor)) };
}

export interface LinkedProgram {
  readonly code: Assembled;
  /** BTF and func_info records ({insn_off, type_id}) when the program has a callback. */
  readonly btf?: { readonly btf: FuncInfoBtf; readonly funcInfo: Buffer };
}

/** Resolves labels and maps; adds the BTF the verifier needs for a bpf_loop callback. */
export function link(prog: HookProgram, maps: (name: string) => number): LinkedProgram {
  const code = assemble(prog.insns, { maps });
  if (!prog.callback) return { code };
  const btf = funcInfoBtf([
    { name: 'bpfilter_hook', params: ['ptr'] },
    { name: 'bpfilter_walk', params: ['int', 'ptr'] },
  ]);
  const funcInfo = Buffer.alloc(16);
  funcInfo.writeUInt32LE(0, 0);
  funcInfo.writeUInt32LE(btf.funcs.get('bpfilter_hook') as number, 4);
  funcInfo.writeUInt32LE(code.labels.get(prog.callback) as number, 8);
  funcInfo.writeUInt32LE(btf.funcs.get('bpfilter_walk') as number, 12);
  return { code, btf: { btf, funcInfo } };
}
