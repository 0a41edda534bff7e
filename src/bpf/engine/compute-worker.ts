// A compute worker (compute.ts): the compiler, answering the main thread.
//
// A table's apply leaves its garbage here (the last table's IR and blob, the classifier's work,
// the images), and a worker idle between commands never reaches V8's next collection: after a
// 100k-rule restore and a few -A it held 150 MB more than the main thread did when it did this
// work. So a worker that has been idle for IDLE_GC_MS collects once, with V8's own gc(), then
// gives what malloc holds free back to the system: glibc trims only the top of a thread's arena
// on its own, and after a 100k-rule apply the arenas held 230 MB of freed Buffers.
//
// A new worker first warms its compiler up (warmup.ts) until the first request comes, and
// tells the main thread how that went.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { sys } from '../../sys/native.js';
import { Compiler, serveCompute } from './compute.js';
import { warmUp } from './warmup.js';

const IDLE_GC_MS = 1000;

const { first, step } = workerData as { first: number; step: number };
if (parentPort === null) throw new Error('compute-worker runs as a worker thread');
const port = parentPort;
const compiler = new Compiler(first, step);
serveCompute(port, compiler);

// A flag set after V8 started exposes gc() only to contexts made after it.
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let idle: NodeJS.Timeout | undefined;
const collectWhenIdle = (): void => {
  clearTimeout(idle);
  idle = setTimeout(() => {
    gc();
    sys.mallocTrim();
  }, IDLE_GC_MS);
  idle.unref();
};
let asked = false;
port.on('message', () => {
  asked = true;
  collectWhenIdle();
});

const started = performance.now();
warmUp(
  compiler,
  () => asked,
  (ran, error) => {
    const ms = Math.round(performance.now() - started);
    port.postMessage({ warm: { ran, ms, ...(error ? { error: String(error) } : {}) } });
    collectWhenIdle();
  },
);
