// @ts-check
// Plain JavaScript on purpose: the inference thread loads this file directly, so it must run
// without a TypeScript loader (under `node --import tsx`, vitest, or plain node alike). Its
// JSDoc types are checked by tsc (checkJs) and read by the TypeScript side.
import ort from 'onnxruntime-node';
import { PrefixCacheStore } from './prefix-cache-store.mjs';

/** @import { InferenceSession } from 'onnxruntime-node' */
/** @import { PrefixCacheRows } from './prefix-cache-store.mjs' */

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
 * @property {{ perRow: number, values: ArrayLike<number> }} [positions] For a model with the positions
 *   input: batchSize * perRow canvas positions, row by row.
 * @property {PrefixCacheRows} [prefixCache] For the cached graph: what each row reads and keeps.
 *   Absent: every row is a full pass that keeps nothing.
 * @property {readonly number[]} [releases] For the cached graph: caches to free before this pass.
 */

/**
 * Which outputs a session reads: `logits` (v1), or the reduced contract's (reduced-contract.ts).
 * @typedef {{ form: 'logits' } | { form: 'reduced', topK: number, positionsInput: boolean }} OutputSpec
 */

/**
 * @typedef {object} LogitsRunResult
 * @property {'logits'} form
 * @property {number[]} dims Output dims as the model reported them, e.g. [B, L, V].
 * @property {Float32Array} logits
 * @property {number} sessionRunMs Wall time inside session.run(), in milliseconds.
 * @property {number} [prefixCacheBytes] For the cached graph: bytes its store holds after the pass.
 */

/**
 * The reduced outputs, int64 ids narrowed to int32 (token ids fit).
 * @typedef {object} ReducedRunResult
 * @property {'reduced'} form
 * @property {number[]} dims Dims of `top_token` as the model reported them: [B, L] or [B, P].
 * @property {Int32Array} token
 * @property {Float32Array} confidence
 * @property {Float32Array} entropy
 * @property {Int32Array} [topKIds]
 * @property {Float32Array} [topKLogits]
 * @property {number} sessionRunMs
 * @property {number} [prefixCacheBytes]
 */

/** @typedef {LogitsRunResult | ReducedRunResult} SessionRunResult */

/** Input and output names of the model directory contract. */
export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const LOGITS = 'logits';
const POSITIONS = 'positions';
// prefix-cache-contract.ts names them for the TypeScript side; this file cannot import it.
const PAST_KEY = 'past_key';
const PAST_VALUE = 'past_value';
const PAST_MASK = 'past_mask';
const PRESENT_KEY = 'present_key';
const PRESENT_VALUE = 'present_value';
const REDUCED = {
  token: 'top_token',
  confidence: 'top_confidence',
  entropy: 'entropy',
  topKIds: 'top_k_ids',
  topKLogits: 'top_k_logits',
};

/** The model ran but broke the output contract; the thread reports it by this name. */
class ModelOutputContractError extends Error {
  /** @override */
  name = 'ModelOutputContractError';
}

/**
 * @param {string | Uint8Array} model the ONNX file's path, or the model itself (e.g. reduced in memory)
 * @param {InferenceSession.SessionOptions} sessionOptions
 * @returns {Promise<InferenceSession>}
 */
export async function createInferenceSession(model, sessionOptions) {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, sessionOptions)
    : ort.InferenceSession.create(model, sessionOptions);
}

/**
 * @param {InferenceSession} session
 * @returns {SessionDescription}
 */
export function describeSession(session) {
  return { inputs: session.inputMetadata, outputs: session.outputMetadata };
}

/**
 * The store for a session of the cached graph (prefix-cache-contract.ts), or none for the plain one.
 * @param {import('./prefix-cache-store.mjs').PrefixCacheShape | undefined} shape
 * @returns {PrefixCacheStore | undefined}
 */
export function createPrefixCacheStore(shape) {
  return shape === undefined ? undefined : new PrefixCacheStore(shape);
}

/**
 * One forward pass. Widens int32 ids / uint8 mask (and positions) to the contract's int64
 * tensors, runs, and returns the outputs `spec` names with the time spent inside session.run().
 * With a store the session is the cached graph: the pass reads the rows' caches from it and
 * keeps what the rows ask to keep.
 * @param {InferenceSession} session
 * @param {SessionRunInput} batch
 * @param {OutputSpec} [spec]
 * @param {PrefixCacheStore} [store]
 * @returns {Promise<SessionRunResult>}
 */
export async function runDenoiserSession(session, batch, spec = { form: 'logits' }, store = undefined) {
  try {
    return await runPass(session, batch, spec, store);
  } catch (error) {
    // A refresh that failed anywhere leaves its decodes without a cache: the old one is stale,
    // and the denoiser, told of the failure, forgets it too.
    if (store !== undefined && batch.prefixCache !== undefined) store.dropRefreshed(batch.batchSize, batch.prefixCache);
    throw error;
  }
}

/**
 * @param {InferenceSession} session
 * @param {SessionRunInput} batch
 * @param {OutputSpec} spec
 * @param {PrefixCacheStore | undefined} store
 * @returns {Promise<SessionRunResult>}
 */
async function runPass(session, batch, spec, store) {
  const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
  const size = batchSize * sequenceLength;
  const ids = new BigInt64Array(size);
  const mask = new BigInt64Array(size);
  for (let i = 0; i < size; i++) {
    ids[i] = BigInt(/** @type {number} */ (inputIds[i]));
    mask[i] = attentionMask[i] === 0 ? 0n : 1n;
  }
  const dims = [batchSize, sequenceLength];
  /** @type {Record<string, ort.Tensor>} */
  const feeds = {
    [INPUT_IDS]: new ort.Tensor('int64', ids, dims),
    [ATTENTION_MASK]: new ort.Tensor('int64', mask, dims),
  };
  if (spec.form === 'reduced' && spec.positionsInput) {
    if (batch.positions === undefined || batch.positions.perRow === 0) {
      throw new ModelOutputContractError('the model computes only at named positions, but the batch names none');
    }
    const { perRow, values } = batch.positions;
    const positions = new BigInt64Array(batchSize * perRow);
    for (let i = 0; i < positions.length; i++) positions[i] = BigInt(/** @type {number} */ (values[i]));
    feeds[POSITIONS] = new ort.Tensor('int64', positions, [batchSize, perRow]);
  }
  // Fetching only the reduced outputs lets onnxruntime skip a kept `logits` output's copy.
  const fetches = spec.form === 'logits' ? [LOGITS] : reducedFetches(spec.topK);
  const rows = batch.prefixCache;
  let keeps = false;
  if (store !== undefined) {
    // Released first: the caller released them before it asked for this pass.
    if (batch.releases) store.release(batch.releases);
    const { layers, kvHeads, headDim } = store.shape;
    const past = store.assemble(batchSize, rows);
    const pastDims = [layers, batchSize, kvHeads, past.pastLength, headDim];
    feeds[PAST_KEY] = new ort.Tensor('float32', past.keys, pastDims);
    feeds[PAST_VALUE] = new ort.Tensor('float32', past.values, pastDims);
    feeds[PAST_MASK] = new ort.Tensor('int64', past.mask, [batchSize, past.pastLength]);
    keeps = rows !== undefined && Array.prototype.some.call(rows.keepLengths, (keep) => keep > 0);
    // Only a pass that keeps a cache pays for copying the window's keys and values out.
    if (keeps) fetches.push(PRESENT_KEY, PRESENT_VALUE);
  }
  const missing = fetches.find((name) => !session.outputNames.includes(name));
  if (missing !== undefined) {
    throw new ModelOutputContractError(
      `the model has no "${missing}" output (outputs: ${session.outputNames.join(', ')})`,
    );
  }
  const started = performance.now();
  const outputs = await session.run(feeds, fetches);
  const sessionRunMs = performance.now() - started;
  if (keeps && store !== undefined && rows !== undefined) {
    const presentKey = output(outputs, PRESENT_KEY, 'float32');
    const presentValue = output(outputs, PRESENT_VALUE, 'float32');
    const { layers, kvHeads, headDim } = store.shape;
    const expected = [layers, batchSize, kvHeads, sequenceLength, headDim];
    for (const present of [presentKey, presentValue]) {
      if (present.dims.length !== 5 || present.dims.some((dim, axis) => dim !== expected[axis])) {
        throw new ModelOutputContractError(
          `output "${PRESENT_KEY}"/"${PRESENT_VALUE}" has shape [${present.dims.join(', ')}], expected ` +
            `[${expected.join(', ')}] (layers, batch, kvHeads, window, headDim from the manifest's prefixCache)`,
        );
      }
    }
    store.keep(
      batchSize,
      sequenceLength,
      rows,
      /** @type {Float32Array} */ (presentKey.data),
      /** @type {Float32Array} */ (presentValue.data),
    );
  }
  const held = store === undefined ? {} : { prefixCacheBytes: store.bytes };
  if (spec.form === 'logits') {
    const logits = output(outputs, LOGITS, 'float32');
    // Checked above: a float32 tensor's data is a Float32Array.
    return {
      form: 'logits',
      dims: [...logits.dims],
      logits: /** @type {Float32Array} */ (logits.data),
      sessionRunMs,
      ...held,
    };
  }
  const token = output(outputs, REDUCED.token, 'int64');
  /** @type {ReducedRunResult} */
  const result = {
    form: 'reduced',
    dims: [...token.dims],
    token: narrowIds(token),
    confidence: /** @type {Float32Array} */ (output(outputs, REDUCED.confidence, 'float32').data),
    entropy: /** @type {Float32Array} */ (output(outputs, REDUCED.entropy, 'float32').data),
    sessionRunMs,
    ...held,
  };
  if (spec.topK > 0) {
    result.topKIds = narrowIds(output(outputs, REDUCED.topKIds, 'int64'));
    result.topKLogits = /** @type {Float32Array} */ (output(outputs, REDUCED.topKLogits, 'float32').data);
  }
  return result;
}

/**
 * @param {number} topK
 * @returns {string[]}
 */
function reducedFetches(topK) {
  const names = [REDUCED.token, REDUCED.confidence, REDUCED.entropy];
  return topK > 0 ? [...names, REDUCED.topKIds, REDUCED.topKLogits] : names;
}

/**
 * @param {InferenceSession.OnnxValueMapType} outputs
 * @param {string} name
 * @param {'float32' | 'int64'} type
 * @returns {ort.Tensor}
 */
function output(outputs, name, type) {
  const tensor = outputs[name];
  if (tensor === undefined) {
    throw new ModelOutputContractError(
      `the model has no "${name}" output (outputs: ${Object.keys(outputs).join(', ')})`,
    );
  }
  if (!(tensor instanceof ort.Tensor)) throw new ModelOutputContractError(`output "${name}" is not a tensor`);
  if (tensor.type !== type) throw new ModelOutputContractError(`output "${name}" is ${tensor.type}, expected ${type}`);
  return tensor;
}

/**
 * @param {ort.Tensor} tensor an int64 tensor of token ids
 * @returns {Int32Array}
 */
function narrowIds(tensor) {
  const data = /** @type {BigInt64Array} */ (tensor.data);
  const ids = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) ids[i] = Number(data[i]);
  return ids;
}
