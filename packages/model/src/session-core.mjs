// @ts-check
// Plain JavaScript on purpose: the inference thread loads this file directly, so it must run
// without a TypeScript loader (under `node --import tsx`, vitest, or plain node alike). Its
// JSDoc types are checked by tsc (checkJs) and read by the TypeScript side.
import ort from 'onnxruntime-node';

/** @import { InferenceSession } from 'onnxruntime-node' */

/**
 * @typedef {object} SessionDescription
 * @property {readonly InferenceSession.ValueMetadata[]} inputs
 * @property {readonly InferenceSession.ValueMetadata[]} outputs
 */

/**
 * @typedef {object} SessionRunInput
 * @property {number} batchSize
 * @property {number} sequenceLength
 * @property {ArrayLike<number>} inputIds batchSize * sequenceLength ids, row by row.
 * @property {ArrayLike<number>} attentionMask batchSize * sequenceLength flags: 0 for padding, otherwise 1.
 */

/**
 * @typedef {object} SessionRunResult
 * @property {number[]} dims Output dims as the model reported them, e.g. [B, L, V].
 * @property {Float32Array} logits
 * @property {number} sessionRunMs Wall time inside session.run(), in milliseconds.
 */

/** Input and output names of the model directory contract. */
export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const LOGITS = 'logits';

/** The model ran but broke the output contract; the thread reports it by this name. */
class ModelOutputContractError extends Error {
  /** @override */
  name = 'ModelOutputContractError';
}

/**
 * @param {string} modelPath
 * @param {InferenceSession.SessionOptions} sessionOptions
 * @returns {Promise<InferenceSession>}
 */
export async function createInferenceSession(modelPath, sessionOptions) {
  return ort.InferenceSession.create(modelPath, sessionOptions);
}

/**
 * @param {InferenceSession} session
 * @returns {SessionDescription}
 */
export function describeSession(session) {
  return { inputs: session.inputMetadata, outputs: session.outputMetadata };
}

/**
 * One forward pass. Widens int32 ids / uint8 mask to the contract's int64 tensors, runs, and
 * returns the logits with the time spent inside session.run().
 * @param {InferenceSession} session
 * @param {SessionRunInput} batch
 * @returns {Promise<SessionRunResult>}
 */
export async function runDenoiserSession(session, batch) {
  const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
  const size = batchSize * sequenceLength;
  const ids = new BigInt64Array(size);
  const mask = new BigInt64Array(size);
  for (let i = 0; i < size; i++) {
    ids[i] = BigInt(/** @type {number} */ (inputIds[i]));
    mask[i] = attentionMask[i] === 0 ? 0n : 1n;
  }
  const dims = [batchSize, sequenceLength];
  const feeds = {
    [INPUT_IDS]: new ort.Tensor('int64', ids, dims),
    [ATTENTION_MASK]: new ort.Tensor('int64', mask, dims),
  };
  const started = performance.now();
  const outputs = await session.run(feeds);
  const sessionRunMs = performance.now() - started;
  const logits = outputs[LOGITS];
  if (logits === undefined) {
    throw new ModelOutputContractError(`the model has no "${LOGITS}" output (outputs: ${Object.keys(outputs).join(', ')})`);
  }
  if (logits.type !== 'float32') {
    throw new ModelOutputContractError(`output "${LOGITS}" is ${logits.type}, expected float32`);
  }
  // Checked above: a float32 tensor's data is a Float32Array.
  return { dims: [...logits.dims], logits: /** @type {Float32Array} */ (logits.data), sessionRunMs };
}
