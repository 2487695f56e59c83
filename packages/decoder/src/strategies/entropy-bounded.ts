import { rankByEntropyAscending } from '../block-candidates.ts';
import type { CommitRule } from './commit-rule.ts';

/**
 * EB-sampler (Ben-Hamu et al., "Accelerated Sampling from Masked Diffusion Models via Entropy
 * Bounded Unmasking"): sort the masked positions by entropy ascending, H_1 <= H_2 <= ..., and
 * commit the largest set {1..k} with sum_{i<=k} H_i - max_{i<=k} H_i <= gamma, at least one.
 * The left side bounds the mutual information among the committed tokens, so tokens decided
 * together are nearly independent given the canvas.
 */
export function createEntropyBoundedRule(gamma: number): CommitRule {
  return {
    startBlock() {},
    select(candidates) {
      const ranked = rankByEntropyAscending(candidates);
      const H = (i: number): number => candidates.entropy[ranked[i - 1]!]!;
      let accepted = 1;
      let sum = H(1);
      let max = H(1);
      for (let i = 2; i <= candidates.count; i++) {
        const h = H(i);
        if (sum + h - Math.max(max, h) > gamma) break;
        sum += h;
        max = Math.max(max, h);
        accepted = i;
      }
      return accepted;
    },
  };
}
