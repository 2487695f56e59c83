import type { MainThreadSession } from '../main-thread-session.ts';
import type { SpecialTokenRole } from '../model-manifest.ts';
import type { ModelCheckCode } from './codes.ts';
import { messageOf } from './error-message.ts';

type ProbeFailureCode = Extract<ModelCheckCode, 'onnx_run_failed' | 'onnx_output_shape' | 'logits_not_finite'>;

type ProbeOutcome = { ok: true; logits: Float32Array } | { ok: false; code: ProbeFailureCode; failure: string };

/** Runs probe batches on the graph for the checks that need real runs. */
export interface ProbeRunner {
  readonly vocabSize: number;
  readonly specialTokens: Record<SpecialTokenRole, number> | undefined;
  /**
   * Runs one batch; returns its logits, or the reason it failed the contract. Each batch that
   * passes is recorded in the summary's `shapesRun`.
   */
  run(
    inputIds: Int32Array,
    attentionMask: Uint8Array,
    batchSize: number,
    sequenceLength: number,
  ): Promise<ProbeOutcome>;
  /** Runs a batch of ordinary ids without padding. */
  runUnpadded(batchSize: number, sequenceLength: number): Promise<ProbeOutcome>;
}

/** Ordinary (non-special) ids for probe rows, cycling through the low end of the vocabulary. */
export function probeIds(
  count: number,
  vocabSize: number,
  specialTokens: Record<SpecialTokenRole, number> | undefined,
  seed: number,
): Int32Array {
  const special = new Set(specialTokens === undefined ? [] : Object.values(specialTokens));
  const ordinary: number[] = [];
  for (let id = 0; id < vocabSize && ordinary.length < 64; id++) if (!special.has(id)) ordinary.push(id);
  const pool = ordinary.length > 0 ? ordinary : [0];
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) ids[i] = pool[(i * 7 + seed) % pool.length]!;
  return ids;
}

export function createProbeRunner(
  session: MainThreadSession,
  vocabSize: number,
  specialTokens: Record<SpecialTokenRole, number> | undefined,
  shapesRun: [number, number][],
): ProbeRunner {
  const run = async (
    inputIds: Int32Array,
    attentionMask: Uint8Array,
    batchSize: number,
    sequenceLength: number,
  ): Promise<ProbeOutcome> => {
    let result;
    try {
      result = await session.run({ batchSize, sequenceLength, inputIds, attentionMask });
    } catch (error) {
      return { ok: false, failure: `onnxruntime failed: ${messageOf(error).trim()}`, code: 'onnx_run_failed' };
    }
    const expected = [batchSize, sequenceLength, vocabSize];
    if (result.dims.length !== 3 || result.dims.some((dim, axis) => dim !== expected[axis])) {
      return {
        ok: false,
        failure:
          `it returned logits [${result.dims.join(', ')}]; ` +
          `expected [${expected.join(', ')}] (batch, sequence, vocabSize)`,
        code: 'onnx_output_shape',
      };
    }
    if (!result.logits.every(Number.isFinite)) {
      return { ok: false, failure: 'its logits contain NaN or Infinity', code: 'logits_not_finite' };
    }
    shapesRun.push([batchSize, sequenceLength]);
    return { ok: true, logits: result.logits };
  };
  const runUnpadded = (batchSize: number, sequenceLength: number): Promise<ProbeOutcome> =>
    run(
      probeIds(batchSize * sequenceLength, vocabSize, specialTokens, sequenceLength),
      new Uint8Array(batchSize * sequenceLength).fill(1),
      batchSize,
      sequenceLength,
    );
  return { vocabSize, specialTokens, run, runUnpadded };
}
