// Entry of the thread an OnnxDenoiser owns (see worker-thread-session.ts). onnxruntime-node
// 1.30's session.run() computes synchronously on the calling thread's event loop, so it runs
// here and the main loop stays free for BullMQ lock renewal, gRPC and heartbeats.
// Plain JavaScript so it loads without a TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import { createInferenceSession, describeSession, runDenoiserSession } from './session-core.mjs';

const port = parentPort;
if (port === null) throw new Error('inference-thread.mjs must run as a worker thread');

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

let session;
try {
  session = await createInferenceSession(workerData.modelPath, workerData.sessionOptions);
  port.postMessage({ type: 'ready', description: describeSession(session) });
} catch (error) {
  port.postMessage({ type: 'load-failed', error: serializeError(error) });
  port.close();
}

// One message at a time, in order: runs never overlap, and close waits for earlier runs.
let previous = Promise.resolve();
port.on('message', (message) => {
  previous = previous.then(() => handle(message));
});

async function handle(message) {
  if (message.type === 'close') {
    await session?.release();
    port.close();
    return;
  }
  if (message.type !== 'run') return;
  const { requestId } = message;
  try {
    const result = await runDenoiserSession(session, message);
    const [logits, transferList] = transferable(result.logits);
    port.postMessage(
      { type: 'result', requestId, dims: result.dims, logits, sessionRunMs: result.sessionRunMs },
      transferList,
    );
  } catch (error) {
    port.postMessage({ type: 'run-failed', requestId, error: serializeError(error) });
  }
}
