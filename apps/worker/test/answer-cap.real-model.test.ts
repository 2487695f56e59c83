import {
  applyRowOutput,
  createDecodeSession,
  DEFAULT_STRATEGY,
  type DecodeRequest,
  type DecodeResult,
  type DecodeSession,
  type PredictionsOutput,
} from '@dfleet/decoder';
import { loadModel, type LoadedModel } from '@dfleet/model';
import { StepScheduler } from '@dfleet/scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldOutPrompts, MODEL_DIR } from './default-model.ts';

const PROMPTS = heldOutPrompts(10);
const LONGEST_CAP = 256;

/** The default decode of a prompt (the job defaults: the manifest's canvas, the default strategy, temperature 0). */
function defaultRequest(model: LoadedModel, prompt: string): DecodeRequest {
  const { manifest, tokenizer } = model;
  return {
    promptIds: tokenizer.encode(prompt),
    maxNewTokens: manifest.defaults.maxNewTokens,
    blockLength: manifest.defaults.blockLength,
    strategy: { name: DEFAULT_STRATEGY },
    temperature: 0,
    specialTokens: manifest.specialTokens,
  };
}

/** Decodes every request together through the real StepScheduler and OnnxDenoiser. */
async function decodeAll(model: LoadedModel, requests: readonly DecodeRequest[]): Promise<DecodeResult[]> {
  const scheduler = new StepScheduler({
    denoiser: model.denoiser,
    padId: model.manifest.specialTokens.pad,
    maxBatchTokens: 64 * 128,
  });
  const sessions = requests.map((request) =>
    createDecodeSession(request, model.manifest.vocabSize, model.denoiser.outputForm),
  );
  await Promise.all(sessions.map((session) => scheduler.submit({ session })));
  await scheduler.close();
  return sessions.map((session) => session.result());
}

describe('max_tokens as a cap on the shipped model (held-out prompts, default decode)', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel(MODEL_DIR, { intraOpNumThreads: 1 });
  }, 120_000);
  afterAll(async () => {
    await model?.close();
  });

  it(`gives the default decode's tokens cut to every maxAnswerTokens from 1 to ${LONGEST_CAP}, "length" exactly when cut`, async () => {
    const uncapped = await decodeAll(
      model,
      PROMPTS.map((prompt) => defaultRequest(model, prompt)),
    );
    // The prompts end in different ways, so both sides of every rule are exercised.
    expect(new Set(uncapped.map((result) => result.tokenIds.length)).size).toBeGreaterThan(3);
    const caps = Array.from({ length: LONGEST_CAP }, (_, i) => i + 1);
    const wrong: string[] = [];
    for (const [index, prompt] of PROMPTS.entries()) {
      const full = uncapped[index]!;
      const capped = await decodeAll(
        model,
        caps.map((cap) => ({ ...defaultRequest(model, prompt), maxAnswerTokens: cap })),
      );
      for (const [c, result] of capped.entries()) {
        const cap = caps[c]!;
        const reason = full.tokenIds.length > cap ? 'length' : full.finishReason;
        const same = JSON.stringify(result.tokenIds) === JSON.stringify(full.tokenIds.slice(0, cap));
        if (!same || result.finishReason !== reason || result.nfe > full.nfe) {
          wrong.push(`prompt ${index} cap ${cap}: ${result.finishReason} ${JSON.stringify(result.tokenIds)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  }, 600_000);
});

describe('logprobs on the shipped model', () => {
  let logits: LoadedModel;
  let reduced: LoadedModel;
  beforeAll(async () => {
    [logits, reduced] = await Promise.all([
      loadModel(MODEL_DIR, { intraOpNumThreads: 1 }),
      // Reduced in the graph over every position, with the top 8: the confidence the decoder uses is an output.
      loadModel(MODEL_DIR, { intraOpNumThreads: 1, reduceInMemory: 'all' }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([logits?.close(), reduced?.close()]);
  });

  it('records log(confidence) the decoder committed each token with, and the token itself as the best at temperature 0', async () => {
    for (const prompt of PROMPTS) {
      const request = { ...defaultRequest(reduced, prompt), logprobs: 5 };
      const session: DecodeSession = createDecodeSession(
        request,
        reduced.manifest.vocabSize,
        reduced.denoiser.outputForm,
      );
      while (!session.finished) {
        const batch = {
          batchSize: 1,
          sequenceLength: session.canvas.length,
          inputIds: session.canvas.slice(),
          attentionMask: new Uint8Array(session.canvas.length).fill(1),
        };
        const output = (await reduced.denoiser.denoise(batch)) as PredictionsOutput;
        const report = applyRowOutput(session, output, 0, batch);
        report.committedPositions.forEach((position, i) => {
          const canvasPosition = session.answerOffset + position;
          const logprob = report.committedLogprobs![i]!;
          expect(logprob.logprob).toBe(Math.log(output.confidence[canvasPosition]!));
          expect(logprob.top[0]!.id).toBe(report.committedTokens[i]);
          expect(logprob.top).toHaveLength(5);
        });
      }
      const viaLogits = (await decodeAll(logits, [{ ...defaultRequest(logits, prompt), logprobs: 5 }]))[0]!;
      const viaReduced = session.result();
      // The logits path computes the same figures from the full logits in float64.
      expect(viaLogits.tokenIds).toEqual(viaReduced.tokenIds);
      viaLogits.tokenLogprobs!.forEach((entry, p) => {
        expect(entry.top[0]!.id).toBe(viaLogits.tokenIds[p]);
        expect(entry.logprob).toBeCloseTo(viaReduced.tokenLogprobs![p]!.logprob, 4);
        expect(entry.top.map((t) => t.id)).toEqual(viaReduced.tokenLogprobs![p]!.top.map((t) => t.id));
      });
    }
  }, 600_000);
});
