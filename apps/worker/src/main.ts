import { runWorkerProcess } from './worker-process.ts';

/** `node --import tsx apps/worker/src/main.ts`: one worker process for one device. */
await runWorkerProcess();
