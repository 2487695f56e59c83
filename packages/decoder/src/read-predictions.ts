import type { BlockCandidates } from './block-candidates.ts';
import { DecodeSessionError } from './decode-session-error.ts';
import type { RowPredictions } from './denoiser.ts';
import type { SeededRng } from './seeded-rng.ts';

/**
 * Fills token, confidence and entropy for every candidate from a model's reduced predictions,
 * to the same rule as `predictTokens` on the logits:
 *
 * - temperature 0: the model's `token`, `confidence` and `entropy` as they are (the reduction
 *   computes predictTokens' argmax and full-softmax figures inside the graph, in float32).
 * - temperature > 0: Gumbel-max among the row's top-K ids only, argmax_k l_k - T log(-log u_k).
 *   This is top-K sampling, not LLaDA's sampling over the whole vocabulary: an id outside the
 *   model's K best emittable ids can never be sampled, and the K ids are drawn with their
 *   softmax(l / T) weights renormalised over the K. The confidence of the sampled id is still its
 *   exact full-softmax probability, from log Z = topKLogits[0] - log(confidence[0]).
 *   With K = every emittable id it samples exactly the logits path's distribution.
 */
export function readPredictions(
  row: RowPredictions,
  /** Canvas index of answer position 0. */
  answerOffset: number,
  temperature: number,
  rng: SeededRng,
  candidates: BlockCandidates,
): void {
  const { topK, topKIds, topKLogits } = row;
  if (temperature > 0 && (topK === 0 || topKIds === undefined || topKLogits === undefined)) {
    throw new DecodeSessionError(
      'predictions_shape_mismatch',
      'temperature > 0 needs top-k predictions; the row has none',
    );
  }
  let hint = 0;
  for (let j = 0; j < candidates.count; j++) {
    const canvasPosition = answerOffset + candidates.position[j]!;
    const slot = findSlot(row, canvasPosition, hint);
    hint = slot + 1;
    const confidence = row.confidence[slot]!;
    candidates.entropy[j] = row.entropy[slot]!;
    if (temperature === 0) {
      candidates.token[j] = row.token[slot]!;
      candidates.confidence[j] = confidence;
      continue;
    }
    const base = slot * topK;
    const logZ = topKLogits![base]! - Math.log(confidence);
    let best = 0;
    let bestScore = -Infinity;
    for (let k = 0; k < topK; k++) {
      const score = topKLogits![base + k]! - temperature * Math.log(-Math.log(rng.nextOpenUnit()));
      if (score > bestScore) {
        bestScore = score;
        best = k;
      }
    }
    candidates.token[j] = topKIds![base + best]!;
    candidates.confidence[j] = Math.exp(topKLogits![base + best]! - logZ);
  }
}

/** The slot holding `canvasPosition`; slots are in ascending position order, so search from `hint`. */
export function findSlot(row: RowPredictions, canvasPosition: number, hint: number): number {
  const { positions, count } = row;
  if (positions === undefined) {
    if (canvasPosition < count) return canvasPosition;
  } else {
    for (let s = hint; s < count; s++) if (positions[s] === canvasPosition) return s;
    for (let s = 0; s < Math.min(hint, count); s++) if (positions[s] === canvasPosition) return s;
  }
  throw new DecodeSessionError(
    'predictions_shape_mismatch',
    `the row's predictions have no slot for canvas position ${canvasPosition} (${count} slots)`,
  );
}
