import type { TokenLogprob } from './decode-result.ts';
import type { RowPredictions } from './denoiser.ts';

/**
 * A committed token's log-probability from the step's logits at its canvas position: the full
 * softmax at temperature 1 over the whole vocabulary (suppressed ids count in it, as they do in
 * the confidence), so it is log(x0_p) for the token the step committed. The `top` best ids are
 * the emittable ones only (suppressed ids are never an alternative), best first, ties to the
 * lowest id like the argmax.
 */
export function logprobFromLogits(
  rowLogits: Float32Array,
  vocabSize: number,
  canvasPosition: number,
  token: number,
  suppressed: Uint8Array,
  top: number,
): TokenLogprob {
  const base = canvasPosition * vocabSize;
  let maxLogit = -Infinity;
  for (let v = 0; v < vocabSize; v++) maxLogit = Math.max(maxLogit, rowLogits[base + v]!);
  let sum = 0;
  for (let v = 0; v < vocabSize; v++) sum += Math.exp(rowLogits[base + v]! - maxLogit);
  const logZ = maxLogit + Math.log(sum);

  const bestIds: number[] = [];
  const bestLogits: number[] = [];
  if (top > 0) {
    for (let v = 0; v < vocabSize; v++) {
      if (suppressed[v] === 1) continue;
      const logit = rowLogits[base + v]!;
      if (bestIds.length === top && logit <= bestLogits[top - 1]!) continue;
      // Insertion into a list of at most `top` (<= 5): strictly greater moves up, so ties keep the lower id first.
      let at = Math.min(bestIds.length, top - 1);
      while (at > 0 && logit > bestLogits[at - 1]!) at--;
      bestIds.splice(at, 0, v);
      bestLogits.splice(at, 0, logit);
      if (bestIds.length > top) {
        bestIds.pop();
        bestLogits.pop();
      }
    }
  }
  return {
    logprob: rowLogits[base + token]! - logZ,
    top: bestIds.map((id, i) => ({ id, logprob: bestLogits[i]! - logZ })),
  };
}

/**
 * The same figures from a reduced model's outputs at slot `slot`: log Z = topKLogits[0] -
 * log(confidence), the confidence being that of the argmax (topKIds[0]), so an id of the top-k
 * has log-probability topKLogit - log Z. The committed token is the argmax (temperature 0, then
 * its log-probability is log(confidence)) or, sampled, one of the top-k.
 */
export function logprobFromPredictions(row: RowPredictions, slot: number, token: number, top: number): TokenLogprob {
  const confidence = row.confidence[slot]!;
  const { topK, topKIds, topKLogits } = row;
  if (topK === 0 || topKIds === undefined || topKLogits === undefined) {
    return { logprob: Math.log(confidence), top: [] };
  }
  const base = slot * topK;
  const logZ = topKLogits[base]! - Math.log(confidence);
  let logprob = Math.log(confidence);
  if (token !== row.token[slot]) {
    for (let k = 0; k < topK; k++) if (topKIds[base + k] === token) logprob = topKLogits[base + k]! - logZ;
  }
  const alternatives: { id: number; logprob: number }[] = [];
  for (let k = 0; k < Math.min(top, topK); k++) {
    alternatives.push({ id: topKIds[base + k]!, logprob: topKLogits[base + k]! - logZ });
  }
  return { logprob, top: alternatives };
}
