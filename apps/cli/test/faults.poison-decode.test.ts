import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { JOB_FAILED } from '@dfleet/worker';
import {
  TestFleet,
  eventually,
  postCompletion,
  prompt,
  type GatewayProcess,
  type WorkerProcess,
} from '@dfleet/test-support';

const POSITION_TABLE_MODEL = fileURLToPath(
  new URL('../../../packages/model/test/fixtures/position-table-160.onnx', import.meta.url),
);
let fleet: TestFleet;
let modelDir: string;
let gateway: GatewayProcess;
let worker: WorkerProcess;

beforeAll(async () => {
  // A model directory whose manifest overstates its length (a real misconfiguration): the graph
  // (a fixture with the default model's vocabulary) has 160 learned positions, so a longer
  // canvas makes onnxruntime throw mid-decode while shorter ones decode normally.
  modelDir = await mkdtemp(join(tmpdir(), 'dfleet-overstated-model-'));
  const manifest = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'dfleet-model.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  await writeFile(join(modelDir, 'dfleet-model.json'), JSON.stringify({ ...manifest, maxSequenceLength: 320 }));
  await symlink(join(DEFAULT_MODEL_DIR, 'tokenizer.json'), join(modelDir, 'tokenizer.json'));
  await symlink(POSITION_TABLE_MODEL, join(modelDir, 'model.onnx'));

  fleet = new TestFleet({ env: { DFLEET_MODEL_DIR: modelDir, DFLEET_MAX_ACTIVE_JOBS: '4' } });
  [gateway, worker] = await Promise.all([fleet.startGateway(), fleet.startWorker('poison-decode-worker')]);
}, 120_000);

afterAll(async () => {
  await fleet?.close();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
}, 60_000);

describe('a poison job whose decoding throws', () => {
  it('fails after its bounded retries with the reason, while the jobs batched with it finish unharmed', async () => {
    // Long enough (one token per step) to share passes with the poison job and its retries.
    const healthy = Array.from({ length: 3 }, (_, i) =>
      postCompletion(gateway.httpUrl, {
        model: 'jsfunc-mdm',
        prompt: prompt(i),
        max_tokens: 96,
        dfleet: { strategy: 'reference', steps: 96, gen_length: 96 },
      }),
    );
    await eventually('the healthy jobs are decoding', async () => (await fleet.queue.getJobs(['active'])).length === 3);
    const poisonPrompt = `// ${'return x plus one, '.repeat(9)}\nfunction f(x) {\n`;
    const poison = await postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: poisonPrompt, max_tokens: 16 });

    expect(poison.status).toBe(502);
    expect(poison.body['error']).toMatchObject({ code: 'generation_failed' });
    expect(poison.body['error'].message).toMatch(/generation_failed: onnxruntime failed on a \[\d+, \d+\] batch/);
    const poisonId = poison.body['error'].message.match(/job '([^']+)'/)[1] as string;
    const failed = (await fleet.queue.getJob(poisonId))!;
    expect(await failed.getState()).toBe('failed');
    // attempts: 3 from the gateway, then failed for good.
    expect(failed.attemptsMade).toBe(3);

    const answers = await Promise.all(healthy);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    for (const answer of answers) {
      const job = (await fleet.queue.getJob(answer.body['id'] as string))!;
      // Completed on their first attempt although they shared passes with the poison job.
      expect(job.attemptsMade).toBe(1);
      expect(answer.body['usage'].nfe).toBe(96);
    }
    // Read once the worker is gone, so that no line is still in the pipe.
    await worker.process.stop();
    const failedJobIds = new Set(worker.log.entries(JOB_FAILED).map((entry) => entry['jobId']));
    expect(failedJobIds).toEqual(new Set([poisonId]));
    console.log(`poison decode: HTTP ${poison.status} ${String(poison.body['error'].message).slice(0, 160)}`);
  }, 60_000);
});
