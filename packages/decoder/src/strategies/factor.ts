import { rankByConfidenceDescending } from '../block-candidates.ts';
import type { CommitRule } from './commit-rule.ts';

/**
 * Fast-dLLM's factor rule: with confidences sorted descending c_1 >= c_2 >= ..., accept the
 * longest prefix where every c_i >= 1 - f / (i + 1); c_1 is accepted regardless.
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
