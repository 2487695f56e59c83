/**
 * Names of the prefix-cache form of the model contract (Fast-dLLM's approximate prefix KV cache).
 *
 * A model with the form has a second ONNX file (the manifest's `prefixCache.onnx`): the same
 * weights, as a graph that takes the keys and values of a row's leading canvas positions instead
 * of recomputing them, and runs only the row's window (the current block and what follows):
 *
 * inputs
 * - `input_ids` int64 [B, S]: the window, canvas positions [C_r, C_r + S_r) of row r, right-padded;
 * - `attention_mask` int64 [B, S]: 1 on a window token, 0 on padding;
 * - `past_key`, `past_value` float32 [N, B, H, P, D]: keys (after the rotary embedding) and values
 *   of canvas positions [0, C_r) of row r, right-padded to P; P may be 0 (no cache: a full pass);
 * - `past_mask` int64 [B, P]: 1 on a cached position, 0 on padding. C_r = sum(past_mask[r]), so
 *   window token s sits at position C_r + s (rotary positions continue from the cache).
 *
 * outputs
 * - what the manifest's `outputs` declares, over the window: `logits` float32 [B, S, V], or the
 *   reduced contract's outputs (reduced-contract.ts; `positions` then names window slots);
 * - `present_key`, `present_value` float32 [N, B, H, S, D]: the window's own keys and values. A
 *   refresh (a pass with P = 0 over the whole canvas) keeps those of positions [0, C) as the cache.
 *
 * Every window token attends to the cached positions and to the window's real tokens; with P = 0
 * the graph computes what the plain `files.onnx` graph computes. N = layers, H = key/value heads,
 * D = head dim, all three named in the manifest.
 */
export const PREFIX_CACHE_INPUTS = {
  pastKey: 'past_key',
  pastValue: 'past_value',
  pastMask: 'past_mask',
} as const;

export const PREFIX_CACHE_OUTPUTS = {
  presentKey: 'present_key',
  presentValue: 'present_value',
} as const;

/** The cache's element type: float32, 4 bytes. */
const PREFIX_CACHE_BYTES_PER_VALUE = 4;

/** Bytes one cached canvas position takes: its key and value in every layer and head. */
export function prefixCacheBytesPerPosition(shape: { layers: number; kvHeads: number; headDim: number }): number {
  return 2 * shape.layers * shape.kvHeads * shape.headDim * PREFIX_CACHE_BYTES_PER_VALUE;
}
