// The daemon's control socket, next to its sockopt socket (bpfilter.sock → bpfilter.ctl): a
// client writes one request line ("status"), the daemon answers one JSON document and closes.
// The sockopt socket keeps its fixed 24-byte framing for the shim and the kernel module; asking
// how the daemon is doing is a different conversation, so it gets a socket of its own. Callers
// need CAP_NET_ADMIN, as for `iptables -L`.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { peerCred } from '../sys/libc.js';
import { fdOf, hasNetAdmin } from './daemon.js';
import type { Logger } from './service.js';

/** The control socket beside sockopt socket `socket`. */
export function controlPath(socket: string): string {
  return `${socket.replace(/\.sock$/, '')}.ctl`;
}

/** Longest request line read: requests are single words. */
const MAX_REQUEST = 256;

/** Serves `answer(request)` as JSON to each client that holds CAP_NET_ADMIN. */
export function serveControl(
  path: string,
  answer: (request: string) => unknown,
  log: Logger,
): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  rmSync(path, { force: true });
  const server = createServer((sock) => {
    let allowed = false;
    try {
      allowed = hasNetAdmin(peerCred(fdOf(sock)).pid);
    } catch (e) {
      log({ event: 'control connection refused', error: String(e) });
    }
    let line = '';
    const reply = (v: unknown): void => {
      sock.end(`${JSON.stringify(v)}\n`);
    };
    sock.on('data', (chunk: Buffer) => {
      if (line.includes('\n')) return;
      line += chunk.toString('utf8');
      if (!line.includes('\n') && line.length < MAX_REQUEST) return;
      const request = line.split('\n')[0]?.trim() ?? '';
      if (!allowed) return reply({ error: 'EPERM: CAP_NET_ADMIN is needed' });
      Promise.resolve()
        .then(() => answer(request))
        .then(reply, (e: unknown) => reply({ error: e instanceof Error ? e.message : String(e) }));
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      chmodSync(path, 0o600);
      resolve(server);
    });
  });
}

/** One request to the control socket at `path`; rejects when nothing answers in `timeoutMs`. */
export function queryControl(path: string, request: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${request}\n`));
    sock.on('data', (c: Buffer) => (data += c.toString('utf8')));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data));
      } catch {
        reject(new Error(`${path} answered something that is not JSON`));
      }
    });
  });
}
