// Real firewall clients (ufw, fail2ban) call /usr/sbin/iptables, the system's alternative. To
// point them at the kernel's iptables-legacy or at ours without touching the machine's
// alternative, each side gets a throwaway copy of /etc/alternatives whose iptables links lead
// to wrappers, bind-mounted over /etc/alternatives in a private mount namespace that lives as
// long as the command (unshare -m), inside the side's server namespace.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, symlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../ipc/helpers.js';
import type { Side, Twins } from './twins.js';

const SHIM = join(ROOT, 'native', 'build', 'shim.so');
const TOOLS = ['iptables', 'iptables-restore', 'iptables-save'] as const;

export class Alternatives {
  private readonly dirs = new Map<Side, string>();

  constructor(private readonly twins: Twins) {}

  /** The side's alternatives directory: iptables* run iptables-legacy*, ours through the shim. */
  private dir(side: Side): string {
    const have = this.dirs.get(side);
    if (have !== undefined) return have;
    const base = join(this.twins.dir, `alt-${side}`);
    const bin = join(base, 'bin');
    const alt = join(base, 'alternatives');
    mkdirSync(bin, { recursive: true });
    cpSync('/etc/alternatives', alt, { recursive: true, verbatimSymlinks: true });
    for (const tool of TOOLS) {
      const legacy = `/usr/sbin/${tool.replace('iptables', 'iptables-legacy')}`;
      const env = side === 'bpf' ? `LD_PRELOAD=${SHIM} BPFILTER_SOCKET=${this.twins.sock} ` : '';
      const wrapper = join(bin, tool);
      writeFileSync(wrapper, `#!/bin/sh\n${env}exec ${legacy} "$@"\n`);
      chmodSync(wrapper, 0o755);
      rmSync(join(alt, tool), { force: true });
      symlinkSync(wrapper, join(alt, tool));
    }
    this.dirs.set(side, alt);
    return alt;
  }

  /** argv running `cmd` in the side's server with its alternatives. */
  argv(side: Side, cmd: readonly string[]): string[] {
    const quoted = cmd.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    return [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount --bind ${this.dir(side)} /etc/alternatives && exec ip netns exec ${this.twins.ns(side, 's')} ${quoted}`,
    ];
  }

  run(side: Side, cmd: readonly string[], timeout = 60000): string {
    const [file, ...args] = this.argv(side, cmd);
    const r = spawnSync(file as string, args, { encoding: 'utf8', timeout });
    if (r.status !== 0) throw new Error(`${side}: ${cmd.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  spawn(side: Side, cmd: readonly string[]): ChildProcess {
    const [file, ...args] = this.argv(side, cmd);
    return spawn(file as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  }
}

/** iptables-save text without its comments and with counters zeroed: the rules themselves. */
export function rulesOnly(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n');
}

/** A copy of ufw's state and scripts under `dir`, for --rootdir/--datadir; IPv4 only. */
export function ufwRoot(dir: string): string {
  mkdirSync(join(dir, 'usr', 'share'), { recursive: true });
  mkdirSync(join(dir, 'etc', 'default'), { recursive: true });
  mkdirSync(join(dir, 'lib'), { recursive: true });
  cpSync('/lib/ufw', join(dir, 'lib', 'ufw'), { recursive: true });
  cpSync('/usr/share/ufw', join(dir, 'usr', 'share', 'ufw'), { recursive: true });
  cpSync('/etc/ufw', join(dir, 'etc', 'ufw'), { recursive: true });
  execFileSync('sh', [
    '-c',
    `sed 's/^IPV6=yes/IPV6=no/' /etc/default/ufw > '${join(dir, 'etc', 'default', 'ufw')}'`,
  ]);
  return dir;
}
