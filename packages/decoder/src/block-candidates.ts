/**
 * The still-masked positions of the current block and what the model predicts for each this
 * step. Candidate j is in slot j of every array; slots are filled in ascending position order.
 * Preallocated once per session (capacity = blockLength): a step allocates nothing per position.
 */
export interface BlockCandidates {
  /** How many slots are in use. */
  count: number;
  /** Answer-relative position of each candidate. */
  readonly position: Int32Array;
  /** x0: the predicted (argmax or Gumbel-sampled) token. */
  readonly token: Int32Array;
  /** x0_p: softmax probability of `token` (or a uniform draw under random remasking). */
  readonly confidence: Float64Array;
  /** Entropy in nats of the predicted distribution. */
  readonly entropy: Float64Array;
  /** Candidate slots in the order a commit rule ranks them; the rule commits a prefix of it. */
  readonly order: Int32Array;
}

export function createBlockCandidates(capacity: number): BlockCandidates {
  return {
    count: 0,
    position: new Int32Array(capacity),
    token: new Int32Array(capacity),
    confidence: new Float64Array(capacity),
    entropy: new Float64Array(capacity),
    order: new Int32Array(capacity),
  };
}

/** Most confident first; ties go to the leftmost position (slots are in position order). */
export function rankByConfidenceDescending(candidates: BlockCandidates): Int32Array {
  const { confidence } = candidates;
  return rank(candidates, (a, b) => confidence[b]! - confidence[a]! || a - b);
}

/** Least uncertain first; ties go to the leftmost position. */
export function rankByEntropyAscending(candidates: BlockCandidates): Int32Array {
  const { entropy } = candidates;
  return rank(candidates, (a, b) => entropy[a]! - entropy[b]! || a - b);
}

function rank(candidates: BlockCandidates, compare: (a: number, b: number) => number): Int32Array {
  const ranked = candidates.order.subarray(0, candidates.count);
  for (let j = 0; j < ranked.length; j++) ranked[j] = j;
  return ranked.sort(compare);
}
