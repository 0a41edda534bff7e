// The iptables alternative, through update-alternatives as iptables-nft and iptables-legacy use
// it: ours is registered with the same slaves and selected by hand; uninstall removes it and
// puts back the selection it found (auto, or the alternative chosen by hand).
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ALTERNATIVE, COMMANDS, PRIORITY, wrapperName } from './layout.js';

export interface AltDirs {
  /** Directory of the links (/usr/sbin). */
  readonly linkdir: string;
  readonly altdir?: string;
  readonly admindir?: string;
  readonly altlog?: string;
}

/** The group's selection: auto (the best by priority) or the alternative chosen by hand. */
export interface Selection {
  readonly status: 'auto' | 'manual';
  readonly value: string;
}

const dirArgs = (d: AltDirs): string[] => [
  ...(d.altdir !== undefined ? ['--altdir', d.altdir] : []),
  ...(d.admindir !== undefined ? ['--admindir', d.admindir] : []),
  ...(d.altlog !== undefined ? ['--log', d.altlog] : []),
];

function ua(d: AltDirs, args: string[]): void {
  execFileSync('update-alternatives', [...dirArgs(d), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** The iptables group as update-alternatives --query shows it; undefined when there is none. */
export function query(d: AltDirs): { selection: Selection; alternatives: string[] } | undefined {
  const r = spawnSync('update-alternatives', [...dirArgs(d), '--query', ALTERNATIVE], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return undefined;
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}: (.*)$`, 'm').exec(r.stdout)?.[1];
  const alternatives = [...r.stdout.matchAll(/^Alternative: (.*)$/gm)].map((m) => m[1] as string);
  return {
    selection: {
      status: field('Status') === 'manual' ? 'manual' : 'auto',
      value: field('Value') ?? '',
    },
    alternatives,
  };
}

/** Our alternative: the wrapper of `iptables` in `sbin`, with its restore/save slaves. */
export const ours = (sbin: string): string => join(sbin, wrapperName('iptables'));

/**
 * Registers and selects ours; returns the selection it replaced (undefined: there was no
 * group, or ours was already selected and the earlier selection is not known here).
 */
export function register(d: AltDirs, sbin: string): Selection | undefined {
  const before = query(d);
  const slaves = COMMANDS.filter((c) => c !== ALTERNATIVE).flatMap((c) => [
    '--slave',
    join(d.linkdir, c),
    c,
    join(sbin, wrapperName(c)),
  ]);
  ua(d, [
    '--install',
    join(d.linkdir, ALTERNATIVE),
    ALTERNATIVE,
    ours(sbin),
    String(PRIORITY),
    ...slaves,
  ]);
  ua(d, ['--set', ALTERNATIVE, ours(sbin)]);
  if (!before || before.selection.value === ours(sbin)) return undefined;
  return before.selection;
}

/**
 * Removes ours; when ours was selected, restores `previous` (auto when unknown). A selection the
 * administrator changed since install stays as it is. Nothing to do when ours is gone.
 */
export function unregister(d: AltDirs, sbin: string, previous: Selection | undefined): void {
  const now = query(d);
  if (!now?.alternatives.includes(ours(sbin))) return;
  ua(d, ['--remove', ALTERNATIVE, ours(sbin)]);
  const after = query(d);
  if (!after || now.selection.value !== ours(sbin)) return;
  if (previous?.status === 'manual' && after.alternatives.includes(previous.value)) {
    ua(d, ['--set', ALTERNATIVE, previous.value]);
  } else if (after.selection.status !== 'auto') {
    ua(d, ['--auto', ALTERNATIVE]);
  }
}
