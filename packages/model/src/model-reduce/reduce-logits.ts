import { REDUCED_OUTPUTS } from '../reduced-contract.ts';
import type { OnnxNode, OnnxTensor } from './onnx-schema.ts';
import { floatTensor, int64Tensor, intAttribute, node, REDUCE_PREFIX, suppressionBias } from './reduction-nodes.ts';

export interface LogitsReduction {
  readonly nodes: OnnxNode[];
  readonly initializers: OnnxTensor[];
}

const name = (suffix: string): string => `${REDUCE_PREFIX}${suffix}`;

/**
 * The nodes computing the reduced outputs from float32 logits `rows` [B, R, V].
 *
 * Memory is the constraint: at LLaDA's V = 126,464 every [B, R, V] tensor is as large as the
 * logits, so only one is made (the softmax). The argmax over emittable ids is a TopK over the raw
 * logits wide enough to hold them all even if every suppressed id ranks first (K + S
 * candidates), after which suppressed candidates drop to -inf; TopK breaks ties by the lower
 * index, so the winner is the lowest best emittable id, as in the decoder. Then, over the full
 * softmax p = softmax(l), with m the largest logit of all V (the first candidate):
 *   top_confidence = p[top_token],   log Z = m - log p[argmax],   entropy = max(0, log Z - sum_v p_v l_v),
 * the sum a [1, V] x [V, 1] MatMul per position (ReduceLogSumExp would be another pass over V,
 * and onnxruntime's is slower than the softmax). The confidence is as exact as the softmax; the
 * entropy's absolute error grows with the logits' size (float32 log Z): about 1e-6 for logits
 * of order 10, 1e-4 for logits in the thousands.
 */
export function reduceLogits(
  rows: string,
  options: { vocabSize: number; suppressedTokenIds: readonly number[]; topK: number },
): LogitsReduction {
  const kept = Math.max(options.topK, 1);
  const candidates = kept + options.suppressedTokenIds.length;
  const { topToken, topConfidence, entropy, topKIds, topKLogits } = REDUCED_OUTPUTS;
  const wantTopK = options.topK > 0;
  const sorted = [intAttribute('axis', -1), intAttribute('largest', 1), intAttribute('sorted', 1)];
  const nodes = [
    node('TopK', [rows, name('candidate_count')], [name('candidate_logits'), name('candidate_ids')], sorted),
    node(
      'Gather',
      [name('suppression_bias'), name('candidate_ids')],
      [name('candidate_bias')],
      [intAttribute('axis', 0)],
    ),
    node('Add', [name('candidate_logits'), name('candidate_bias')], [name('emittable_candidate_logits')]),
    node(
      'TopK',
      [name('emittable_candidate_logits'), name('kept_count')],
      [wantTopK ? topKLogits : name('best_logits'), name('best_candidates')],
      sorted,
    ),
    node(
      'GatherElements',
      [name('candidate_ids'), name('best_candidates')],
      [wantTopK ? topKIds : name('best_ids')],
      [intAttribute('axis', -1)],
    ),
    node('Gather', [wantTopK ? topKIds : name('best_ids'), name('first')], [topToken], [intAttribute('axis', -1)]),
    node('Softmax', [rows], [name('probabilities')], [intAttribute('axis', -1)]),
    node('Unsqueeze', [topToken, name('last_axis')], [name('top_token_index')]),
    node(
      'GatherElements',
      [name('probabilities'), name('top_token_index')],
      [name('top_probability')],
      [intAttribute('axis', -1)],
    ),
    node('Squeeze', [name('top_probability'), name('last_axis')], [topConfidence]),
    // log Z = m - log p(argmax over all V): that probability is >= 1/V, so its log is exact enough.
    node('Gather', [name('candidate_logits'), name('first')], [name('max_logit')], [intAttribute('axis', -1)]),
    node('Slice', [name('candidate_ids'), name('zero'), name('one'), name('last_axis')], [name('max_id')]),
    node(
      'GatherElements',
      [name('probabilities'), name('max_id')],
      [name('max_probability_cell')],
      [intAttribute('axis', -1)],
    ),
    node('Squeeze', [name('max_probability_cell'), name('last_axis')], [name('max_probability')]),
    node('Log', [name('max_probability')], [name('log_max_probability')]),
    node('Sub', [name('max_logit'), name('log_max_probability')], [name('log_partition')]),
    node('Unsqueeze', [name('probabilities'), name('second_last_axis')], [name('probability_rows')]),
    node('Unsqueeze', [rows, name('last_axis')], [name('logit_columns')]),
    node('MatMul', [name('probability_rows'), name('logit_columns')], [name('expected_logit_cell')]),
    node('Squeeze', [name('expected_logit_cell'), name('last_two_axes')], [name('expected_logit')]),
    node('Sub', [name('log_partition'), name('expected_logit')], [name('raw_entropy')]),
    // Rounding can leave a peaked distribution's entropy a hair below 0.
    node('Relu', [name('raw_entropy')], [entropy]),
  ];
  const initializers = [
    floatTensor(name('suppression_bias'), suppressionBias(options.vocabSize, options.suppressedTokenIds)),
    int64Tensor(name('candidate_count'), [candidates]),
    int64Tensor(name('kept_count'), [kept]),
    { ...int64Tensor(name('first'), [0]), dims: [] },
    int64Tensor(name('second_last_axis'), [-2]),
    int64Tensor(name('zero'), [0]),
    int64Tensor(name('one'), [1]),
    int64Tensor(name('last_two_axes'), [-2, -1]),
  ];
  return { nodes, initializers };
}
