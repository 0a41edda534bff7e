// `bpfilter install` / `uninstall` (and `make install` / `make uninstall`): copy the helper, the
// shim and the module sources into place, write the wrappers and the unit, start the daemon
// when systemd runs, and only then point the iptables alternative at the wrappers, so no caller
// finds the alternative switched and no helper there. Both ways are idempotent; uninstall puts
// back the alternative it found, stops the daemon and removes its pins, so the kernel's own
// iptables is what remains.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_PIN_ROOT } from '../bpf/bpffs.js';
import { controlPath, queryControl } from '../ipc/control.js';
import { DEFAULT_SOCKET } from '../ipc/daemon.js';
import { DEFAULT_STATE_DIR } from '../ipc/persist.js';
import { register, unregister, type AltDirs, type Selection } from './alternatives.js';
import {
  COMMANDS,
  dkmsConf,
  launcher,
  paths,
  unit,
  wrapper,
  wrapperName,
  type InstallOptions,
} from './layout.js';

export type Say = (line: string) => void;

/** What install leaves for uninstall, in the helper's directory. */
interface Manifest {
  readonly version: string;
  readonly prefix: string;
  readonly options: Omit<InstallOptions, 'prefix' | 'destdir'>;
  /** Files and directories install wrote (as the running system sees them). */
  readonly installed: readonly string[];
  /** The alternative's selection before ours; absent when none was registered or known. */
  readonly previous?: Selection;
  readonly alternativeRegistered: boolean;
}

/** Packages the helper needs at run time: the dependency closure of package.json. */
export function runtimePackages(root: string): string[] {
  const found = new Set<string>();
  const visit = (dir: string): void => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      // Node's resolution: the nearest node_modules up from the requiring package.
      let at: string | undefined;
      for (let d = dir; ; d = dirname(d)) {
        const cand = join(d, 'node_modules', name);
        if (existsSync(join(cand, 'package.json'))) {
          at = cand;
          break;
        }
        if (d === root || dirname(d) === d) break;
      }
      if (at === undefined) {
        if (pkg.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`${name}, needed by ${dir}, is not installed: run make setup`);
      }
      if (found.has(at)) continue;
      found.add(at);
      visit(at);
    }
  };
  visit(root);
  // Nested packages come along inside the package that holds them.
  const top = join(root, 'node_modules');
  return [...found]
    .filter((p) => /^(@[^/]+\/)?[^/@]+$/.test(p.slice(top.length + 1)))
    .map((p) => p.slice(root.length + 1))
    .sort();
}

const systemdRuns = (): boolean => existsSync('/run/systemd/system');

function systemctl(say: Say, ...args: string[]): void {
  const r = spawnSync('systemctl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`systemctl ${args.join(' ')}: ${r.stderr.trim()}`);
  say(`systemctl ${args.join(' ')}`);
}

function write(path: string, text: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

function readManifest(file: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

const altDirs = (o: Omit<InstallOptions, 'prefix' | 'destdir'>): AltDirs => ({
  linkdir: o.linkdir,
  ...(o.altdir !== undefined ? { altdir: o.altdir } : {}),
  ...(o.admindir !== undefined ? { admindir: o.admindir } : {}),
  ...(o.altlog !== undefined ? { altlog: o.altlog } : {}),
});

/** Copies the helper from `root` (a build tree, or an installed helper being re-registered). */
function copyHelper(root: string, lib: string, say: Say): void {
  if (existsSync(lib) && realpathSync(lib) === realpathSync(root)) {
    say(`${lib}: the helper runs from here already`);
    return;
  }
  const shim = [join(root, 'native', 'build', 'shim.so'), join(root, 'shim.so')].find(existsSync);
  if (shim === undefined) throw new Error(`no shim.so under ${root}: run make`);
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(lib, { recursive: true });
  cpSync(join(root, 'package.json'), join(lib, 'package.json'));
  cpSync(join(root, 'dist', 'src'), join(lib, 'dist', 'src'), { recursive: true });
  for (const p of runtimePackages(root)) cpSync(join(root, p), join(lib, p), { recursive: true });
  cpSync(shim, join(lib, 'shim.so'));
  // Where src/sys/native.ts looks for it: beside dist/, as in the build tree.
  const addon = join(root, 'native', 'build', 'sys.node');
  if (!existsSync(addon)) throw new Error(`no native/build/sys.node under ${root}: run make`);
  mkdirSync(join(lib, 'native', 'build'), { recursive: true });
  cpSync(addon, join(lib, 'native', 'build', 'sys.node'));
  const umh = [join(root, 'native', 'build', 'umh-launch'), join(root, 'umh-launch')].find(
    existsSync,
  );
  if (umh !== undefined) cpSync(umh, join(lib, 'umh-launch'));
  say(`${lib}: the helper, its runtime packages, shim.so, sys.node${umh ? ', umh-launch' : ''}`);
}

function copyKmod(root: string, dest: string, version: string, say: Say): boolean {
  const src = join(root, 'kmod');
  if (!existsSync(src)) return false;
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(src).filter((n) => /^(Kbuild|Makefile|.*\.[ch])$/.test(n))) {
    cpSync(join(src, f), join(dest, f));
  }
  write(join(dest, 'dkms.conf'), dkmsConf(version), 0o644);
  say(`${dest}: the kernel module's sources (dkms.conf included)`);
  return true;
}

function copyDocs(root: string, dest: string): boolean {
  if (!existsSync(join(root, 'README.md'))) return false;
  mkdirSync(dest, { recursive: true });
  cpSync(join(root, 'README.md'), join(dest, 'README.md'));
  if (existsSync(join(root, 'docs')))
    cpSync(join(root, 'docs'), join(dest, 'docs'), { recursive: true });
  return true;
}

export function install(
  o: InstallOptions,
  root: string,
  version: string,
  node: string,
  say: Say,
): void {
  const p = paths(o.prefix, version);
  const at = (path: string): string => join(o.destdir || '/', path);
  const lib = at(p.lib);
  const earlier = readManifest(at(p.manifest));
  copyHelper(root, lib, say);
  const installed: string[] = [p.lib];
  if (copyKmod(root, at(p.kmod), version, say)) installed.push(p.kmod);
  if (copyDocs(root, at(p.doc))) installed.push(p.doc);
  const bin = join(p.sbin, 'bpfilter');
  write(at(bin), launcher(node, p.lib), 0o755);
  installed.push(bin);
  for (const c of COMMANDS) {
    const w = join(p.sbin, wrapperName(c));
    write(at(w), wrapper(c, p.lib, o.socket ?? DEFAULT_SOCKET), 0o755);
    installed.push(w);
  }
  say(`${at(p.sbin)}: bpfilter, ${COMMANDS.map(wrapperName).join(', ')}`);
  write(at(p.unit), unit(p, o), 0o644);
  installed.push(p.unit);
  say(`${at(p.unit)}`);

  // Re-run from an installed helper, the module sources and docs are not copied again: still ours.
  for (const f of earlier?.installed ?? []) if (!installed.includes(f)) installed.push(f);
  const { prefix: _prefix, destdir: _destdir, ...options } = o;
  const manifest = (m: Pick<Manifest, 'previous' | 'alternativeRegistered'>): void =>
    write(
      at(p.manifest),
      `${JSON.stringify({ version, prefix: o.prefix, options, installed, ...m }, null, 1)}\n`,
      0o644,
    );
  // Written before anything is registered, so an interrupted install can still be undone.
  const keep = earlier?.previous !== undefined ? { previous: earlier.previous } : {};
  manifest({ ...keep, alternativeRegistered: earlier?.alternativeRegistered ?? false });

  if (o.systemctl && systemdRuns()) {
    systemctl(say, 'daemon-reload');
    systemctl(say, 'enable', 'bpfilter.service');
    // A reinstall runs the new code; the new daemon adopts the pins, filtering goes on meanwhile.
    systemctl(say, 'restart', 'bpfilter.service');
  } else if (o.systemctl) {
    say('systemd is not running: start the helper with `bpfilter daemon` (or the unit elsewhere)');
  }
  if (o.alternative) {
    const previous = register(altDirs(options), at(p.sbin)) ?? earlier?.previous;
    manifest({ ...(previous ? { previous } : {}), alternativeRegistered: true });
    say(
      `${join(o.linkdir, 'iptables')} -> ${join(at(p.sbin), wrapperName('iptables'))}` +
        (previous ? ` (was ${previous.status}: ${previous.value})` : ''),
    );
  }
}

/** Whether `pid` still runs (a zombie whose parent has not reaped it yet has stopped). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops a daemon that still answers on `socket`'s control socket (no systemd to ask). */
async function stopDaemon(socket: string, say: Say): Promise<void> {
  let pid: number;
  try {
    pid = ((await queryControl(controlPath(socket), 'status', 2000)) as { pid: number }).pid;
  } catch {
    return; // not running
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && running(pid); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  say(`stopped the helper (pid ${pid})`);
}

export async function uninstall(
  prefix: string,
  destdir: string,
  version: string,
  say: Say,
): Promise<void> {
  const p = paths(prefix, version);
  const at = (path: string): string => join(destdir || '/', path);
  const m = readManifest(at(p.manifest));
  if (m === undefined) {
    say(`nothing installed under ${prefix} (no ${at(p.manifest)})`);
    return;
  }
  const o = m.options;
  // The kernel's iptables first, so no caller reaches a helper that is going away.
  if (m.alternativeRegistered) {
    unregister(altDirs(o), at(join(prefix, 'sbin')), m.previous);
    say(
      `${join(o.linkdir, 'iptables')}: ours removed` +
        (m.previous ? `, back to ${m.previous.status}: ${m.previous.value}` : ''),
    );
  }
  if (o.systemctl && systemdRuns() && !destdir) {
    systemctl(say, 'disable', '--now', 'bpfilter.service');
  }
  if (!destdir) {
    await stopDaemon(o.socket ?? DEFAULT_SOCKET, say);
    // Without the helper nobody answers for these rules: the kernel's own iptables takes over.
    const left: [string, string][] = [
      [o.pinRoot ?? DEFAULT_PIN_ROOT, 'the pinned programs, links and maps'],
      [o.stateDir ?? DEFAULT_STATE_DIR, 'the saved rulesets'],
    ];
    for (const [dir, what] of left) {
      if (!existsSync(dir)) continue;
      rmSync(dir, { recursive: true, force: true });
      say(`${dir}: removed ${what}`);
    }
  }
  for (const f of [...m.installed].reverse()) rmSync(at(f), { recursive: true, force: true });
  say(`removed ${m.installed.join(', ')}`);
  if (o.systemctl && systemdRuns() && !destdir) systemctl(say, 'daemon-reload');
}
