import type { SpecialTokens } from './decode-request.ts';

/**
 * Ids the decoder never emits: mask, bos, unk (when the model has them) and pad, except when pad
 * is eos (then it is the answer's end). Sorted, without duplicates. A model whose logits are
 * reduced inside its graph must leave out exactly these from its `top_token`.
 */
export function suppressedTokenIds(specialTokens: SpecialTokens): number[] {
  const { mask, eos, pad, bos, unk } = specialTokens;
  const ids = new Set([mask]);
  if (bos !== undefined) ids.add(bos);
  if (unk !== undefined) ids.add(unk);
  if (pad !== undefined && pad !== eos) ids.add(pad);
  return [...ids].sort((a, b) => a - b);
}
