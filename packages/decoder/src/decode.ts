import type { DecodeRequest } from './decode-request.ts';
import type { DecodeResult, StepReport } from './decode-result.ts';
import { createDecodeSession } from './decode-session.ts';
import type { Denoiser } from './denoiser.ts';
import { applyRowOutput, batchPositions, checkOutputShape } from './row-output.ts';

export interface DecodeOptions {
  /** Called after every step with what it committed (for streaming). */
  readonly onStep?: (report: StepReport) => void;
  /** Checked before every forward pass: once aborted, the decode ends with "cancelled". */
  readonly signal?: AbortSignal;
}

/** Decode one job alone: one forward pass per step until the session finishes. */
export async function decode(
  denoiser: Denoiser,
  request: DecodeRequest,
  options: DecodeOptions = {},
): Promise<DecodeResult> {
  const session = createDecodeSession(request, denoiser.vocabSize, denoiser.outputForm);
  let attentionMask = new Uint8Array(0);
  while (!session.finished) {
    if (options.signal?.aborted) {
      session.cancel();
      break;
    }
    // The canvas grows when a continuation block is appended.
    if (attentionMask.length !== session.canvas.length) attentionMask = new Uint8Array(session.canvas.length).fill(1);
    // A copy: the denoiser may keep or transfer its input while the canvas moves on.
    const positions = batchPositions([session], denoiser.outputForm);
    const batch = {
      batchSize: 1,
      sequenceLength: session.canvas.length,
      inputIds: session.canvas.slice(),
      attentionMask,
      ...(positions ? { positions } : {}),
    };
    const output = await denoiser.denoise(batch);
    checkOutputShape(output, 1, session.canvas.length, denoiser.vocabSize);
    const report = applyRowOutput(session, output, 0, batch);
    options.onStep?.(report);
  }
  return session.result();
}
