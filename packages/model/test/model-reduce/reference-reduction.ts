/** The decoder's rule, in float64 JS, for one position's logits row: what a reduced model must output. */
export interface ReferenceReduction {
  readonly topToken: number;
  /** Probability of topToken under the softmax over all V logits. */
  readonly topConfidence: number;
  /** Entropy of that full softmax. */
  readonly entropy: number;
  /** Emittable ids by logit, best first (ties: lower id first). */
  readonly ranked: number[];
}

export function referenceReduction(row: ArrayLike<number>, suppressed: ReadonlySet<number>): ReferenceReduction {
  let topToken = -1;
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) {
    max = Math.max(max, row[v]!);
    if (!suppressed.has(v) && (topToken === -1 || row[v]! > row[topToken]!)) topToken = v;
  }
  let sum = 0;
  let weighted = 0;
  for (let v = 0; v < row.length; v++) {
    const e = Math.exp(row[v]! - max);
    sum += e;
    if (e > 0) weighted += e * (row[v]! - max);
  }
  const ranked = Array.from({ length: row.length }, (_, v) => v)
    .filter((v) => !suppressed.has(v))
    .sort((a, b) => row[b]! - row[a]! || a - b);
  return {
    topToken,
    topConfidence: Math.exp(row[topToken]! - max) / sum,
    entropy: Math.max(0, Math.log(sum) - weighted / sum),
    ranked,
  };
}
