// @ts-check
// Entry of the thread an OnnxDenoiser owns (see worker-thread-session.ts). onnxruntime-node
// 1.30's session.run() computes synchronously on the calling thread's event loop, so it runs
// here and the main loop stays free for BullMQ lock renewal, gRPC and heartbeats.
// Plain JavaScript so it loads without a TypeScript loader.
//
// Once the model is loaded the thread sleeps in Atomics.wait until the owner posts a request in
// shared memory (inference-channel.mjs), runs it, and posts the reply on the channel's port:
// the outputs, transferred without a copy, or the error.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { RequestKind, Slot, viewInputBuffer } from './inference-channel.mjs';
import {
  createInferenceSession,
  createPrefixCacheStore,
  describeSession,
  runDenoiserSession,
} from './session-core.mjs';

/** @import { InferenceSession } from 'onnxruntime-node' */
/** @import { ReducedRunResult, SessionRunResult } from './session-core.mjs' */
/**
 * @import { InferenceThreadData, InputBuffer, ReplyMessage, SerializedError, StartupMessage }
 *   from './inference-channel.mjs'
 */

if (parentPort === null) throw new Error('inference-thread.mjs must run as a worker thread');
const owner = parentPort;
const threadData = /** @type {InferenceThreadData} */ (workerData);
const { modelPath, modelBytes, sessionOptions, outputs, port } = threadData;
const control = new Int32Array(threadData.control);
// The decodes' keys and values stay here, beside the session, between passes.
const store = createPrefixCacheStore(threadData.prefixCache);

/**
 * @param {unknown} error
 * @returns {SerializedError}
 */
function serializeError(error) {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}

/**
 * The result with each output array in a buffer of its own, and those buffers to transfer.
 * @param {SessionRunResult} result
 * @returns {[SessionRunResult, ArrayBuffer[]]}
 */
function transferable(result) {
  /** @type {ArrayBuffer[]} */
  const transferList = [];
  /**
   * Hands an array over without a copy when its buffer is a plain, detachable ArrayBuffer of its own.
   * @template {Float32Array | Int32Array} T
   * @param {T} array
   * @returns {T}
   */
  const own = (array) => {
    const { buffer } = array;
    const whole = buffer instanceof ArrayBuffer && array.byteOffset === 0 && array.byteLength === buffer.byteLength;
    const handed = whole && !transferList.includes(buffer) ? array : /** @type {T} */ (array.slice());
    transferList.push(/** @type {ArrayBuffer} */ (handed.buffer));
    return handed;
  };
  if (result.form === 'logits') return [{ ...result, logits: own(result.logits) }, transferList];
  /** @type {ReducedRunResult} */
  const reduced = {
    ...result,
    token: own(result.token),
    confidence: own(result.confidence),
    entropy: own(result.entropy),
  };
  if (result.topKIds) reduced.topKIds = own(result.topKIds);
  if (result.topKLogits) reduced.topKLogits = own(result.topKLogits);
  return [reduced, transferList];
}

/**
 * @param {ReplyMessage} message
 * @param {ArrayBuffer[]} [transferList]
 */
function reply(message, transferList) {
  port.postMessage(message, transferList);
}

/**
 * @param {InferenceSession} session
 * @param {InputBuffer} inputs
 * @param {number} requestId
 * @param {readonly number[] | undefined} releases
 */
async function run(session, inputs, requestId, releases) {
  const batchSize = Atomics.load(control, Slot.BATCH_SIZE);
  const sequenceLength = Atomics.load(control, Slot.SEQUENCE_LENGTH);
  const size = batchSize * sequenceLength;
  try {
    const perRow = Atomics.load(control, Slot.POSITIONS_PER_ROW);
    const positions = perRow === 0 ? undefined : { perRow, values: inputs.positions.subarray(0, batchSize * perRow) };
    const prefixCache =
      Atomics.load(control, Slot.PREFIX_CACHE_ROWS) === 1
        ? {
            cacheIds: inputs.cacheIds.subarray(0, batchSize),
            cachedLengths: inputs.cachedLengths.subarray(0, batchSize),
            keepLengths: inputs.keepLengths.subarray(0, batchSize),
          }
        : undefined;
    const result = await runDenoiserSession(
      session,
      {
        batchSize,
        sequenceLength,
        inputIds: inputs.inputIds.subarray(0, size),
        attentionMask: inputs.attentionMask.subarray(0, size),
        ...(positions ? { positions } : {}),
        ...(prefixCache ? { prefixCache } : {}),
        ...(releases ? { releases } : {}),
      },
      outputs,
      store,
    );
    const [transferred, transferList] = transferable(result);
    reply({ type: 'result', requestId, result: transferred }, transferList);
  } catch (error) {
    reply({ type: 'run-failed', requestId, error: serializeError(error) });
  }
}

/**
 * The bigger input buffer the owner posted before a request that needs it.
 * @returns {InputBuffer}
 */
function receiveReplacedInputs() {
  return viewInputBuffer(
    /** @type {{ inputs: SharedArrayBuffer }} */ (receivePosted('a replaced input buffer')).inputs,
  );
}

/**
 * The caches the owner released since its previous request.
 * @returns {readonly number[]}
 */
function receiveReleases() {
  return /** @type {{ releases: number[] }} */ (receivePosted('released caches')).releases;
}

/**
 * @param {string} what
 * @returns {unknown}
 */
function receivePosted(what) {
  const received = receiveMessageOnPort(port);
  // The owner posts before it bumps REQUESTS, so the message is already queued on the port.
  if (received === undefined) throw new Error(`the owner flagged ${what} but posted none`);
  return received.message;
}

// After a reply the owner usually posts the next step's request within a few hundred
// microseconds (the decoder's own work on the logits). Polling that long first saves the futex
// sleep and wake-up, which under load costs 30-200 us per forward pass; onnxruntime's own thread
// pool spins between operators for the same reason.
const SPIN_BEFORE_SLEEP_MS = 0.3;

/**
 * One request at a time, in the order posted, until the owner asks to close.
 * @param {InferenceSession} session
 */
async function serve(session) {
  let inputs = viewInputBuffer(threadData.inputs);
  let requestsSeen = 0; // the owner posts nothing before 'ready'
  for (;;) {
    const spinUntil = performance.now() + SPIN_BEFORE_SLEEP_MS;
    while (Atomics.load(control, Slot.REQUESTS) === requestsSeen && performance.now() < spinUntil);
    Atomics.wait(control, Slot.REQUESTS, requestsSeen);
    const requestId = Atomics.load(control, Slot.REQUESTS);
    // The owner bumps REQUESTS and then notifies. Preempted between the two for longer than a
    // forward pass (under heavy load), its request is picked up by the poll above and answered,
    // and the late notify then ends the next wait with no new request. Running the previous
    // request again would post an extra reply, taken as the answer to the next request.
    if (requestId === requestsSeen) continue;
    requestsSeen = requestId;
    if (Atomics.load(control, Slot.INPUTS_REPLACED) === 1) inputs = receiveReplacedInputs();
    // Posted after the input buffer, so received after it.
    const releases = Atomics.load(control, Slot.RELEASES_POSTED) === 1 ? receiveReleases() : undefined;
    if (Atomics.load(control, Slot.REQUEST_KIND) === RequestKind.CLOSE) {
      await session.release();
      port.close();
      return;
    }
    await run(session, inputs, requestId, releases);
  }
}

/** @param {StartupMessage} message */
function tellOwner(message) {
  owner.postMessage(message);
}

/** @type {InferenceSession | undefined} */
let session;
try {
  session = await createInferenceSession(modelBytes ?? modelPath, sessionOptions);
} catch (error) {
  tellOwner({ type: 'load-failed', error: serializeError(error) });
  port.close();
}
if (session !== undefined) {
  tellOwner({ type: 'ready', description: describeSession(session) });
  await serve(session);
}
