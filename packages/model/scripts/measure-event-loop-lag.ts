/**
 * How much a forward pass blocks the caller's event loop, with session.run() on the calling
 * thread ('main') versus in the denoiser's inference thread ('worker').
 *
 *   node --import tsx packages/model/scripts/measure-event-loop-lag.ts [modelDir] [batchSize] [runs]
 *
 * A 5 ms setInterval stands in for BullMQ lock renewal / gRPC: the report gives how many ticks
 * fired while `runs` forward passes ran back to back, and the longest gap between two ticks.
 * Prints one JSON line per mode.
 */
import { DEFAULT_MODEL_DIR, loadModel, type InferenceThread } from '../src/index.ts';

const modelDir = process.argv[2] ?? DEFAULT_MODEL_DIR;
const batchSize = Number(process.argv[3] ?? 16);
const runs = Number(process.argv[4] ?? 5);
const TICK_MS = 5;

async function measure(inferenceThread: InferenceThread): Promise<Record<string, unknown>> {
  const model = await loadModel(modelDir, { inferenceThread });
  try {
    const { maxSequenceLength, specialTokens } = model.manifest;
    const sequenceLength = maxSequenceLength;
    const inputIds = new Int32Array(batchSize * sequenceLength).fill(specialTokens.mask);
    for (let row = 0; row < batchSize; row++) inputIds[row * sequenceLength] = specialTokens.bos;
    const batch = { batchSize, sequenceLength, inputIds, attentionMask: new Uint8Array(inputIds.length).fill(1) };
    await model.denoiser.denoise(batch); // warm-up: first run allocates

    let ticks = 0;
    let maxGapMs = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      ticks++;
    }, TICK_MS);
    last = performance.now();
    const started = performance.now();
    let sessionRunMs = 0;
    for (let i = 0; i < runs; i++) sessionRunMs += (await model.denoiser.denoise(batch)).sessionRunMs;
    const wallMs = performance.now() - started;
    clearInterval(timer);
    maxGapMs = Math.max(maxGapMs, performance.now() - last);
    return {
      inferenceThread,
      shape: [batchSize, sequenceLength, model.manifest.vocabSize],
      runs,
      wallMs: Math.round(wallMs),
      meanSessionRunMs: Math.round(sessionRunMs / runs),
      outsideSessionRunShare: Number(((wallMs - sessionRunMs) / wallMs).toFixed(3)),
      ticks,
      ticksExpected: Math.floor(wallMs / TICK_MS),
      maxTickGapMs: Math.round(maxGapMs),
    };
  } finally {
    await model.close();
  }
}

for (const mode of ['main', 'worker'] as const) console.log(JSON.stringify(await measure(mode)));
