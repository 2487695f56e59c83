import type { BlockCandidates } from './block-candidates.ts';
import { DecodeSessionError } from './decode-session-error.ts';
import type { SeededRng } from './seeded-rng.ts';

/**
 * Fills token (x0), confidence (x0_p) and entropy for every candidate from this step's logits,
 * by LLaDA's generate.py and Fast-dLLM's rule:
 *
 * - x0 is LLaDA's Gumbel-max sample, argmax_v exp(l_v) / (-log u_v)^T, taken in log space as
 *   argmax_v l_v - T log(-log u_v); T = 0 is a plain argmax (ties: the lowest token id).
 *   Suppressed tokens (mask, bos, pad, unk) are left out of this argmax only, so they are never
 *   predicted.
 * - x0_p = softmax(l)[x0] over the FULL vocabulary, without temperature, suppressed tokens
 *   included: the probability mass the model puts on tokens it may not emit lowers the
 *   confidence instead of being renormalised away (the papers' low_confidence remasking).
 * - The entropy (EB-sampler's H) is that of the same full softmax.
 */
export function predictTokens(
  rowLogits: Float32Array,
  vocabSize: number,
  /** Canvas index of answer position 0. */
  answerOffset: number,
  /** 1 for a token that may never be predicted. */
  suppressed: Uint8Array,
  temperature: number,
  rng: SeededRng,
  candidates: BlockCandidates,
): void {
  for (let j = 0; j < candidates.count; j++) {
    const canvasPosition = answerOffset + candidates.position[j]!;
    const base = canvasPosition * vocabSize;

    let maxLogit = -Infinity;
    let maxPredictableLogit = -Infinity;
    let x0 = -1;
    let bestScore = -Infinity;
    for (let v = 0; v < vocabSize; v++) {
      const logit = rowLogits[base + v]!;
      if (Number.isNaN(logit) || logit === Infinity) {
        throw new DecodeSessionError(
          'non_finite_logits',
          `logit of token ${v} at canvas position ${canvasPosition} is ${logit}`,
        );
      }
      if (logit > maxLogit) maxLogit = logit;
      if (suppressed[v] === 1) continue;
      if (logit > maxPredictableLogit) maxPredictableLogit = logit;
      const score = temperature === 0 ? logit : logit - temperature * Math.log(-Math.log(rng.nextOpenUnit()));
      if (x0 === -1 || score > bestScore) {
        bestScore = score;
        x0 = v;
      }
    }
    if (maxPredictableLogit === -Infinity) {
      throw new DecodeSessionError(
        'non_finite_logits',
        `every predictable token has logit -inf at canvas position ${canvasPosition}`,
      );
    }

    // Full softmax with the max subtracted: S = sum e_v, entropy = log S - sum e_v (l_v - max) / S.
    let sum = 0;
    let weighted = 0;
    for (let v = 0; v < vocabSize; v++) {
      const shifted = rowLogits[base + v]! - maxLogit;
      const e = Math.exp(shifted);
      if (e > 0) {
        sum += e;
        weighted += e * shifted;
      }
    }
    candidates.token[j] = x0;
    candidates.confidence[j] = Math.exp(rowLogits[base + x0]! - maxLogit) / sum;
    candidates.entropy[j] = Math.max(0, Math.log(sum) - weighted / sum);
  }
}
