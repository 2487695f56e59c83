import type { BlockCandidates } from '../block-candidates.ts';

/**
 * A strategy's core: given this step's candidates (the current block's masked positions),
 * rank them in `candidates.order` and say how many of the first ranked ones to commit.
 * Every rule commits at least one and at most `candidates.count`, so a decode of L tokens
 * ends within L steps.
 */
export interface CommitRule {
  /** Called before the first step of each block with its number of masked positions. */
  startBlock(maskCount: number): void;
  /** Returns k in [1, candidates.count]: commit candidates.order[0..k). */
  select(candidates: BlockCandidates): number;
}
