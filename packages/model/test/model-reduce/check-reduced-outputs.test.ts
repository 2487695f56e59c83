import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkModelDirectory,
  checkReducedOutputs,
  loadModelManifest,
  modelOutputs,
  reduceModelDirectory,
} from '../../src/index.ts';
import { MODEL_DIR } from '../model-directory.ts';

async function check(directory: string) {
  const manifest = await loadModelManifest(directory);
  const outputs = modelOutputs(manifest);
  if (outputs.form !== 'reduced') throw new Error('not reduced');
  return { manifest, outputs, problems: await checkReducedOutputs(join(directory, 'model.onnx'), manifest, outputs) };
}

describe('checkReducedOutputs', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dfleet-check-reduced-'));
    await reduceModelDirectory(MODEL_DIR, join(work, 'full'), { topK: 3, keepLogits: true });
    await reduceModelDirectory(MODEL_DIR, join(work, 'positions'), { topK: 2, positionsInput: true });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('finds no problem in what dfleet model reduce writes, with and without positions', async () => {
    expect((await check(join(work, 'full'))).problems).toEqual([]);
    expect((await check(join(work, 'positions'))).problems).toEqual([]);
  });

  it('is what dfleet model check runs on a reduced directory, which then passes', async () => {
    const report = await checkModelDirectory(join(work, 'positions'));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('reports outputs the manifest promises but the model lacks', async () => {
    const { manifest, outputs } = await check(join(work, 'positions'));
    const problems = await checkReducedOutputs(join(work, 'positions', 'model.onnx'), manifest, {
      ...outputs,
      topK: 0,
    });
    expect(problems.map((problem) => problem.code)).toEqual(['reduced_outputs_mismatch']);
  });

  it('reports suppressed ids that no longer follow the special tokens', async () => {
    const { manifest, outputs } = await check(join(work, 'full'));
    const { unk: _unk, ...withoutUnk } = manifest.specialTokens;
    const problems = await checkReducedOutputs(
      join(work, 'full', 'model.onnx'),
      { ...manifest, specialTokens: withoutUnk },
      outputs,
    );
    expect(problems.map((problem) => problem.code)).toEqual(['reduced_suppression_mismatch']);
  });
});
