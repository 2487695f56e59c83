import type { InferenceSession } from 'onnxruntime-node';

export declare const INPUT_IDS: 'input_ids';
export declare const ATTENTION_MASK: 'attention_mask';
export declare const LOGITS: 'logits';

export interface SessionDescription {
  readonly inputs: readonly InferenceSession.ValueMetadata[];
  readonly outputs: readonly InferenceSession.ValueMetadata[];
}

export interface SessionRunInput {
  readonly batchSize: number;
  readonly sequenceLength: number;
  readonly inputIds: ArrayLike<number>;
  readonly attentionMask: ArrayLike<number>;
}

export interface SessionRunResult {
  /** Output dims as the model reported them, e.g. [B, L, V]. */
  readonly dims: number[];
  readonly logits: Float32Array;
  /** Wall time inside session.run(), in milliseconds. */
  readonly sessionRunMs: number;
}

export declare function createInferenceSession(
  modelPath: string,
  sessionOptions: InferenceSession.SessionOptions,
): Promise<InferenceSession>;

export declare function describeSession(session: InferenceSession): SessionDescription;

export declare function runDenoiserSession(session: InferenceSession, batch: SessionRunInput): Promise<SessionRunResult>;
