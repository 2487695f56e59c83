/**
 * Every code a model check reports, by the part of the contract it is about. A report's
 * `code` is one of these; tooling may match on them, so they never change meaning.
 */
export const MODEL_CHECK_CODES = [
  // dfleet-model.json (the first three are ModelManifestError's codes)
  'manifest_not_found',
  'manifest_not_json',
  'manifest_invalid',
  'file_missing',
  // tokenizer.json and tokenizer_config.json
  'tokenizer_invalid',
  'tokenizer_vocab_too_large',
  'tokenizer_vocab_smaller',
  'special_token_mismatch',
  'special_token_not_special',
  // loading the ONNX graph
  'execution_provider_unavailable',
  'onnx_load_failed',
  // the graph's inputs and outputs
  'onnx_input_missing',
  'onnx_input_dtype',
  'onnx_input_rank',
  'onnx_input_unexpected',
  'onnx_axis_not_dynamic',
  'onnx_output_missing',
  'onnx_output_dtype',
  'onnx_output_rank',
  'onnx_vocab_mismatch',
  // real runs
  'onnx_run_failed',
  'onnx_output_shape',
  'logits_not_finite',
  'max_sequence_length_unsupported',
  'padding_changes_logits',
  // the reduced form (manifest outputs.form "reduced", written by `dfleet model reduce`)
  'reduced_suppression_mismatch',
  'reduced_inputs_mismatch',
  'reduced_outputs_mismatch',
  'reduced_run_failed',
  'reduced_output_shape',
  'reduced_token_invalid',
  'reduced_values_out_of_range',
  'reduced_outputs_disagree',
  'reduced_top_k_inconsistent',
  // the prefix-cache form (manifest prefixCache, prefix-cache-contract.ts)
  'prefix_cache_load_failed',
  'prefix_cache_inputs_mismatch',
  'prefix_cache_outputs_mismatch',
  'prefix_cache_shape_mismatch',
  'prefix_cache_run_failed',
  'prefix_cache_full_pass_differs',
  'prefix_cache_window_differs',
  'prefix_cache_batch_differs',
  'prefix_cache_probes_skipped',
] as const;

export type ModelCheckCode = (typeof MODEL_CHECK_CODES)[number];
