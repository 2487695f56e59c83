import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DFLEET_BIN, TestFleet, eventually, prompt, type GatewayProcess } from '@dfleet/test-support';
import { directText, jobCount, readOutput, textOf, writeLines } from './support/batch-files.ts';
import { cleanEnv, runDfleet, type DfleetRun } from './support/run-dfleet.ts';

// `dfleet batch --via batch-api` against a gateway process serving /v1/files and /v1/batches, a real worker and model.
const fleet = new TestFleet();
let gateway: GatewayProcess;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dfleet-batch-api-'));
  gateway = await fleet.startGateway('batch-api-gateway', { DFLEET_BATCH_WINDOW: '4' });
  await fleet.startWorker('batch-api-worker');
}, 180_000);

afterAll(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const batch = (args: string[]): Promise<DfleetRun> =>
  runDfleet(['batch', '--via', 'batch-api', '--poll-interval', '0.25', ...args], {
    env: cleanEnv({ DFLEET_URL: gateway.httpUrl }),
  });

describe('dfleet batch --via batch-api', () => {
  it('uploads the lines, runs one batch per endpoint, and writes every line once, as direct completions answer it', async () => {
    const lines: (string | object)[] = [];
    const expected: { id: string; endpoint: string; body: Record<string, unknown> }[] = [];
    for (let i = 0; i < 8; i++) {
      if (i % 4 === 3) {
        const body = { messages: [{ role: 'user', content: prompt(200 + i) }] };
        lines.push({ custom_id: `chat-${i}`, method: 'POST', url: '/v1/chat/completions', body });
        expected.push({ id: `chat-${i}`, endpoint: '/v1/chat/completions', body });
      } else {
        const body = { prompt: prompt(200 + i), max_tokens: 48 };
        lines.push({ custom_id: `plain-${i}`, ...body });
        expected.push({ id: `plain-${i}`, endpoint: '/v1/completions', body });
      }
    }
    lines.push({ custom_id: 'no-prompt', max_tokens: 4 });
    const input = writeLines(dir, 'mixed.jsonl', lines);
    const output = join(dir, 'mixed.out.jsonl');

    const run = await batch([input, '-o', output]);
    expect(run.stderr).toMatch(/batch: 9 lines: 8 done, 1 failed, 0 without a result/);
    expect(run.status).toBe(0);
    expect(run.stderr.match(/created batch_\S+ \(\d+ lines to \/v1\/(chat\/)?completions\)/g)).toHaveLength(2);
    // Collected: the state file is gone, so a rerun has nothing to re-attach to.
    expect(existsSync(`${output}.dfleet-batch.json`)).toBe(false);

    const records = readOutput(output);
    expect(records.map((record) => record.custom_id).sort()).toEqual(
      [...expected.map((e) => e.id), 'no-prompt'].sort(),
    );
    expect(records.find((record) => record.custom_id === 'no-prompt')?.error?.message).toContain('line 9');
    for (const line of expected) {
      const record = records.find((r) => r.custom_id === line.id);
      expect(record?.response?.status_code).toBe(200);
      expect(textOf(line.endpoint, record?.response?.body)).toBe(
        await directText(gateway.httpUrl, line.endpoint, line.body),
      );
    }
  }, 300_000);

  it('leaves the batch running on Ctrl-C, and a rerun re-attaches to it instead of creating another', async () => {
    const count = 24;
    const lines = Array.from({ length: count }, (_, i) => ({
      custom_id: `slow-${i}`,
      prompt: prompt(300 + i),
      max_tokens: 48,
      dfleet: { strategy: 'reference', steps: 48 },
    }));
    const input = writeLines(dir, 'slow.jsonl', lines);
    const output = join(dir, 'slow.out.jsonl');
    const statePath = `${output}.dfleet-batch.json`;
    const jobsBefore = await jobCount(fleet);

    const child = spawn(
      process.execPath,
      [DFLEET_BIN, 'batch', input, '-o', output, '--via', 'batch-api', '--poll-interval', '0.25'],
      { env: cleanEnv({ DFLEET_URL: gateway.httpUrl }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await eventually(
      'the batch created and its id kept',
      () => existsSync(statePath) && stderr.includes('created batch_'),
      60_000,
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('the batch keeps running on the fleet');
    expect(stderr).toMatch(/rerun the same command to re-attach/);
    expect(existsSync(statePath)).toBe(true);
    const batchId = /created (batch_\S+)/.exec(stderr)?.[1];

    const rerun = await batch([input, '-o', output]);
    expect(rerun.stderr).toContain(`re-attaching to ${batchId}`);
    expect(rerun.stderr).not.toContain('created batch_');
    expect(rerun.status).toBe(0);
    const records = readOutput(output);
    expect(records.map((record) => record.custom_id).sort()).toEqual(lines.map((line) => line.custom_id).sort());
    expect(records.every((record) => record.error === null)).toBe(true);
    expect(await jobCount(fleet)).toBe(jobsBefore + count);
    expect(existsSync(statePath)).toBe(false);
  }, 300_000);

  it('cancels the batch on Ctrl-C with --cancel-on-interrupt, and a rerun sends the lines it never answered in a new batch', async () => {
    const count = 24;
    const lines = Array.from({ length: count }, (_, i) => ({
      custom_id: `cancel-${i}`,
      prompt: prompt(400 + i),
      max_tokens: 48,
      dfleet: { strategy: 'reference', steps: 48 },
    }));
    const input = writeLines(dir, 'cancel.jsonl', lines);
    const output = join(dir, 'cancel.out.jsonl');
    const args = ['batch', input, '-o', output, '--via', 'batch-api', '--poll-interval', '0.25'];

    const child = spawn(process.execPath, [DFLEET_BIN, ...args, '--cancel-on-interrupt'], {
      env: cleanEnv({ DFLEET_URL: gateway.httpUrl }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await eventually('the batch created', () => stderr.includes('created batch_'), 60_000);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const batchId = /created (batch_\S+)/.exec(stderr)?.[1];
    expect(stderr).toContain(`cancelled ${batchId}`);

    const rerun = await batch([input, '-o', output]);
    expect(rerun.stderr).toContain(`re-attaching to ${batchId}`);
    expect(rerun.status).toBe(0);
    const records = readOutput(output);
    expect(records.map((record) => record.custom_id).sort()).toEqual(lines.map((line) => line.custom_id).sort());
    // Lines the cancel cut short were sent again in a new batch, not recorded as failed.
    expect(records.every((record) => record.error === null && record.response?.status_code === 200)).toBe(true);
    expect(rerun.stderr).toMatch(/created batch_\S+ \(\d+ lines to \/v1\/completions\)/);
  }, 300_000);
});
