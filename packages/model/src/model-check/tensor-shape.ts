/** What each axis of the contract's tensors means: input_ids/attention_mask [B, L], logits [B, L, V]. */
export const AXIS_NAMES = ['batch', 'sequence', 'vocab'];

/** `1, sequence, ?`: fixed sizes as numbers, dynamic axes by name, unnamed ones as `?`. */
export function formatShape(shape: readonly (number | string)[]): string {
  return shape.map((dim) => (typeof dim === 'number' ? String(dim) : dim === '' ? '?' : dim)).join(', ');
}
