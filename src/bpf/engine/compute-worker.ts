// A compute worker (compute.ts): the compiler, answering the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { Compiler, serveCompute } from './compute.js';

const { first, step } = workerData as { first: number; step: number };
if (parentPort === null) throw new Error('compute-worker runs as a worker thread');
serveCompute(parentPort, new Compiler(first, step));
