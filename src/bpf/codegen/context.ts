// What an extension's codegen is given. Match code reads the packet state through R9 (see
// state.ts), may clobber R0-R5, keeps R6-R9, falls through when the match holds and jumps to
// `noMatch` when it does not — inversions are its own business, as in the kernel's match
// functions. `hotdrop` drops the packet at once (the kernel's par->hotdrop).
import type { Insn } from '../asm/index.js';

export interface CodegenContext {
  readonly noMatch: string;
  readonly hotdrop: string;
  /** A label unique in the program, derived from `hint`. */
  label(hint: string): string;
}

export class Unsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unsupported';
  }
}

export type MatchCodegen<T> = (value: T, revision: number, cg: CodegenContext) => readonly Insn[];
