import { createDecodeSession, type DecodeRequest, type DecodeResult, type DecodeSession } from '@dfleet/decoder';
import { loadModel, type LoadedModel } from '@dfleet/model';
import { StepScheduler, type BatchReport, type ScheduledDecode } from '@dfleet/scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldOutPrompts, MODEL_DIR } from './default-model.ts';

/** Three prompts of different lengths, so the rows' caches differ in length in one pass. */
const PROMPTS = heldOutPrompts(3);
/** Three blocks: a refresh at each block start, cached passes between. */
const BLOCK_LENGTH = 16;

function requestFor(model: LoadedModel, prompt: string): DecodeRequest {
  const { manifest, tokenizer } = model;
  return {
    promptIds: tokenizer.encode(prompt),
    maxNewTokens: manifest.defaults.maxNewTokens,
    blockLength: BLOCK_LENGTH,
    // One token a step: 16 steps a block, so most passes can read a cache.
    strategy: { name: 'reference', steps: manifest.defaults.maxNewTokens },
    temperature: 0,
    specialTokens: manifest.specialTokens,
  };
}

function schedulerOn(model: LoadedModel, passes: BatchReport[], prefixCache: boolean): StepScheduler {
  return new StepScheduler({
    denoiser: model.denoiser,
    padId: model.manifest.specialTokens.pad,
    maxBatchTokens: 64 * 160,
    ...(prefixCache ? { prefixCache: { maxBytes: 256 * 1024 * 1024 } } : {}),
    onBatch: (report) => passes.push(report),
  });
}

function sessionFor(model: LoadedModel, request: DecodeRequest): DecodeSession {
  return createDecodeSession(request, model.manifest.vocabSize, model.denoiser.outputForm);
}

describe('prefix-cached decoding on the shipped model', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel(MODEL_DIR, { prefixCache: true, intraOpNumThreads: 1 });
  }, 120_000);
  afterAll(async () => {
    await model?.close();
  });

  it('gives a job batched beside jobs joining at other steps the tokens it gets alone, and frees every cache', async () => {
    const [request, ...others] = PROMPTS.map((prompt) => requestFor(model, prompt));
    const lengths = [request!, ...others].map((r) => r.promptIds.length);
    expect(new Set(lengths).size).toBe(3);

    const alonePasses: BatchReport[] = [];
    const aloneScheduler = schedulerOn(model, alonePasses, true);
    const alone = sessionFor(model, request!);
    await aloneScheduler.submit({ session: alone });
    await aloneScheduler.close();
    expect(aloneScheduler.stats.cacheBytes).toBe(0);

    const passes: BatchReport[] = [];
    const scheduler = schedulerOn(model, passes, true);
    const batched = sessionFor(model, request!);
    const joined: Promise<unknown>[] = [];
    // One joins inside the first block, one inside the second.
    const joinAt = new Map([
      [3, others[0]!],
      [20, others[1]!],
    ]);
    const decode: ScheduledDecode = {
      session: batched,
      onStep: (report) => {
        const late = joinAt.get(report.step);
        if (late) joined.push(scheduler.submit({ session: sessionFor(model, late) }));
      },
    };
    await scheduler.submit(decode);
    await Promise.all(joined);
    await scheduler.close();

    expect(batched.result().tokenIds).toEqual(alone.result().tokenIds);
    // The others really shared its passes, cached ones with caches of three lengths among them.
    const cachedWithOthers = passes.filter(
      (pass) => pass.kind === 'cached' && pass.sessions.includes(batched) && pass.sessions.length > 1,
    );
    expect(cachedWithOthers.length).toBeGreaterThan(0);
    expect(Math.max(...passes.map((pass) => pass.sessions.length))).toBe(3);
    expect(scheduler.stats.cachedPasses).toBeGreaterThan(0);
    expect(scheduler.stats.cachedPasses).toBe(passes.filter((pass) => pass.kind === 'cached').length);
    expect(scheduler.stats.cacheBytes).toBe(0);
    expect(model.denoiser.stats).toMatchObject({ prefixCacheBytes: 0, prefixCaches: 0 });
  }, 120_000);

  it('agrees closely with the uncached decode of the same jobs (the cache is approximate)', async () => {
    const requests = PROMPTS.map((prompt) => requestFor(model, prompt));
    const plain = await loadModel(MODEL_DIR, { intraOpNumThreads: 1 });
    try {
      const decodeAll = async (
        target: LoadedModel,
        prefixCache: boolean,
      ): Promise<{ results: DecodeResult[]; passes: BatchReport[] }> => {
        const passes: BatchReport[] = [];
        const scheduler = schedulerOn(target, passes, prefixCache);
        const sessions = requests.map((request) => sessionFor(target, request));
        await Promise.all(sessions.map((session) => scheduler.submit({ session })));
        await scheduler.close();
        return { results: sessions.map((session) => session.result()), passes };
      };
      const uncached = await decodeAll(plain, false);
      const cached = await decodeAll(model, true);
      let same = 0;
      let total = 0;
      for (const [i, result] of cached.results.entries()) {
        const reference = uncached.results[i]!.tokenIds;
        total += Math.max(reference.length, result.tokenIds.length);
        same += reference.filter((token, p) => result.tokenIds[p] === token).length;
      }
      const cachedPasses = cached.passes.filter((pass) => pass.kind === 'cached').length;
      console.log(
        `prefix cache vs none, ${requests.length} jobs: ${same}/${total} answer tokens equal; ` +
          `${cachedPasses} of ${cached.passes.length} passes cached; real tokens ${sum(cached.passes)} vs ${sum(uncached.passes)}`,
      );
      // Fewer positions run: that is the point of the cache.
      expect(sum(cached.passes)).toBeLessThan(sum(uncached.passes));
      // Approximate, not arbitrary: most of every answer agrees with the exact decode.
      expect(same / total).toBeGreaterThan(0.5);
    } finally {
      await plain.close();
    }
  }, 120_000);
});

function sum(passes: readonly BatchReport[]): number {
  return passes.reduce((total, pass) => total + pass.realTokens, 0);
}
