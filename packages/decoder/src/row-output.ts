import type { DecodeSession } from './decode-session.ts';
import type { StepReport } from './decode-result.ts';
import { DecodeSessionError } from './decode-session-error.ts';
import { rowPredictions, type BatchPositions, type DenoiserOutput, type DenoiserOutputForm } from './denoiser.ts';

/**
 * The positions each session reads next, as a batch's `positions` (rows padded to the longest
 * by repeating their last position, which is always a valid index), or undefined when the
 * denoiser computes every position.
 */
export function batchPositions(
  sessions: readonly DecodeSession[],
  outputForm: DenoiserOutputForm | undefined,
): BatchPositions | undefined {
  if (outputForm?.form !== 'predictions' || !outputForm.positions) return undefined;
  const rows = sessions.map((session) => session.positionsToRead());
  const perRow = Math.max(1, ...rows.map((row) => row.length));
  const values = new Int32Array(sessions.length * perRow);
  for (const [r, row] of rows.entries()) {
    values.set(row, r * perRow);
    values.fill(row.length > 0 ? row[row.length - 1]! : 0, r * perRow + row.length, (r + 1) * perRow);
  }
  return { perRow, values };
}

/**
 * Hands row `row` of a forward pass's output to its session, whichever form the output has.
 * @param batchShape the pass's [batchSize, sequenceLength]
 */
export function applyRowOutput(
  session: DecodeSession,
  output: DenoiserOutput,
  row: number,
  batchShape: { readonly batchSize: number; readonly sequenceLength: number },
): StepReport {
  if (output.form === 'predictions') return session.applyPredictions(rowPredictions(output, row));
  const rowSize = batchShape.sequenceLength * output.vocabSize;
  return session.applyLogits(output.logits.subarray(row * rowSize, (row + 1) * rowSize));
}

/** Throws unless the output has the batch's shape (and, for logits, the vocabulary's). */
export function checkOutputShape(
  output: DenoiserOutput,
  batchSize: number,
  sequenceLength: number,
  vocabSize: number,
): void {
  if (output.form === 'predictions') {
    const expected = batchSize * output.perRow;
    if (output.batchSize !== batchSize || output.token.length !== expected || output.confidence.length !== expected) {
      throw new DecodeSessionError(
        'predictions_shape_mismatch',
        `denoiser returned predictions for ${output.batchSize} rows of ${output.perRow} (${output.token.length} tokens); ` +
          `expected ${batchSize} rows`,
      );
    }
    return;
  }
  const expected = batchSize * sequenceLength * vocabSize;
  if (
    output.batchSize !== batchSize ||
    output.sequenceLength !== sequenceLength ||
    output.vocabSize !== vocabSize ||
    output.logits.length !== expected
  ) {
    throw new DecodeSessionError(
      'logits_shape_mismatch',
      `denoiser returned [${output.batchSize}, ${output.sequenceLength}, ${output.vocabSize}] with ${output.logits.length} logits; ` +
        `expected [${batchSize}, ${sequenceLength}, ${vocabSize}] = ${expected}`,
    );
  }
}
