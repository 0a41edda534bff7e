// Where `bpfilter install` puts things and what it writes: pure, so the layout, the wrappers
// and the unit are tested as text. Debian's places under a prefix (default /usr/local): the
// helper in lib/bpfilter, commands in sbin, the unit in lib/systemd/system (both /usr/lib and
// /usr/local/lib are on systemd's unit path), module sources in src/bpfilter-VERSION (DKMS).
import { join } from 'node:path';

export const DEFAULT_PREFIX = '/usr/local';
/** Where Debian keeps the iptables binaries and the alternative's links. */
export const SYSTEM_SBIN = '/usr/sbin';
export const ALTERNATIVE = 'iptables';
/** Below iptables-legacy (10) and iptables-nft (20): installing selects ours by hand
 *  (manual mode), so `update-alternatives --auto iptables` goes back to the distribution's. */
export const PRIORITY = 5;

export interface InstallOptions {
  readonly prefix: string;
  /** Staging root for packaging: files go under it, nothing is registered or started. */
  readonly destdir: string;
  /** Directory of the alternative's links (/usr/sbin/iptables, ...). */
  readonly linkdir: string;
  /** update-alternatives --altdir / --admindir / --log, when not the system's. */
  readonly altdir?: string;
  readonly admindir?: string;
  readonly altlog?: string;
  /** Daemon options written into the unit and the wrappers, when not the defaults. */
  readonly socket?: string;
  readonly pinRoot?: string;
  readonly stateDir?: string;
  /** Register the iptables alternative (default: unless staging). */
  readonly alternative: boolean;
  /** Reload, enable and (re)start the unit when systemd runs (default: unless staging). */
  readonly systemctl: boolean;
}

export interface Paths {
  readonly lib: string;
  readonly sbin: string;
  readonly unit: string;
  readonly kmod: string;
  readonly doc: string;
  /** What install wrote and the alternative it replaced: uninstall reads it. */
  readonly manifest: string;
}

/** The installed locations, as the running system sees them (without destdir). */
export function paths(prefix: string, version: string): Paths {
  const lib = join(prefix, 'lib', 'bpfilter');
  return {
    lib,
    sbin: join(prefix, 'sbin'),
    unit: join(prefix, 'lib', 'systemd', 'system', 'bpfilter.service'),
    kmod: join(prefix, 'src', `bpfilter-${version}`),
    doc: join(prefix, 'share', 'doc', 'bpfilter'),
    manifest: join(lib, 'install.json'),
  };
}

/** The iptables commands the alternative covers: the master link and its slaves. */
export const COMMANDS = ['iptables', 'iptables-restore', 'iptables-save'] as const;
export type Command = (typeof COMMANDS)[number];

/** Our wrapper for `cmd` (iptables-bpfilter, iptables-bpfilter-save, ...), beside -legacy's. */
export const wrapperName = (cmd: Command): string => cmd.replace(/^iptables/, 'iptables-bpfilter');
const legacyName = (cmd: Command): string => cmd.replace(/^iptables/, 'iptables-legacy');

/** A word for sh, quoted. */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The stock iptables-legacy with its sockopts sent to the helper by the shim. Callers' own
 * LD_PRELOAD and BPFILTER_SOCKET are kept (a test or a second daemon may set the socket).
 */
export function wrapper(cmd: Command, lib: string, socket: string): string {
  return `#!/bin/sh
# ${wrapperName(cmd)}: the stock ${legacyName(cmd)}, its iptables sockopts sent by the
# LD_PRELOAD shim to the bpfilter helper. Installed by \`bpfilter install\`; the ${ALTERNATIVE}
# alternative points here, so every program that runs ${SYSTEM_SBIN}/${cmd} reaches the helper.
BPFILTER_SOCKET=\${BPFILTER_SOCKET:-${shq(socket)}}
LD_PRELOAD=${shq(join(lib, 'shim.so'))}\${LD_PRELOAD:+:$LD_PRELOAD}
export BPFILTER_SOCKET LD_PRELOAD
exec ${shq(join(SYSTEM_SBIN, legacyName(cmd)))} "$@"
`;
}

/** `bpfilter` on the PATH: the helper under the node that installed it. */
export function launcher(node: string, lib: string): string {
  return `#!/bin/sh
exec ${shq(node)} ${shq(join(lib, 'dist', 'src', 'cli.js'))} "$@"
`;
}

/** An argument for a unit's Exec line: quoted only when it must be. */
const unitArg = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : JSON.stringify(s));

/** The daemon's own options from InstallOptions, as command-line words. */
export function daemonOptions(
  o: Pick<InstallOptions, 'socket' | 'pinRoot' | 'stateDir'>,
): string[] {
  return [
    ...(o.socket !== undefined ? ['--socket', o.socket] : []),
    ...(o.pinRoot !== undefined ? ['--pin-root', o.pinRoot] : []),
    ...(o.stateDir !== undefined ? ['--state-dir', o.stateDir] : []),
  ];
}

/**
 * The daemon as a system firewall: up before the network and before the programs that call
 * iptables at boot, restarted when it fails. Nothing in it namespaces the daemon: its pins must
 * be in the host's /sys/fs/bpf and its sockets in the host's /run, where every iptables finds
 * them (no PrivateMounts, PrivateNetwork, PrivateTmp, ProtectSystem, ProtectKernelTunables,
 * ReadOnlyPaths, InaccessiblePaths, TemporaryFileSystem or RootDirectory).
 */
export function unit(p: Paths, o: Pick<InstallOptions, 'socket' | 'pinRoot' | 'stateDir'>): string {
  const bin = join(p.sbin, 'bpfilter');
  const exec = (words: string[]): string => [bin, ...words].map(unitArg).join(' ');
  const socket = o.socket !== undefined ? ['--socket', o.socket] : [];
  return `# Installed by \`bpfilter install\`; \`bpfilter uninstall\` removes it.
[Unit]
Description=bpfilter: iptables rules enforced by eBPF (the helper daemon)
Documentation=file:${join(p.doc, 'README.md')}
DefaultDependencies=no
Wants=network-pre.target
After=local-fs.target
Before=network-pre.target shutdown.target ufw.service fail2ban.service netfilter-persistent.service docker.service
Conflicts=shutdown.target

[Service]
Type=exec
ExecStart=${exec(['daemon', ...daemonOptions(o)])}
# Units ordered after this one start once the daemon answers, not merely once it is forked.
ExecStartPost=${exec(['status', ...socket, '--wait', '30', '--quiet'])}
Restart=on-failure
RestartSec=1s

[Install]
WantedBy=multi-user.target
`;
}

/** A DKMS description of the module sources, so `dkms install bpfilter/VERSION` builds them. */
export function dkmsConf(version: string): string {
  return `PACKAGE_NAME="bpfilter"
PACKAGE_VERSION="${version}"
BUILT_MODULE_NAME[0]="bpfilter"
DEST_MODULE_LOCATION[0]="/updates/dkms"
MAKE[0]="make -C \${kernel_source_dir} M=\${dkms_tree}/\${PACKAGE_NAME}/\${PACKAGE_VERSION}/build modules"
CLEAN="make -C \${kernel_source_dir} M=\${dkms_tree}/\${PACKAGE_NAME}/\${PACKAGE_VERSION}/build clean"
# Not built for every new kernel by itself: the module excludes ip_tables (docs/kmod.md).
AUTOINSTALL="no"
`;
}
