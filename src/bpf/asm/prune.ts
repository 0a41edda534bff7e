// Dead code removal before the fixup pass. The verifier refuses a program with an instruction no
// path reaches ("unreachable insn"), and codegen makes them honestly: a match that can never
// hold (`! --icmp-type any`) jumps away before the rest of its rule, a rule that always holds
// and ends the chain (`-m comment` alone, `-s 0/0`) leaves the rules after it behind. Rather than
// have every emitter reason about it, this pass keeps what is reachable from the entry and from
// every subprogram a reachable instruction names (bpf_loop callbacks, local calls).
import { Class, JmpOp, opClass, opOp, Pseudo } from './opcodes.js';
import type { Insn } from './insn.js';

function isJmpClass(insn: Insn): boolean {
  const cls = opClass(insn.code);
  return cls === Class.JMP || cls === Class.JMP32;
}

/** The instructions reachable from the first one, in their order. */
export function pruneUnreachable(insns: readonly Insn[]): Insn[] {
  const at = new Map<string, number>();
  insns.forEach((insn, i) => {
    for (const l of insn.labels ?? []) at.set(l, i);
  });
  const target = (insn: Insn): number | undefined =>
    insn.ref?.kind === 'label' ? at.get(insn.ref.name) : undefined;
  const seen = new Uint8Array(insns.length);
  const todo = [0];
  while (todo.length) {
    let i = todo.pop() as number;
    while (i < insns.length && !seen[i]) {
      seen[i] = 1;
      const insn = insns[i] as Insn;
      const to = target(insn);
      if (isJmpClass(insn)) {
        const op = opOp(insn.code);
        if (op === JmpOp.EXIT) break;
        if (op === JmpOp.CALL) {
          // A local call's callee is a subprogram entry; helpers and kfuncs return here.
          if (insn.src === Pseudo.CALL && to !== undefined) todo.push(to);
        } else if (op === JmpOp.JA) {
          // Unlabelled, it can only be a Nop (ja +0): offsets are resolved later, in slots.
          if (to === undefined && insn.off !== 0) throw new Error('unlabelled jump over code');
          i = to ?? i + 1;
          continue;
        } else if (to !== undefined) {
          todo.push(to);
        }
      } else if (to !== undefined) {
        // ld_imm64 of a function (bpf_loop's callback): that subprogram is reachable too.
        todo.push(to);
      }
      i++;
    }
  }
  return insns.filter((_, i) => seen[i]);
}
