import { rankByConfidenceDescending } from '../block-candidates.ts';
import type { CommitRule } from './commit-rule.ts';

/**
 * Fast-dLLM's confidence-aware parallel decoding: commit every masked position of the block
 * whose confidence is >= tau, and always the most confident one, so a step where nothing
 * passes still makes progress (their issue #42 was a hang in exactly that case).
 */
export function createThresholdRule(tau: number): CommitRule {
  return {
    startBlock() {},
    select(candidates) {
      const ranked = rankByConfidenceDescending(candidates);
      const c = (rank: number): number => candidates.confidence[ranked[rank - 1]!]!;
      let accepted = 1;
      while (accepted < candidates.count && c(accepted + 1) >= tau) accepted++;
      return accepted;
    },
  };
}
