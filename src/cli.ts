#!/usr/bin/env node
// The `bpfilter` command: a thin dispatcher to the layer that owns each subcommand.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfBackend } from './bpf/backend.js';
import { WorkerCompute } from './bpf/engine/compute.js';
import { StoreOnlyBackend, type RulesetBackend } from './ipc/backend.js';
import { guardBpffs } from './ipc/bpffs-guard.js';
import { eventWiring, type EventWiring } from './ipc/events.js';
import { controlPath, queryControl, serveControl } from './ipc/control.js';
import { buildStatus, formatStatus, type DaemonMeta, type DaemonStatus } from './ipc/status.js';
import { DEFAULT_PIN_ROOT } from './bpf/bpffs.js';
import { install, uninstall } from './install/install.js';
import { DEFAULT_PREFIX, SYSTEM_SBIN, type InstallOptions } from './install/layout.js';
import { DEFAULT_STATE_DIR, StateFiles } from './ipc/persist.js';
import { DEFAULT_SOCKET, serveSocket } from './ipc/daemon.js';
import { SockoptService, stderrLogger } from './ipc/service.js';
import { serveUmh } from './ipc/umh.js';
import { netfilterFlavor } from './bpf/codegen/nf.js';
import { Keepers } from './ipc/keepers.js';
import { recentList } from './bpf/recent-lists.js';
import { RECENT_MAP } from './bpf/codegen/recent.js';
import { cookieOf } from './sys/netns.js';
import { formatTranslation, TranslateError, translateSave } from './translate/offline.js';

const usage = `usage: bpfilter <command>

commands:
  umh [OPTIONS]              serve mbox requests on stdin/stdout (started by the kernel module)
  daemon [--socket PATH] [OPTIONS]
                             serve mbox requests on a unix socket (default ${DEFAULT_SOCKET})
  run [--socket PATH] -- CMD run CMD with the LD_PRELOAD shim that forwards iptables sockopts
  status [--socket PATH | --control PATH] [--json] [--wait SECONDS] [--quiet]
                             is the daemon up, and what it serves per netns and table: rules,
                             last apply, refused applies, BPF programs, links, maps and pins;
                             exit 3 when nothing answers (--wait: until it does)
  install [--prefix DIR] [OPTIONS]
                             install the helper, the shim, the module sources and
                             bpfilter.service under DIR (default ${DEFAULT_PREFIX}), start it when
                             systemd runs, and make the iptables alternative run iptables-legacy
                             through the shim (see docs/install.md)
  uninstall [--prefix DIR]   undo install: the earlier iptables alternative, the daemon stopped,
                             its pins and files removed
  recent [--netns NAME] LIST [+ADDR|-ADDR|/]
                             the recent list LIST of the namespace (default: this one) as
                             /proc/net/xt_recent/LIST shows it, or written as it takes writes
  translate [FILE] [--json]  print the plan and annotated BPF for an iptables-save file (or
                             stdin); nothing is loaded, no root needed
  help                       this text

options of umh and daemon:
  --store-only               keep and list rulesets without filtering (no BPF)
  --pin-root DIR             bpffs directory for pinned links and maps (default /sys/fs/bpf/bpfilter;
                             without it the daemon refuses to start unless /sys/fs/bpf is the
                             host's bpffs, so that filtering outlives the daemon)
  --state-dir DIR            where rulesets are kept for a restarted helper (default ${DEFAULT_STATE_DIR})
  --log-file FILE            write LOG target lines to FILE instead of /dev/kmsg
  --control PATH             the control socket \`status\` asks (daemon default: beside --socket,
                             .sock replaced by .ctl; umh: none unless given)
`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHIM_PATH = join(root, 'native', 'build', 'shim.so');

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const VERSION = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
).version;

interface Helper {
  readonly service: SockoptService;
  /** `bpfilter recent`: a list of a namespace, listed or written. */
  recent?(netns: string, name: string, op?: string): string;
  /** The status document for the control socket. */
  status(): Promise<DaemonStatus>;
  /** Stops what keeps the process alive besides the transport (the event reader). */
  close(): void;
}

const GC_INTERVAL_MS = 60_000;

/** BPFILTER_TEST_LOAD_DELAY_MS: tests hold a program load that long (BpfBackendOptions). */
function testLoadDelay(): { loadDelayMs?: number } {
  const ms = Number(process.env.BPFILTER_TEST_LOAD_DELAY_MS ?? 0);
  return Number.isFinite(ms) && ms > 0 ? { loadDelayMs: ms } : {};
}

function makeService(args: string[], transport: { socket?: string; control?: string }): Helper {
  const startedAt = Date.now();
  const pinRoot = option(args, '--pin-root');
  let backend: RulesetBackend;
  let close = (): void => undefined;
  let recent: Helper['recent'];
  let events: EventWiring | undefined;
  const compute = new WorkerCompute({
    onFatal: (e) => {
      // Its tables cannot be rebuilt here; a restarted helper resumes from state and pins.
      stderrLogger({ event: 'compute worker failed, exiting', error: String(e) });
      process.exit(70);
    },
    onWarm: (worker, r) => stderrLogger({ event: 'compute warm', worker, ...r }),
  });
  if (args.includes('--store-only')) backend = new StoreOnlyBackend();
  else {
    const note = guardBpffs(pinRoot);
    if (note !== undefined) stderrLogger({ event: 'bpffs', note });
    const wiring = eventWiring(stderrLogger, option(args, '--log-file'));
    const keepers = new Keepers((e) => stderrLogger({ event: 'keeper failed', error: String(e) }));
    const bpf = new BpfBackend({
      compute,
      ...(pinRoot !== undefined ? { pinRoot } : {}),
      ...wiring,
      keeper: (netns, desc, fd) => keepers.start(netns, desc, fd),
      ...testLoadDelay(),
    });
    wiring.connect((netns, cookie, ctinfo, ct) => bpf.tagReply(netns, cookie, ctinfo, ct));
    backend = bpf;
    events = wiring;
    close = () => {
      bpf.close();
      keepers.close();
    };
    recent = (netns, name, op) => {
      const t = bpf.netnsTable(netns, RECENT_MAP, name);
      if (!t) throw new Error(`ENOENT: no recent list "${name}" in netns ${netns}`);
      return recentList(t.fd, t.slot, op);
    };
  }
  const stateDir = option(args, '--state-dir') ?? DEFAULT_STATE_DIR;
  stderrLogger({ event: 'start', backend: backend.name, stateDir, pid: process.pid });
  const service = new SockoptService(backend, compute, stderrLogger, new StateFiles(stateDir));
  // Namespaces die without telling anyone: forget theirs at start and then now and again.
  const gc = (): void => {
    try {
      service.collect();
    } catch (e) {
      stderrLogger({ event: 'collect failed', error: String(e) });
    }
  };
  gc();
  const timer = setInterval(gc, GC_INTERVAL_MS);
  timer.unref();
  const meta: DaemonMeta = {
    version: VERSION,
    startedAt,
    backend: backend.name,
    ...transport,
    ...(backend instanceof StoreOnlyBackend ? {} : { pinRoot: pinRoot ?? DEFAULT_PIN_ROOT }),
    stateDir,
  };
  return {
    service,
    ...(recent ? { recent } : {}),
    status: async () =>
      buildStatus({
        meta,
        tables: await service.served(),
        history: service.applies,
        ...(backend.describe ? { describe: (id: string) => backend.describe?.(id) } : {}),
        ...(events ? { events: events.counts } : {}),
      }),
    close: () => {
      clearInterval(timer);
      close();
      void compute.close();
    },
  };
}

/**
 * A daemon that stops on a signal says so before it goes, then dies of that signal as it would
 * have (systemd reads a SIGTERM death as a clean stop): a helper that vanished from a log
 * without a word was killed by SIGKILL or crashed.
 */
function logStopSignals(): void {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      stderrLogger({ event: 'stopping', signal });
      process.kill(process.pid, signal);
    });
  }
}

/** Answers the control socket's requests. */
function controlAnswer(helper: Helper): (request: string) => unknown {
  return (request) => {
    if (request === 'status') return helper.status();
    if (request.startsWith('recent ')) {
      const r = JSON.parse(request.slice(7)) as { netns: string; name: string; op?: string };
      if (!helper.recent) throw new Error('this helper keeps no recent lists (--store-only)');
      return { text: helper.recent(r.netns, r.name, r.op) };
    }
    throw new Error(`unknown request '${request}'`);
  };
}

function installOptions(args: string[]): InstallOptions {
  const destdir = option(args, '--destdir') ?? '';
  const opt = (name: string, key: keyof InstallOptions): Partial<InstallOptions> => {
    const v = option(args, name);
    return v !== undefined ? { [key]: v } : {};
  };
  return {
    prefix: option(args, '--prefix') ?? DEFAULT_PREFIX,
    destdir,
    linkdir: option(args, '--linkdir') ?? SYSTEM_SBIN,
    ...opt('--altdir', 'altdir'),
    ...opt('--admindir', 'admindir'),
    ...opt('--alt-log', 'altlog'),
    ...opt('--socket', 'socket'),
    ...opt('--pin-root', 'pinRoot'),
    ...opt('--state-dir', 'stateDir'),
    alternative: !destdir && !args.includes('--no-alternative'),
    systemctl: !destdir && !args.includes('--no-systemctl'),
  };
}

const say = (line: string): void => {
  process.stdout.write(`bpfilter: ${line}\n`);
};

/** `bpfilter recent [--netns NAME] LIST [+ADDR|-ADDR|/]`: /proc/net/xt_recent/LIST's reads and writes. */
async function recentCommand(args: string[]): Promise<number> {
  const control =
    option(args, '--control') ??
    controlPath(option(args, '--socket') ?? process.env.BPFILTER_SOCKET ?? DEFAULT_SOCKET);
  const ns = option(args, '--netns');
  const rest = args.filter(
    (a, i) =>
      !['--netns', '--socket', '--control'].includes(a) &&
      !['--netns', '--socket', '--control'].includes(args[i - 1] ?? ''),
  );
  const [name, op] = rest;
  if (name === undefined) {
    process.stderr.write('usage: bpfilter recent [--netns NAME] LIST [+ADDR|-ADDR|/]\n');
    return 2;
  }
  const netns = String(cookieOf(ns === undefined ? '/proc/self/ns/net' : `/run/netns/${ns}`));
  const request = `recent ${JSON.stringify({ netns, name, ...(op !== undefined ? { op } : {}) })}`;
  const answer = (await queryControl(control, request)) as { text?: string; error?: string };
  if (answer.error !== undefined) {
    process.stderr.write(`bpfilter recent: ${answer.error}\n`);
    return 1;
  }
  process.stdout.write(answer.text ?? '');
  return 0;
}

async function status(args: string[]): Promise<number> {
  const control =
    option(args, '--control') ??
    controlPath(option(args, '--socket') ?? process.env.BPFILTER_SOCKET ?? DEFAULT_SOCKET);
  const wait = Number(option(args, '--wait') ?? 0);
  const deadline = Date.now() + wait * 1000;
  const json = args.includes('--json');
  const quiet = args.includes('--quiet');
  for (;;) {
    try {
      const answer = (await queryControl(control, 'status')) as DaemonStatus | { error: string };
      if ('error' in answer) throw new Error(answer.error);
      if (!quiet)
        process.stdout.write(json ? `${JSON.stringify(answer, null, 1)}\n` : formatStatus(answer));
      return 0;
    } catch (e) {
      if (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const error = `bpfilter is not running: no answer on ${control} (${e instanceof Error ? e.message : String(e)})`;
      if (json) process.stdout.write(`${JSON.stringify({ up: false, control, error })}\n`);
      else if (!quiet) process.stderr.write(`${error}\n`);
      return 3;
    }
  }
}

function translate(args: string[]): number {
  const json = args.includes('--json');
  const [file = '-'] = args.filter((a) => a !== '--json');
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  // A listing piped into `head` is cut short on purpose, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  try {
    const t = translateSave(text, netfilterFlavor());
    process.stdout.write(json ? JSON.stringify(t, null, 1) + '\n' : formatTranslation(t));
    return 0;
  } catch (e) {
    if (!(e instanceof TranslateError)) throw e;
    if (json) {
      const error = {
        message: e.message,
        ...(e.line !== undefined ? { line: e.line } : {}),
        refusals: e.refusals,
      };
      process.stdout.write(JSON.stringify({ error }, null, 1) + '\n');
    } else {
      process.stderr.write(`bpfilter translate: ${e.message}\n`);
    }
    return 1;
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd = 'help', ...args] = argv;
  switch (cmd) {
    case 'umh': {
      const control = option(args, '--control');
      const helper = makeService(args, control !== undefined ? { control } : {});
      const ctl =
        control !== undefined
          ? await serveControl(control, controlAnswer(helper), stderrLogger)
          : undefined;
      await serveUmh(helper.service, process.stdin, process.stdout);
      ctl?.close();
      helper.close();
      return 0;
    }
    case 'daemon': {
      const socket = option(args, '--socket') ?? DEFAULT_SOCKET;
      const control = option(args, '--control') ?? controlPath(socket);
      const helper = makeService(args, { socket, control });
      await serveSocket(helper.service, socket, stderrLogger);
      await serveControl(control, controlAnswer(helper), stderrLogger);
      stderrLogger({ event: 'listening', socket, control });
      logStopSignals();
      return new Promise<number>(() => undefined);
    }
    case 'status':
      return status(args);
    case 'recent':
      return recentCommand(args);
    case 'install':
      install(installOptions(args), root, VERSION, process.execPath, say);
      return 0;
    case 'uninstall':
      await uninstall(
        option(args, '--prefix') ?? DEFAULT_PREFIX,
        option(args, '--destdir') ?? '',
        VERSION,
        say,
      );
      return 0;
    case 'run': {
      const sep = args.indexOf('--');
      const command = sep >= 0 ? args.slice(sep + 1) : args;
      const [file, ...rest] = command;
      if (file === undefined) {
        process.stderr.write(usage);
        return 2;
      }
      if (!existsSync(SHIM_PATH)) {
        process.stderr.write(`bpfilter: ${SHIM_PATH} is missing: run make\n`);
        return 1;
      }
      const socket =
        option(args.slice(0, sep >= 0 ? sep : 0), '--socket') ??
        process.env.BPFILTER_SOCKET ??
        DEFAULT_SOCKET;
      const preload = [SHIM_PATH, process.env.LD_PRELOAD].filter(Boolean).join(':');
      const child = spawn(file, rest, {
        stdio: 'inherit',
        env: { ...process.env, LD_PRELOAD: preload, BPFILTER_SOCKET: socket },
      });
      return new Promise((resolve) => {
        child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
        child.on('error', (e) => {
          process.stderr.write(`bpfilter: ${file}: ${e.message}\n`);
          resolve(127);
        });
      });
    }
    case 'translate':
      return translate(args);
    case 'help':
    case '--help':
      process.stdout.write(usage);
      return 0;
    default:
      process.stderr.write(`bpfilter: unknown command '${cmd}'\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bpfilter: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
