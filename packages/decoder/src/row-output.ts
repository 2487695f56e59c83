import type { DecodeSession } from './decode-session.ts';
import type { StepReport } from './decode-result.ts';
import { DecodeSessionError } from './decode-session-error.ts';
import {
  rowPredictions,
  type BatchPositions,
  type DenoiserOutput,
  type DenoiserOutputForm,
  type RowPredictions,
} from './denoiser.ts';

/**
 * The positions each session reads next, as a batch's `positions` (rows padded to the longest
 * by repeating their last position, which is always a valid index), or undefined when the
 * denoiser computes every position.
 * @param windowStarts per session, the canvas position its row's ids start at (a prefix-cached
 *   row runs only its window); the positions are then window slots. Absent: all 0.
 */
export function batchPositions(
  sessions: readonly DecodeSession[],
  outputForm: DenoiserOutputForm | undefined,
  windowStarts?: readonly number[],
): BatchPositions | undefined {
  if (outputForm?.form !== 'predictions' || !outputForm.positions) return undefined;
  const rows = sessions.map((session, r) => {
    const positions = session.positionsToRead();
    const windowStart = windowStarts?.[r] ?? 0;
    if (windowStart === 0) return positions;
    return positions.map((position) => {
      if (position < windowStart) {
        throw new DecodeSessionError(
          'window_after_candidates',
          `row ${r}'s window starts at canvas position ${windowStart}, after position ${position} its session reads`,
        );
      }
      return position - windowStart;
    });
  });
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
 * @param windowStart the canvas position the row's ids started at (a prefix-cached row): its
 *   slots are window slots, handed on as canvas positions (slot + windowStart).
 */
export function applyRowOutput(
  session: DecodeSession,
  output: DenoiserOutput,
  row: number,
  batchShape: { readonly batchSize: number; readonly sequenceLength: number },
  windowStart = 0,
): StepReport {
  if (output.form === 'predictions')
    return session.applyPredictions(windowed(rowPredictions(output, row), windowStart));
  const rowSize = batchShape.sequenceLength * output.vocabSize;
  return session.applyLogits(output.logits.subarray(row * rowSize, (row + 1) * rowSize), windowStart);
}

/** A row's predictions with window slots turned into canvas positions. */
function windowed(row: RowPredictions, windowStart: number): RowPredictions {
  if (windowStart === 0) return row;
  const positions = new Int32Array(row.count);
  for (let s = 0; s < row.count; s++) positions[s] = (row.positions ? row.positions[s]! : s) + windowStart;
  return { ...row, positions };
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
