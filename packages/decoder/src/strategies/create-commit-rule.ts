import type { ResolvedStrategy } from '../resolve-request.ts';
import type { CommitRule } from './commit-rule.ts';
import { createEntropyBoundedRule } from './entropy-bounded.ts';
import { createFactorRule } from './factor.ts';
import { createReferenceRule } from './reference.ts';
import { createThresholdRule } from './threshold.ts';

export function createCommitRule(strategy: ResolvedStrategy, numBlocks: number): CommitRule {
  switch (strategy.name) {
    case 'reference':
      return createReferenceRule(strategy.steps / numBlocks);
    case 'threshold':
      return createThresholdRule(strategy.threshold);
    case 'factor':
      return createFactorRule(strategy.factor);
    case 'entropy-bounded':
      return createEntropyBoundedRule(strategy.gamma);
  }
}
