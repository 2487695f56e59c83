import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GenerationQueues, redisOptionsFor, type GenerationJob } from '@dfleet/queue';
import { traceIdOf } from '@dfleet/telemetry';
import {
  DFLEET_BIN as DFLEET,
  SHARED_REDIS_URL,
  deletePrefix,
  eventually,
  postCompletion,
  uniquePrefix,
} from '@dfleet/test-support';

const prefix = uniquePrefix();
const logDir = mkdtempSync(join(tmpdir(), 'dfleet-up-logs-'));
const env = {
  ...process.env,
  REDIS_URL: SHARED_REDIS_URL,
  DFLEET_REDIS_PREFIX: prefix,
  DFLEET_PORT: '0',
  LOG_LEVEL: 'info',
};
/** A spec no other test sends, so finding it in a log line can only mean the prompt was logged. */
const SPEC = 'return x times 29 plus 13';
const PROMPT = `// ${SPEC}\nfunction g(x) {\n`;
const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';

afterAll(async () => {
  await deletePrefix(prefix);
  rmSync(logDir, { recursive: true, force: true });
});

/** Every line of a service's log file, parsed: each must be one JSON object. */
function jsonLines(file: string): Record<string, unknown>[] {
  return readFileSync(join(logDir, file), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('dfleet up logs', () => {
  it('prints one readable line per request while the services log JSON to files, with no prompt or answer at info', async () => {
    const up = spawn(process.execPath, [DFLEET, 'up', '--no-demo', '--log-dir', logDir], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    up.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => up.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        up.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('fleet is up')) resolve();
        });
        void exited.then((code) => reject(new Error(`dfleet up exited with ${code}:\n${stderr}`)));
      });
      expect(stderr).toContain(`logs: JSON lines in ${join(logDir, 'gateway.log')}, ${join(logDir, 'worker-0.log')}`);
      const [, url] = stdout.match(/^gateway listening on (http:\/\/\S+)/m) ?? [];

      const answer = await postCompletion(
        url!,
        { model: 'jsfunc-mdm', prompt: PROMPT, max_tokens: 24 },
        { headers: { traceparent: `00-${CLIENT_TRACE}-b7ad6b7169203331-01` }, timeoutMs: 60_000 },
      );
      expect(answer.status).toBe(200);
      const jobId = answer.body.id as string;
      const text = answer.body.choices[0].text as string;
      const { completion_tokens: tokens, steps } = answer.body.usage as { completion_tokens: number; steps: number };
      const requestLine = new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d POST /v1/completions 200 \\d+ ms job=${jobId} tokens=${tokens} steps=${steps}$`,
        'm',
      );
      await eventually('the readable request line', async () => requestLine.test(stderr));
      // Only the readable line reaches the terminal: no JSON record.
      expect(stderr.split('\n').filter((line) => line.includes('{"level"'))).toEqual([]);

      up.kill('SIGINT');
      expect(await exited).toBe(0);

      const queues = new GenerationQueues<GenerationJob>({
        connection: redisOptionsFor(SHARED_REDIS_URL, 'worker'),
        prefix,
      });
      const job = await queues.getJob(jobId);
      await queues.close();
      // The job's lines in every process name the trace its carrier holds (none until the gateway puts one there).
      const traceId = traceIdOf(job!.data.traceContext);

      const gatewayLines = jsonLines('gateway.log');
      const workerLines = jsonLines('worker-0.log');
      expect(gatewayLines.find((line) => line['jobId'] === jobId && line['route'] === '/v1/completions')).toMatchObject(
        { status: 200, tokens, steps },
      );
      const logged = [...gatewayLines, ...workerLines].map((line) => JSON.stringify(line));
      expect(text.trim().length).toBeGreaterThan(3);
      for (const line of logged) {
        expect(line).not.toContain(SPEC);
        expect(line).not.toContain(JSON.stringify(text).slice(1, -1));
        expect(line).not.toContain(JSON.stringify(text.trim()).slice(1, -1));
      }
      const aboutTheJob = [...gatewayLines, ...workerLines].filter((line) => JSON.stringify(line).includes(jobId));
      expect(aboutTheJob.length).toBeGreaterThan(0);
      for (const line of aboutTheJob) expect([line['jobId'], line['traceId']]).toEqual([jobId, traceId]);
    } finally {
      // Ctrl-C, not a kill: dfleet up stops the gateway and the worker it started.
      if (up.exitCode === null && up.signalCode === null) {
        up.kill('SIGINT');
        await exited;
      }
    }
  }, 180_000);
});
