import type { DecodeRequest } from './decode-request.ts';
import type { DecodeResult, StepReport } from './decode-result.ts';
import { createDecodeSession } from './decode-session.ts';
import type { Denoiser } from './denoiser.ts';
import { applyRowOutput, batchPositions, checkOutputShape } from './row-output.ts';

export interface DecodeBatchOptions {
  /** Called after every step of every job, with the job's index in `requests`. */
  readonly onStep?: (requestIndex: number, report: StepReport) => void;
  /** Checked before every forward pass: once aborted, every unfinished job ends "cancelled". */
  readonly signal?: AbortSignal;
}

/**
 * Decode several jobs together: each step runs one forward pass over the still-unfinished
 * canvases, right-padded to the longest, and hands each session its own row. Each session owns
 * its RNG, so a job decodes to the same tokens here as alone. (The worker's scheduler replaces
 * this with jobs joining and leaving mid-flight; this proves the session works batched.)
 */
export async function decodeBatch(
  denoiser: Denoiser,
  requests: readonly DecodeRequest[],
  options: DecodeBatchOptions = {},
): Promise<DecodeResult[]> {
  const vocabSize = denoiser.vocabSize;
  const sessions = requests.map((request) => createDecodeSession(request, vocabSize, denoiser.outputForm));
  for (;;) {
    const active = sessions.map((_, index) => index).filter((index) => !sessions[index]!.finished);
    if (active.length === 0) break;
    if (options.signal?.aborted) {
      for (const index of active) sessions[index]!.cancel();
      break;
    }
    const sequenceLength = Math.max(...active.map((index) => sessions[index]!.canvas.length));
    const inputIds = new Int32Array(active.length * sequenceLength);
    const attentionMask = new Uint8Array(active.length * sequenceLength);
    active.forEach((index, row) => {
      const { canvas } = sessions[index]!;
      const request = requests[index]!;
      // Padding is never attended to; its id only has to be a valid token.
      inputIds.fill(
        request.specialTokens.pad ?? request.specialTokens.eos,
        row * sequenceLength,
        (row + 1) * sequenceLength,
      );
      inputIds.set(canvas, row * sequenceLength);
      attentionMask.fill(1, row * sequenceLength, row * sequenceLength + canvas.length);
    });
    const positions = batchPositions(
      active.map((index) => sessions[index]!),
      denoiser.outputForm,
    );
    const batch = {
      batchSize: active.length,
      sequenceLength,
      inputIds,
      attentionMask,
      ...(positions ? { positions } : {}),
    };
    const output = await denoiser.denoise(batch);
    checkOutputShape(output, active.length, sequenceLength, vocabSize);
    active.forEach((index, row) => {
      const report = applyRowOutput(sessions[index]!, output, row, batch);
      options.onStep?.(index, report);
    });
  }
  return sessions.map((session) => session.result());
}
