// The local-socket transport for kernels without our module: the LD_PRELOAD shim connects to a
// unix stream socket and sends the same 24-byte requests. Many clients at once; the service
// serializes commands per table. Only a caller that is the process it names and holds
// CAP_NET_ADMIN gets anything but EPERM.
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { EPERM } from '../translate/errno.js';
import { peerCred, type PeerCred } from '../sys/libc.js';
import { isHealthCheck, RequestFramer, serializeReply, type MboxRequest } from './mbox.js';
import type { Logger, SockoptService } from './service.js';

export const DEFAULT_SOCKET = '/run/bpfilter/bpfilter.sock';
const CAP_NET_ADMIN = 12;

/** Thread group id of `pid` (a request may name a thread of the connecting process). */
function tgidOf(pid: number): number | undefined {
  try {
    const m = /^Tgid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function hasNetAdmin(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^CapEff:\s+([0-9a-f]+)$/m.exec(status);
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    return false;
  }
}

function userNs(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/user`).ino;
  } catch {
    return undefined;
  }
}

/**
 * The kernel asks ns_capable(net->user_ns, CAP_NET_ADMIN). We accept callers with CAP_NET_ADMIN
 * in the helper's own user namespace — which owns every netns a root process creates — and
 * refuse callers in other user namespaces, whose capabilities we cannot map here.
 */
export function authorize(cred: PeerCred, req: MboxRequest): string | undefined {
  if (tgidOf(req.pid) !== tgidOf(cred.pid))
    return `request names pid ${req.pid}, peer is pid ${cred.pid}`;
  if (userNs(cred.pid) !== userNs(process.pid))
    return `pid ${cred.pid} is in another user namespace`;
  if (!hasNetAdmin(cred.pid)) return `pid ${cred.pid} lacks CAP_NET_ADMIN`;
  return undefined;
}

export function fdOf(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot get the connection fd');
  return fd;
}

export function serveSocket(service: SockoptService, path: string, log: Logger): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  rmSync(path, { force: true });
  const server = createServer((sock) => {
    let cred: PeerCred;
    try {
      cred = peerCred(fdOf(sock));
    } catch (e) {
      log({ event: 'connection refused', error: String(e) });
      sock.destroy();
      return;
    }
    const framer = new RequestFramer();
    let chain = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      for (const req of framer.push(chunk)) {
        chain = chain.then(async () => {
          let status: number;
          const denied = isHealthCheck(req) ? undefined : authorize(cred, req);
          if (denied !== undefined) {
            log({ pid: req.pid, cmd: req.cmd, result: 'EPERM', error: denied });
            status = -EPERM;
          } else {
            status = await service.handle(req);
          }
          if (!sock.destroyed) sock.write(serializeReply(status));
        });
      }
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
