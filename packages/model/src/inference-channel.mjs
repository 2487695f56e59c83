// The shared memory through which an OnnxDenoiser (worker-thread-session.ts) hands forward passes
// to its inference thread (inference-thread.mjs). Plain JavaScript: the thread loads it without
// a TypeScript loader. Types: inference-channel.d.mts.
//
// One request is in flight at a time. The owner writes the ids and mask into the shared input
// buffer and the request fields into the control block, then bumps REQUESTS and notifies; the
// thread, asleep in Atomics.wait on REQUESTS, reads them in place. Its reply (the logits,
// transferred, or an error) comes back as a message on the channel's port.

/** Int32 slots of the control block. */
export const Slot = Object.freeze({
  /** Requests the owner has posted (a counter). */
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
});
const SLOT_COUNT = 5;

export const RequestKind = Object.freeze({ RUN: 1, CLOSE: 2 });

/** A new control block; the thread views the same buffer. */
export function createControlBlock() {
  return new Int32Array(new SharedArrayBuffer(SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT));
}

/** A shared input buffer for `capacity` tokens (batchSize * sequenceLength): int32 ids, then uint8 attention flags. */
export function createInputBuffer(capacity) {
  return viewInputBuffer(new SharedArrayBuffer(capacity * 5));
}

export function viewInputBuffer(buffer) {
  const capacity = buffer.byteLength / 5;
  return { buffer, capacity, inputIds: new Int32Array(buffer, 0, capacity), attentionMask: new Uint8Array(buffer, capacity * 4, capacity) };
}
