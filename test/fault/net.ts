// What the fault tests share: a client and a server netns joined by veth, TCP listeners on the
// probe ports, the helper as a daemon that can be killed and restarted on the same pins and
// state, and iptables-legacy through the shim in the server's netns.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT, daemonArgs, netnsAdd, netnsDel } from '../ipc/helpers.js';

const SHIM = join(ROOT, 'native', 'build', 'shim.so');

export const PORTS = [5001, 5002, 5003, 5004] as const;

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

export interface Pair {
  readonly client: string;
  readonly server: string;
  readonly serverAddr: string;
  close(): void;
}

/** Two netns joined by veth, the server listening on PORTS at 10.<net>.0.2. */
export async function pair(name: string, net: number): Promise<Pair> {
  const client = `${name}-c`;
  const server = `${name}-s`;
  netnsAdd(client);
  netnsAdd(server);
  const [cdev, sdev] = [`${name}c`.slice(-15), `${name}s`.slice(-15)];
  ip('link', 'add', cdev, 'netns', client, 'type', 'veth', 'peer', 'name', sdev, 'netns', server);
  ip('-n', client, 'addr', 'add', `10.${net}.0.1/24`, 'dev', cdev);
  ip('-n', server, 'addr', 'add', `10.${net}.0.2/24`, 'dev', sdev);
  for (const [ns, dev] of [
    [client, cdev],
    [server, sdev],
  ] as const) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  const serverAddr = `10.${net}.0.2`;
  const serve = `for(const p of ${JSON.stringify(PORTS)})require('net').createServer(c=>c.end()).listen(p,'${serverAddr}');process.stdout.write('ready')`;
  const listener = spawn('ip', ['netns', 'exec', server, process.execPath, '-e', serve], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => listener.stdout?.once('data', () => resolve()));
  return {
    client,
    server,
    serverAddr,
    close(): void {
      listener.kill();
      netnsDel(client);
      netnsDel(server);
    },
  };
}

/**
 * How long a probe waits for its SYN-ACK. Over a veth it comes in well under a millisecond;
 * REJECT cannot stand in for DROP here because its reply is sent by the helper, which these
 * tests kill.
 */
const DROP_MS = 800;

/**
 * Connects from the client to every probe port at once: per port 'up' (accepted) or 'timeout'
 * (dropped). All probe ports have listeners, so anything but 'up' is the firewall's doing.
 */
export function probe(p: Pair): string[] {
  const script = `const r={};let n=0;for(const port of ${JSON.stringify(PORTS)}){const s=require('net').connect(port,'${p.serverAddr}');const done=v=>{if(r[port])return;r[port]=v;s.destroy();if(++n===${PORTS.length})process.stdout.write(JSON.stringify(${JSON.stringify(PORTS)}.map(x=>r[x])))};s.setTimeout(${DROP_MS});s.on('connect',()=>done('up'));s.on('timeout',()=>done('timeout'));s.on('error',e=>done(e.code))}`;
  const r = spawnSync('ip', ['netns', 'exec', p.client, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 15000,
  });
  return JSON.parse(r.stdout) as string[];
}

export interface Result {
  readonly status: number | null;
  readonly out: string;
}

/**
 * argv running an iptables-legacy command in `ns` with the shim, as `bpfilter run` does,
 * without a node process in front of every command.
 */
export function shimArgv(ns: string, sock: string, args: readonly string[]): string[] {
  return ['netns', 'exec', ns, 'env', `LD_PRELOAD=${SHIM}`, `BPFILTER_SOCKET=${sock}`, ...args];
}

export function iptables(
  ns: string,
  sock: string,
  args: readonly string[],
  input?: string,
): Result {
  const r = spawnSync('ip', shimArgv(ns, sock, args), { encoding: 'utf8', input, timeout: 30000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** iptables-legacy-save -c without its time-stamped comment lines. */
export function save(ns: string, sock: string): string {
  const r = iptables(ns, sock, ['iptables-legacy-save', '-c']);
  if (r.status !== 0) throw new Error(`iptables-legacy-save: ${r.out}`);
  return r.out.replace(/^#.*\n/gm, '');
}

/** The rules of a save, counters zeroed. */
export const rules = (text: string): string => text.replace(/\[\d+:\d+\]/g, '[0:0]');

/** Every [packets:bytes] of a save, in order. */
export const counts = (text: string): bigint[] =>
  [...text.matchAll(/\[(\d+):(\d+)\]/g)].flatMap((m) => [BigInt(m[1] ?? 0), BigInt(m[2] ?? 0)]);

/** The helper as a daemon on fixed socket, pins and state: killed and started again. */
export class Daemon {
  child: ChildProcess | undefined;
  readonly log: string[] = [];

  constructor(
    readonly sock: string,
    readonly pins: string,
    readonly state: string,
  ) {}

  async start(env: Readonly<Record<string, string>> = {}): Promise<void> {
    rmSync(this.sock, { force: true });
    this.log.length = 0;
    const child = spawn(process.execPath, [CLI, ...daemonArgs(this.sock, this.pins, this.state)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.child = child;
    child.stderr?.on('data', (c: Buffer) => this.log.push(c.toString()));
    for (let i = 0; i < 400 && !existsSync(this.sock); i++) {
      if (child.exitCode !== null) break;
      await sleep(25);
    }
    if (!existsSync(this.sock)) throw new Error(`daemon did not start: ${this.log.join('')}`);
  }

  /** Resolves once the log has a line containing (or matching) `needle`. */
  async waitFor(needle: string | RegExp): Promise<void> {
    const has = (text: string): boolean =>
      typeof needle === 'string' ? text.includes(needle) : needle.test(text);
    while (!has(this.log.join(''))) {
      if (this.child?.exitCode !== null)
        throw new Error(`daemon exited before "${needle}": ${this.log.join('')}`);
      await sleep(5);
    }
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
