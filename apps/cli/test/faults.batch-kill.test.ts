import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEvalTasks } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import {
  TestFleet,
  eventually,
  killHard,
  postCompletion,
  type GatewayProcess,
  type WorkerProcess,
} from '@dfleet/test-support';

const LINES = 2_000;
/** Every this many lines, one is decoded again as a direct completion and compared (100 of 2,000). */
const SPOT_CHECK_EVERY = 20;
const fleet = new TestFleet({
  env: {
    // Short so that the dead worker's jobs and the dead gateway's batch are taken over within
    // seconds; the defaults are 30 s / 15 s.
    DFLEET_LOCK_DURATION_MS: '5000',
    DFLEET_STALLED_INTERVAL_MS: '2000',
    DFLEET_BATCH_LOCK_DURATION_MS: '5000',
    // A busy 2-core machine can take longer than the 800 ms default for a burst of adds.
    DFLEET_REDIS_TIMEOUT_MS: '5000',
  },
});
/** The gateways log at info, where the runner that claims a batch says so. */
const GATEWAY_ENV = { LOG_LEVEL: 'info' };
const BATCH_RUN_STARTED = 'batch run started';
const tasks = await loadEvalTasks(`${DEFAULT_MODEL_DIR}/eval/heldout.jsonl`);
/** Small answers in few passes (threshold), so that 2,000 lines decode in minutes on two loaded cores. */
const lineBody = (i: number) => ({
  model: 'jsfunc-mdm',
  prompt: tasks[i % tasks.length]!.prompt,
  max_tokens: 8,
  temperature: 0,
  dfleet: { strategy: 'threshold', threshold: 0.9 },
});
const customId = (i: number) => `kill-test-${i}`;

interface BatchLine {
  custom_id: string;
  response: { status_code: number; body: { choices: { text: string }[] } } | null;
  error: { code: string; message: string } | null;
}

let gateways: GatewayProcess[];
const workers = new Map<string, WorkerProcess>();

beforeAll(async () => {
  const [a, b, w1, w2] = await Promise.all([
    fleet.startGateway('batch-kill-gateway-a', GATEWAY_ENV),
    fleet.startGateway('batch-kill-gateway-b', GATEWAY_ENV),
    fleet.startWorker('batch-kill-worker-1'),
    fleet.startWorker('batch-kill-worker-2'),
  ]);
  gateways = [a, b];
  for (const worker of [w1, w2]) workers.set(worker.id, worker);
}, 180_000);

afterAll(() => fleet.close(), 60_000);

const openaiOf = (gateway: GatewayProcess) =>
  new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });

describe('a 2,000-line batch whose gateway and one worker are killed with SIGKILL mid-way', () => {
  it('still completes: every custom_id once in the output, each answered as a direct completion would be', async () => {
    const startedAt = Date.now();
    const jsonl = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({ custom_id: customId(i), method: 'POST', url: '/v1/completions', body: lineBody(i) }),
    ).join('\n');
    const accepting = gateways[0]!;
    const client = openaiOf(accepting);
    const file = await client.files.create({ file: await toFile(Buffer.from(jsonl), 'kill.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });

    // Mid-way: lines done, and a worker decoding some.
    const runner = await eventually('a runner claimed the batch', () =>
      gateways.find((gateway) =>
        gateway.log.entries(BATCH_RUN_STARTED).some((entry) => entry['batchId'] === created.id),
      ),
    );
    const survivingGateway = gateways.find((gateway) => gateway !== runner)!;
    const other = openaiOf(survivingGateway);
    const doneAtKill = await eventually(
      'a tenth of the lines done',
      async () => {
        const batch = await other.batches.retrieve(created.id);
        const done = batch.request_counts?.completed ?? 0;
        return done >= LINES / 10 ? done : undefined;
      },
      300_000,
      200,
    );
    const victim = await eventually('a worker holding jobs', async () => {
      const [active] = await fleet.queue.getJobs(['active']);
      return active?.processedBy ? workers.get(active.processedBy) : undefined;
    });
    const killedAt = Date.now();
    await Promise.all([killHard(victim.process), killHard(runner.process)]);

    const final = await eventually(
      'the batch final',
      async () => {
        const batch = await other.batches.retrieve(created.id);
        return ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) ? batch : undefined;
      },
      600_000,
      500,
    );
    const doneAt = Date.now();
    expect(final.status).toBe('completed');
    expect(final.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
    // The surviving gateway's runner took the batch over.
    expect(survivingGateway.log.entries(BATCH_RUN_STARTED).some((entry) => entry['batchId'] === created.id)).toBe(true);

    const lines: BatchLine[] = [];
    for (const id of [final.output_file_id, final.error_file_id]) {
      if (!id) continue;
      const text = await (await other.files.content(id)).text();
      lines.push(
        ...text
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as BatchLine),
      );
    }
    const ids = lines.map((line) => line.custom_id);
    expect(ids.length).toBe(LINES);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: LINES }, (_, i) => customId(i))));
    expect(lines.filter((line) => line.error !== null || line.response?.status_code !== 200)).toEqual([]);

    const byId = new Map(lines.map((line) => [line.custom_id, line.response!.body.choices[0]!.text]));
    const sample = Array.from({ length: LINES / SPOT_CHECK_EVERY }, (_, k) => k * SPOT_CHECK_EVERY);
    const direct = await Promise.all(sample.map((i) => postCompletion(survivingGateway.httpUrl, lineBody(i))));
    expect(direct.map((answer) => answer.status)).toEqual(sample.map(() => 200));
    expect(direct.map((answer) => answer.body['choices'][0].text)).toEqual(sample.map((i) => byId.get(customId(i))));

    console.log(
      `batch of ${LINES} lines (accepted by ${accepting === runner ? 'the runner' : 'the other gateway'}): ` +
        `the runner's gateway and worker ${victim.id} killed with ` +
        `${doneAtKill} lines done, ${Math.round((killedAt - startedAt) / 1000)} s in; completed ` +
        `${Math.round((doneAt - killedAt) / 1000)} s after the kill (${Math.round((doneAt - startedAt) / 1000)} s in all); ` +
        `${sample.length} lines matched direct completions`,
    );
  }, 900_000);
});
