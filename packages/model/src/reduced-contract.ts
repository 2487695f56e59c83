/**
 * Names of the reduced model contract (v2). A reduced model computes, per position and inside the
 * graph, what the decoder would otherwise compute in JavaScript from the full logits [B, L, V]:
 *
 * - `top_token` int64: argmax of the logits over the ids the decoder may emit (suppressed ids count
 *   as -inf; ties go to the lowest id);
 * - `top_confidence` float32: the probability of `top_token` under the softmax over ALL V logits;
 * - `entropy` float32: the entropy of that full softmax;
 * - optionally `top_k_ids` int64 / `top_k_logits` float32 [.., K]: the K best emittable ids and
 *   their raw logits, best first. Sampling at temperature > 0 among them is top-K sampling: ids
 *   outside the K never come out. Their full-softmax probabilities are still exact, since
 *   log Z = top_k_logits[0] - log(top_confidence).
 *
 * Shapes are [B, L] (or [B, L, K]); with the `positions` input int64 [B, P] they are [B, P] (or
 * [B, P, K]), computed only at those canvas positions.
 */
export const REDUCED_OUTPUTS = {
  topToken: 'top_token',
  topConfidence: 'top_confidence',
  entropy: 'entropy',
  topKIds: 'top_k_ids',
  topKLogits: 'top_k_logits',
} as const;

/** Name of the optional input naming the canvas positions to compute the reduced outputs at. */
export const POSITIONS_INPUT = 'positions';

/** The largest top-k a reduced model may output. */
export const MAX_REDUCED_TOP_K = 8;
