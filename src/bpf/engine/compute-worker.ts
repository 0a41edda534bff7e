// A compute worker (compute.ts): the compiler, answering the main thread.
//
// A table's apply leaves its garbage here (the last table's IR and blob, the classifier's work,
// the images), and a worker idle between commands never reaches V8's next collection: after a
// 100k-rule restore and a few -A it held 150 MB more than the main thread did when it did this
// work. So a worker that has been idle for IDLE_GC_MS collects once, with V8's own gc(), then
// gives what malloc holds free back to the system: glibc trims only the top of a thread's arena
// on its own, and after a 100k-rule apply the arenas held 230 MB of freed Buffers. It does so
// only when its heap and buffers have grown well past what the last collection left: after a
// full collection V8 sets the next one close above the live heap, and an -A on a 10k table then
// paid an incremental mark-compact (35-45 ms of collection instead of 10-18) whenever it came
// more than a second after the last command, as a person's or fail2ban's commands do.
//
// A new worker first warms its compiler up (warmup.ts) until the first request comes, and
// tells the main thread how that went. Before that it detaches one ArrayBuffer: V8 compiles
// typed-array and Buffer accesses without a detached check for as long as no ArrayBuffer of the
// isolate has ever been detached, and throws all that code away at the first one. Here the
// first one is the first answer moved to the main thread (a layout's or an image's buffers), so
// the warm-up's code was all dropped at the first real command: the cold restore that followed
// checked fw1 10k in 110-120 ms instead of 50-55, and planned, classified and imaged it 25 %
// slower. Detached first, the warm-up compiles the code the commands will run.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { sys } from '../../sys/native.js';
import { Compiler, serveCompute } from './compute.js';
import { warmUp } from './warmup.js';

const IDLE_GC_MS = 1000;
/** Growth over what the last collection left that makes an idle worker collect: 1/4 + 16 MB. */
const GROWTH = 1.25;
const SLACK = 16 << 20;

const detached = new ArrayBuffer(8);
structuredClone(detached, { transfer: [detached] });

const { first, step } = workerData as { first: number; step: number };
if (parentPort === null) throw new Error('compute-worker runs as a worker thread');
const port = parentPort;
const compiler = new Compiler(first, step);
serveCompute(port, compiler);

// A flag set after V8 started exposes gc() only to contexts made after it.
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let idle: NodeJS.Timeout | undefined;
const held = (): number => {
  const h = v8.getHeapStatistics();
  return h.total_heap_size + h.external_memory;
};
let settled = 0;
const collect = (): void => {
  gc();
  sys.mallocTrim();
  settled = held();
};
const collectWhenIdle = (): void => {
  clearTimeout(idle);
  idle = setTimeout(() => {
    if (held() > settled * GROWTH + SLACK) collect();
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
    // Whole, it leaves ~70 MB of garbage behind (a helper idle at 160 MB instead of 95): gone
    // now, before anything asks. Cut short, a request is waiting: collect once it is idle.
    if (ran) collect();
    else collectWhenIdle();
    const ms = Math.round(performance.now() - started);
    port.postMessage({ warm: { ran, ms, ...(error ? { error: String(error) } : {}) } });
  },
);
