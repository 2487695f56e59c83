import { rankByConfidenceDescending } from '../block-candidates.ts';
import type { CommitRule } from './commit-rule.ts';

/**
 * Fast-dLLM's factor rule: with confidences sorted descending c_1 >= c_2 >= ..., accept the
 * longest prefix where every c_i >= 1 - f / (i + 1); c_1 is accepted regardless.
 *
 * Deviation, on purpose: Fast-dLLM's code (get_transfer_index_dynamic) also commits the
 * last-ranked candidate when it is the only one that fails (`if top_i == 0 or top_i ==
 * len(threshs) - 1: top_i += 1`). We apply the rule as stated, so that candidate waits for the
 * next step (test: paper-parity.test.ts).
 */
export function createFactorRule(f: number): CommitRule {
  return {
    startBlock() {},
    select(candidates) {
      const ranked = rankByConfidenceDescending(candidates);
      const c = (i: number): number => candidates.confidence[ranked[i - 1]!]!;
      let accepted = 1;
      for (let i = 2; i <= candidates.count; i++) {
        if (c(i) < 1 - f / (i + 1)) break;
        accepted = i;
      }
      return accepted;
    },
  };
}
