import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecodeSession, type DecodingStrategy } from '@dfleet/decoder';
import { StepScheduler } from '@dfleet/scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, reduceModelDirectory, type LoadedModel } from '@dfleet/model';
import { MODEL_DIR } from './default-model.ts';

const TASKS = 100;
const STRATEGIES: readonly DecodingStrategy[] = [
  { name: 'reference' },
  { name: 'threshold' },
  { name: 'factor' },
  { name: 'entropy-bounded' },
];

const prompts = readFileSync(join(MODEL_DIR, 'eval', 'heldout.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .slice(0, TASKS)
  .map((line) => (JSON.parse(line) as { prompt: string }).prompt);

/** Every held-out prompt decoded together through the real StepScheduler + OnnxDenoiser. */
async function decodeAll(model: LoadedModel, strategy: DecodingStrategy): Promise<number[][]> {
  const { manifest, tokenizer, denoiser } = model;
  const scheduler = new StepScheduler({
    denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: 64 * 128,
  });
  const sessions = prompts.map((prompt) =>
    createDecodeSession(
      {
        promptIds: tokenizer.encode(prompt),
        maxNewTokens: manifest.defaults.maxNewTokens,
        blockLength: manifest.defaults.blockLength,
        strategy,
        temperature: 0,
        specialTokens: manifest.specialTokens,
      },
      manifest.vocabSize,
      denoiser.outputForm,
    ),
  );
  await Promise.all(sessions.map((session) => scheduler.submit({ session })));
  await scheduler.close();
  return sessions.map((session) => session.result().tokenIds);
}

describe('the reduced model decodes the same tokens as the logits model (shipped model, held-out tasks)', () => {
  let work: string;
  let logits: LoadedModel;
  let reduced: LoadedModel;
  let positions: LoadedModel;
  let inMemory: LoadedModel;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dfleet-reduced-exactness-'));
    await reduceModelDirectory(MODEL_DIR, join(work, 'all'));
    await reduceModelDirectory(MODEL_DIR, join(work, 'positions'), { positionsInput: true });
    [logits, reduced, positions, inMemory] = await Promise.all([
      loadModel(MODEL_DIR, { intraOpNumThreads: 1 }),
      loadModel(join(work, 'all'), { intraOpNumThreads: 1 }),
      loadModel(join(work, 'positions'), { intraOpNumThreads: 1 }),
      loadModel(MODEL_DIR, { intraOpNumThreads: 1, reduceInMemory: 'positions' }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([logits?.close(), reduced?.close(), positions?.close(), inMemory?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('reads the form each manifest declares', () => {
    expect(logits.denoiser.outputForm).toEqual({ form: 'logits' });
    expect(reduced.denoiser.outputForm).toEqual({ form: 'predictions', topK: 0, positions: false });
    expect(positions.denoiser.outputForm).toEqual({ form: 'predictions', topK: 0, positions: true });
    // Reduced at load keeps the top 8, so temperature > 0 jobs still decode.
    expect(inMemory.denoiser.outputForm).toEqual({ form: 'predictions', topK: 8, positions: true });
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy.name}: ${TASKS} tasks, temperature 0, same tokens from logits, reduced, at positions, in memory`, async () => {
      const fromLogits = await decodeAll(logits, strategy);
      const fromReduced = await decodeAll(reduced, strategy);
      const fromPositions = await decodeAll(positions, strategy);
      const fromMemory = await decodeAll(inMemory, strategy);
      const differing = (other: number[][]): number[] =>
        other.flatMap((tokens, index) => (JSON.stringify(tokens) === JSON.stringify(fromLogits[index]) ? [] : [index]));
      expect(fromLogits).toHaveLength(TASKS);
      expect(fromLogits.every((tokens) => tokens.length > 0)).toBe(true);
      expect(differing(fromReduced)).toEqual([]);
      expect(differing(fromPositions)).toEqual([]);
      expect(differing(fromMemory)).toEqual([]);
    }, 600_000);
  }
});
