#!/usr/bin/env node
// The `bpfilter` command: a thin dispatcher to the layer that owns each subcommand.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfBackend } from './bpf/backend.js';
import { StoreOnlyBackend, type RulesetBackend } from './ipc/backend.js';
import { guardBpffs } from './ipc/bpffs-guard.js';
import { eventWiring } from './ipc/events.js';
import { DEFAULT_STATE_DIR, StateFiles } from './ipc/persist.js';
import { DEFAULT_SOCKET, serveSocket } from './ipc/daemon.js';
import { SockoptService, stderrLogger } from './ipc/service.js';
import { serveUmh } from './ipc/umh.js';
import { netfilterFlavor } from './bpf/codegen/nf.js';
import { formatTranslation, TranslateError, translateSave } from './translate/offline.js';

const usage = `usage: bpfilter <command>

commands:
  umh [OPTIONS]              serve mbox requests on stdin/stdout (started by the kernel module)
  daemon [--socket PATH] [OPTIONS]
                             serve mbox requests on a unix socket (default ${DEFAULT_SOCKET})
  run [--socket PATH] -- CMD run CMD with the LD_PRELOAD shim that forwards iptables sockopts
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
`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHIM_PATH = join(root, 'native', 'build', 'shim.so');

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

interface Helper {
  readonly service: SockoptService;
  /** Stops what keeps the process alive besides the transport (the event reader). */
  close(): void;
}

const GC_INTERVAL_MS = 60_000;

function makeService(args: string[]): Helper {
  const pinRoot = option(args, '--pin-root');
  let backend: RulesetBackend;
  let close = (): void => undefined;
  if (args.includes('--store-only')) backend = new StoreOnlyBackend();
  else {
    const note = guardBpffs(pinRoot);
    if (note !== undefined) stderrLogger({ event: 'bpffs', note });
    const events = eventWiring(stderrLogger, option(args, '--log-file'));
    const bpf = new BpfBackend({ ...(pinRoot !== undefined ? { pinRoot } : {}), ...events });
    events.connect((netns, cookie, ctinfo, ct) => bpf.tagReply(netns, cookie, ctinfo, ct));
    backend = bpf;
    close = () => bpf.close();
  }
  const stateDir = option(args, '--state-dir') ?? DEFAULT_STATE_DIR;
  stderrLogger({ event: 'start', backend: backend.name, stateDir, pid: process.pid });
  const service = new SockoptService(backend, stderrLogger, new StateFiles(stateDir));
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
  return {
    service,
    close: () => {
      clearInterval(timer);
      close();
    },
  };
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
      const helper = makeService(args);
      await serveUmh(helper.service, process.stdin, process.stdout);
      helper.close();
      return 0;
    }
    case 'daemon': {
      const path = option(args, '--socket') ?? DEFAULT_SOCKET;
      await serveSocket(makeService(args).service, path, stderrLogger);
      stderrLogger({ event: 'listening', socket: path });
      return new Promise<number>(() => undefined);
    }
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
