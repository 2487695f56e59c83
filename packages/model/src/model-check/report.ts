import type { SpecialTokenRole } from '../model-manifest.ts';
import type { ModelCheckCode } from './codes.ts';

export type ModelCheckSeverity = 'error' | 'warning';

export interface ModelCheckProblem {
  /** `error` breaks serving; `warning` is served but probably not what the exporter meant. */
  readonly severity: ModelCheckSeverity;
  /** Stable identifier, e.g. `onnx_input_dtype`. */
  readonly code: ModelCheckCode;
  /** What is wrong and what was expected. */
  readonly message: string;
  /**
   * Where: a file in the directory, optionally `#field`
   * (`dfleet-model.json#specialTokens.eos`, `model.onnx#input_ids`).
   */
  readonly path?: string;
}

export interface ModelCheckTensor {
  readonly name: string;
  readonly type: string;
  /** Numbers are fixed sizes; strings are dynamic axes (symbolic names; '' when unnamed). */
  readonly shape: readonly (number | string)[];
}

/** The prefix-cache form as the check found it (model-check/prefix-cache.ts). */
export interface PrefixCacheSummary {
  readonly onnx: string;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly inputs?: readonly ModelCheckTensor[];
  readonly outputs?: readonly ModelCheckTensor[];
  /** Largest |logit difference| of each numeric probe that ran. */
  readonly differences?: { readonly fullPass?: number; readonly cachedWindow?: number; readonly batched?: number };
}

export interface ModelCheckSummary {
  readonly directory: string;
  readonly name?: string;
  readonly vocabSize?: number;
  readonly maxSequenceLength?: number;
  readonly specialTokens?: Readonly<Record<SpecialTokenRole, number>>;
  readonly tokenizerVocabSize?: number;
  readonly inputs?: readonly ModelCheckTensor[];
  readonly outputs?: readonly ModelCheckTensor[];
  /** [batch, sequence] shapes the model was run on successfully with the expected logits shape. */
  readonly shapesRun: readonly (readonly [number, number])[];
  /** The prefix-cache form, when the manifest declares one. */
  readonly prefixCache?: PrefixCacheSummary;
}

export interface ModelCheckReport {
  /** True when there is no problem of severity `error`. */
  readonly ok: boolean;
  readonly problems: readonly ModelCheckProblem[];
  readonly summary: ModelCheckSummary;
}

/** How each check adds a problem to the report. */
export type ReportProblem = (
  severity: ModelCheckSeverity,
  code: ModelCheckCode,
  message: string,
  path?: string,
) => void;
