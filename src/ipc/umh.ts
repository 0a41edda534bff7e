// The user-mode-helper transport: requests on stdin, replies on stdout, one at a time, as the
// kernel module's pipes (or its misc device on fds 0/1) deliver them. EOF on stdin ends it.
import type { Readable, Writable } from 'node:stream';
import { RequestFramer, serializeReply } from './mbox.js';
import type { SockoptService } from './service.js';

export function serveUmh(
  service: SockoptService,
  input: Readable,
  output: Writable,
): Promise<void> {
  const framer = new RequestFramer();
  let chain = Promise.resolve();
  return new Promise((resolve, reject) => {
    input.on('data', (chunk: Buffer) => {
      for (const req of framer.push(chunk)) {
        // Requests are answered in order: the kernel side waits for each reply before the next.
        chain = chain.then(async () => {
          output.write(serializeReply(await service.handle(req)));
        });
      }
    });
    input.on('end', () => {
      chain.then(resolve, reject);
    });
    input.on('error', reject);
  });
}
