import { rankByConfidenceDescending } from '../block-candidates.ts';
import { getNumTransferTokens } from '../transfer-schedule.ts';
import type { CommitRule } from './commit-rule.ts';

/**
 * LLaDA's generate.py. Each block gets `stepsPerBlock` steps; step i of a block commits the
 * num_transfer_tokens[i] candidates with the highest confidence (torch.topk), the rest stay
 * masked. Confidence is x0_p under low_confidence remasking, a uniform draw under random
 * remasking (filled in before `select`). The step count is fixed: no threshold, no early exit.
 * LLaDA's classifier-free guidance (`cfg_scale`, a second forward pass with the prompt masked)
 * is not supported: every step is one forward pass of the canvas as it is.
 */
export function createReferenceRule(stepsPerBlock: number): CommitRule {
  let numTransferTokens: number[] = [];
  let i = 0;
  return {
    startBlock(maskCount) {
      numTransferTokens = getNumTransferTokens(maskCount, stepsPerBlock);
      i = 0;
    },
    select(candidates) {
      rankByConfidenceDescending(candidates);
      const k = numTransferTokens[i++] ?? 0;
      // Validation (steps <= maxNewTokens) makes 1 <= k <= count; clamp so a bug cannot hang.
      return Math.min(Math.max(k, 1), candidates.count);
    },
  };
}
