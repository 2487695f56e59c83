// @ts-check
// The shared memory through which an OnnxDenoiser (worker-thread-session.ts) hands forward passes
// to its inference thread (inference-thread.mjs). Plain JavaScript: the thread loads it without
// a TypeScript loader. Its JSDoc types are checked by tsc (checkJs) and read by the TypeScript
// side; they also name the messages both ends exchange.
//
// One request is in flight at a time. The owner writes the ids and mask into the shared input
// buffer and the request fields into the control block, then bumps REQUESTS and notifies; the
// thread, asleep in Atomics.wait on REQUESTS, reads them in place. Its reply (the outputs,
// transferred, or an error) comes back as a message on the channel's port. The value of REQUESTS
// after the bump is the request's id: the reply echoes it and the owner accepts no other.

/** Int32 slots of the control block. */
export const Slot = Object.freeze({
  /** Requests the owner has posted (an int32 counter that wraps); its value is the latest request's id. */
  REQUESTS: 0,
  /** RequestKind of the latest request. */
  REQUEST_KIND: 1,
  BATCH_SIZE: 2,
  SEQUENCE_LENGTH: 3,
  /**
   * 1 when the owner posted a bigger input buffer on the port (`{ inputs: SharedArrayBuffer }`)
   * before this request: the thread receives it first.
   */
  INPUTS_REPLACED: 4,
  /** Positions per row in the input buffer's `positions` view; 0 when the request names none. */
  POSITIONS_PER_ROW: 5,
  /** 1 when the request carries per-row prefix-cache fields (the cached graph); 0: every row a full pass. */
  PREFIX_CACHE_ROWS: 6,
  /**
   * 1 when the owner posted caches to release on the port (`{ releases: number[] }`) before this
   * request, after any replaced input buffer: the thread frees them before the pass.
   */
  RELEASES_POSTED: 7,
});
const SLOT_COUNT = 8;
/**
 * Bytes per token in the input buffer: an int32 id, an int32 position (a row never names more
 * positions than it has tokens), a uint8 attention flag, and room for three int32 per-row
 * prefix-cache fields (a batch never has more rows than tokens).
 */
const BYTES_PER_TOKEN = 21;

export const RequestKind = Object.freeze({ RUN: 1, CLOSE: 2 });

/** @import { MessagePort } from 'node:worker_threads' */
/** @import { InferenceSession } from 'onnxruntime-node' */
/** @import { SessionDescription, OutputSpec, SessionRunResult } from './session-core.mjs' */
/** @import { PrefixCacheShape } from './prefix-cache-store.mjs' */

/**
 * The shared input buffer and its views.
 * @typedef {object} InputBuffer
 * @property {SharedArrayBuffer} buffer
 * @property {number} capacity Tokens (batchSize * sequenceLength) it holds.
 * @property {Int32Array} inputIds
 * @property {Uint8Array} attentionMask
 * @property {Int32Array} positions
 * @property {Int32Array} cacheIds Per row: the decode's cache id.
 * @property {Int32Array} cachedLengths Per row: cached positions the pass reads.
 * @property {Int32Array} keepLengths Per row: positions whose keys and values the pass keeps.
 */

/**
 * What the owner hands the thread as `workerData`.
 * @typedef {object} InferenceThreadData
 * @property {string} modelPath
 * @property {Uint8Array} [modelBytes] The model itself (a v1 model reduced in memory); then modelPath only names it.
 * @property {InferenceSession.SessionOptions} sessionOptions
 * @property {OutputSpec} outputs Which outputs to read from the model.
 * @property {PrefixCacheShape} [prefixCache] The model is the cached graph, with this cache shape.
 * @property {MessagePort} port The channel's port: replies go out on it, replaced input buffers come in.
 * @property {SharedArrayBuffer} control The control block's buffer.
 * @property {SharedArrayBuffer} inputs The first input buffer.
 */

/** @typedef {{ name: string, message: string }} SerializedError */

/**
 * What the thread posts on `parentPort` while it loads the model.
 * @typedef {{ type: 'ready', description: SessionDescription }
 *   | { type: 'load-failed', error: SerializedError }} StartupMessage
 */

/**
 * What the thread posts on the channel's port for each run.
 * @typedef {{ type: 'result', requestId: number, result: SessionRunResult }
 *   | { type: 'run-failed', requestId: number, error: SerializedError }} ReplyMessage
 */

/**
 * A new control block; the thread views the same buffer.
 * @returns {Int32Array<SharedArrayBuffer>}
 */
export function createControlBlock() {
  return new Int32Array(new SharedArrayBuffer(SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT));
}

/**
 * A shared input buffer for `capacity` tokens (batchSize * sequenceLength): int32 ids, positions
 * and per-row cache fields, then uint8 attention flags.
 * @param {number} capacity
 * @returns {InputBuffer}
 */
export function createInputBuffer(capacity) {
  return viewInputBuffer(new SharedArrayBuffer(capacity * BYTES_PER_TOKEN));
}

/**
 * @param {SharedArrayBuffer} buffer a buffer made by createInputBuffer
 * @returns {InputBuffer}
 */
export function viewInputBuffer(buffer) {
  const capacity = buffer.byteLength / BYTES_PER_TOKEN;
  return {
    buffer,
    capacity,
    inputIds: new Int32Array(buffer, 0, capacity),
    positions: new Int32Array(buffer, capacity * 4, capacity),
    cacheIds: new Int32Array(buffer, capacity * 8, capacity),
    cachedLengths: new Int32Array(buffer, capacity * 12, capacity),
    keepLengths: new Int32Array(buffer, capacity * 16, capacity),
    attentionMask: new Uint8Array(buffer, capacity * 20, capacity),
  };
}
