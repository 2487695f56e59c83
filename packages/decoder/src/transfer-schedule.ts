/**
 * LLaDA's get_num_transfer_tokens: with a linear noise schedule each of the `steps` steps
 * should commit the same number of the block's `maskCount` masked tokens, so each commits
 * floor(maskCount / steps) and the first `maskCount % steps` steps one more.
 */
export function getNumTransferTokens(maskCount: number, steps: number): number[] {
  const base = Math.floor(maskCount / steps);
  const remainder = maskCount % steps;
  return Array.from({ length: steps }, (_, i) => base + (i < remainder ? 1 : 0));
}
