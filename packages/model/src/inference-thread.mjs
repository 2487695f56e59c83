// Entry of the thread an OnnxDenoiser owns (see worker-thread-session.ts). onnxruntime-node
// 1.30's session.run() computes synchronously on the calling thread's event loop, so it runs
// here and the main loop stays free for BullMQ lock renewal, gRPC and heartbeats.
// Plain JavaScript so it loads without a TypeScript loader.
//
// Once the model is loaded the thread sleeps in Atomics.wait until the owner posts a request in
// shared memory (inference-channel.mjs), runs it, and posts the reply on the channel's port:
// the logits, transferred without a copy, or the error.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { RequestKind, Slot, viewInputBuffer } from './inference-channel.mjs';
import { createInferenceSession, describeSession, runDenoiserSession } from './session-core.mjs';

if (parentPort === null) throw new Error('inference-thread.mjs must run as a worker thread');
const { modelPath, sessionOptions, port } = workerData;
const control = new Int32Array(workerData.control);

function serializeError(error) {
  return error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
}

function transferable(logits) {
  // Hand the logits over without a copy when the buffer is a plain, detachable ArrayBuffer.
  const { buffer } = logits;
  if (buffer instanceof ArrayBuffer && logits.byteOffset === 0 && logits.byteLength === buffer.byteLength) {
    return [logits, [buffer]];
  }
  const copy = new Float32Array(logits);
  return [copy, [copy.buffer]];
}

async function run(session, inputs) {
  const batchSize = control[Slot.BATCH_SIZE];
  const sequenceLength = control[Slot.SEQUENCE_LENGTH];
  const size = batchSize * sequenceLength;
  try {
    const result = await runDenoiserSession(session, {
      batchSize,
      sequenceLength,
      inputIds: inputs.inputIds.subarray(0, size),
      attentionMask: inputs.attentionMask.subarray(0, size),
    });
    const [logits, transferList] = transferable(result.logits);
    port.postMessage({ type: 'result', dims: result.dims, logits, sessionRunMs: result.sessionRunMs }, transferList);
  } catch (error) {
    port.postMessage({ type: 'run-failed', error: serializeError(error) });
  }
}

// After a reply the owner usually posts the next step's request within a few hundred
// microseconds (the decoder's own work on the logits). Polling that long first saves the futex
// sleep and wake-up, which under load costs 30-200 us per forward pass; onnxruntime's own thread
// pool spins between operators for the same reason.
const SPIN_BEFORE_SLEEP_MS = 0.3;

/** One request at a time, in the order posted, until the owner asks to close. */
async function serve(session) {
  let inputs = viewInputBuffer(workerData.inputs);
  let requestsSeen = 0; // the owner posts nothing before 'ready'
  for (;;) {
    const spinUntil = performance.now() + SPIN_BEFORE_SLEEP_MS;
    while (Atomics.load(control, Slot.REQUESTS) === requestsSeen && performance.now() < spinUntil);
    Atomics.wait(control, Slot.REQUESTS, requestsSeen);
    requestsSeen = Atomics.load(control, Slot.REQUESTS);
    if (control[Slot.INPUTS_REPLACED] === 1) inputs = viewInputBuffer(receiveMessageOnPort(port).message.inputs);
    if (control[Slot.REQUEST_KIND] === RequestKind.CLOSE) {
      await session.release();
      port.close();
      return;
    }
    await run(session, inputs);
  }
}

let session;
try {
  session = await createInferenceSession(modelPath, sessionOptions);
} catch (error) {
  parentPort.postMessage({ type: 'load-failed', error: serializeError(error) });
  port.close();
}
if (session !== undefined) {
  parentPort.postMessage({ type: 'ready', description: describeSession(session) });
  await serve(session);
}
