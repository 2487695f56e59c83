// Plain JavaScript on purpose: the inference thread loads this file directly, so it must run
// without a TypeScript loader (under `node --import tsx`, vitest, or plain node alike).
// Types: session-core.d.mts.
import ort from 'onnxruntime-node';

/** Input and output names of the model directory contract. */
export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const LOGITS = 'logits';

/** The model ran but broke the output contract; the thread reports it by this name. */
class ModelOutputContractError extends Error {
  name = 'ModelOutputContractError';
}

export async function createInferenceSession(modelPath, sessionOptions) {
  return ort.InferenceSession.create(modelPath, sessionOptions);
}

export function describeSession(session) {
  return { inputs: session.inputMetadata, outputs: session.outputMetadata };
}

/**
 * One forward pass. Widens int32 ids / uint8 mask to the contract's int64 tensors, runs, and
 * returns the logits with the time spent inside session.run().
 */
export async function runDenoiserSession(session, batch) {
  const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
  const size = batchSize * sequenceLength;
  const ids = new BigInt64Array(size);
  const mask = new BigInt64Array(size);
  for (let i = 0; i < size; i++) {
    ids[i] = BigInt(inputIds[i]);
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
  return { dims: [...logits.dims], logits: logits.data, sessionRunMs };
}
