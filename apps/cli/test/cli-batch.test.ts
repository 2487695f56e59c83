import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DFLEET_BIN, TestFleet, eventually, prompt, type GatewayProcess } from '@dfleet/test-support';
import { stableLineId } from '../src/commands/batch/line-id.ts';
import { directText, jobCount, readOutput, textOf, writeLines } from './support/batch-files.ts';
import { cleanEnv, runDfleet, type DfleetRun } from './support/run-dfleet.ts';

const fleet = new TestFleet();
let gateway: GatewayProcess;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dfleet-batch-'));
  gateway = await fleet.startGateway('batch-gateway');
  await fleet.startWorker('batch-worker');
}, 180_000);

afterAll(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A port nothing listens on: one the system just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const batch = (args: string[]): Promise<DfleetRun> =>
  runDfleet(['batch', ...args], { env: cleanEnv({ DFLEET_URL: gateway.httpUrl }) });

describe('dfleet batch --via completions', () => {
  it('writes one result line per input line (a bad one with its error), each as a direct completion answers it', async () => {
    const lines: (string | object)[] = [];
    const expected: { id: string; endpoint: string; body: Record<string, unknown> }[] = [];
    for (let i = 0; i < 19; i++) {
      if (i === 5) {
        const messages = [{ role: 'user', content: prompt(i) }];
        lines.push({ custom_id: 'chat-5', method: 'POST', url: '/v1/chat/completions', body: { messages } });
        expected.push({ id: 'chat-5', endpoint: '/v1/chat/completions', body: { messages } });
      } else if (i % 2 === 0) {
        const body = { model: 'jsfunc-mdm', prompt: prompt(i), max_tokens: 48, seed: i };
        lines.push({ custom_id: `openai-${i}`, method: 'POST', url: '/v1/completions', body });
        expected.push({ id: `openai-${i}`, endpoint: '/v1/completions', body });
      } else {
        const body = { prompt: prompt(i), max_tokens: 48 };
        lines.push(body);
        expected.push({ id: stableLineId(JSON.stringify(body), undefined), endpoint: '/v1/completions', body });
      }
    }
    lines.splice(9, 0, '{"custom_id": "broken", "prompt": ');
    const input = writeLines(dir, 'mixed.jsonl', lines);
    const output = join(dir, 'mixed.out.jsonl');
    const jobsBefore = await jobCount(fleet);

    const run = await batch([input, '-o', output, '--concurrency', '4']);
    expect(run.stderr).toMatch(/batch: 20 lines: 19 done, 1 failed, 0 without a result/);
    expect(run.status).toBe(0);
    // stderr is a pipe here: the progress bar prints plain lines, the last one with the final counts.
    expect(run.stderr).toMatch(/^batch: 20\/20 lines \| done 19 \| failed 1 \| [\d.]+ tok\/s \| ETA/m);

    const records = readOutput(output);
    expect(records).toHaveLength(20);
    expect(new Set(records.map((record) => record.custom_id)).size).toBe(20);
    // Not JSON, so its custom_id cannot be read: it is named by a hash of its text.
    const broken = records.find((record) => record.error !== null);
    expect(broken).toMatchObject({
      custom_id: expect.stringMatching(/^line-/),
      response: null,
      error: { code: 'invalid_line' },
    });
    expect(broken?.error?.message).toMatch(/^line 10: not valid JSON/);

    const good = records.filter((record) => record.error === null);
    expect(good).toHaveLength(19);
    expect(await jobCount(fleet)).toBe(jobsBefore + 19);
    for (const line of expected) {
      const record = good.find((r) => r.custom_id === line.id);
      expect(record?.response?.status_code, `line for ${JSON.stringify(line.body)}`).toBe(200);
      expect(textOf(line.endpoint, record?.response?.body)).toBe(
        await directText(gateway.httpUrl, line.endpoint, line.body),
      );
    }
  });

  it('stops on SIGINT, exits 130 saying how to resume, and a rerun sends every remaining line exactly once', async () => {
    const count = 30;
    // The reference strategy at one token per step keeps each line busy long enough to interrupt.
    const lines = Array.from({ length: count }, (_, i) => ({
      custom_id: `slow-${i}`,
      prompt: prompt(100 + i),
      max_tokens: 48,
      dfleet: { strategy: 'reference', steps: 48 },
    }));
    const input = writeLines(dir, 'slow.jsonl', lines);
    const output = join(dir, 'slow.out.jsonl');
    const jobsBefore = await jobCount(fleet);

    const child = spawn(process.execPath, [DFLEET_BIN, 'batch', input, '-o', output, '--concurrency', '2'], {
      env: cleanEnv({ DFLEET_URL: gateway.httpUrl }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await eventually(
      'a few results written',
      () => {
        try {
          return readOutput(output).length >= 3;
        } catch {
          return false;
        }
      },
      120_000,
    );
    child.kill('SIGINT');
    await eventually('the stopping note', () => stderr.includes('stopping: no new lines are sent'));
    // A second Ctrl-C exits at once, leaving the lines in flight to the fleet.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/rerun the same command/);
    const firstRun = readOutput(output);
    expect(firstRun.length).toBeLessThan(count);

    const rerun = await batch([input, '-o', output, '--concurrency', '4']);
    expect(rerun.stderr).toContain(`resuming: ${firstRun.length} of ${count} lines already have a result`);
    expect(rerun.status).toBe(0);
    const records = readOutput(output);
    expect(records.map((record) => record.custom_id).sort()).toEqual(lines.map((line) => line.custom_id).sort());
    expect(records.every((record) => record.error === null)).toBe(true);
    // Lines in flight at the interrupt were resent under the same Idempotency-Key: one job each.
    expect(await jobCount(fleet)).toBe(jobsBefore + count);

    const again = await batch([input, '-o', output]);
    expect(again).toMatchObject({ status: 0 });
    expect(again.stderr).toContain('nothing to send');
    expect(readOutput(output)).toHaveLength(count);
  }, 300_000);

  it('says clearly when the input cannot be read, is not JSONL, or the gateway cannot be reached', async () => {
    const missing = await batch([join(dir, 'missing.jsonl'), '-o', join(dir, 'x.out.jsonl')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/dfleet: cannot read .*missing\.jsonl: ENOENT/);

    const notJsonl = await batch([
      writeLines(dir, 'prompts.txt', ['write a function', 'and another']),
      '-o',
      join(dir, 'y.jsonl'),
    ]);
    expect(notJsonl.status).toBe(1);
    expect(notJsonl.stderr).toContain('prompts.txt is not JSONL');

    const input = writeLines(dir, 'one.jsonl', [{ prompt: prompt(1) }]);
    const url = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await runDfleet(['batch', input, '-o', join(dir, 'z.jsonl'), '--url', url], {
      env: cleanEnv(),
    });
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toContain(`cannot reach the gateway at ${url} (connect ECONNREFUSED`);

    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ keys: [] }));
    const keyed = await fleet.startGateway('keyed-gateway', { DFLEET_API_KEYS_FILE: keysFile });
    const refused = await runDfleet(['batch', input, '-o', join(dir, 'keyed.jsonl'), '--url', keyed.httpUrl], {
      env: cleanEnv({ DFLEET_API_KEY: 'dfk_not_a_key' }),
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/gateway answered 401: .*Set DFLEET_API_KEY to a key the gateway accepts/);
    // Refused at the first request (GET /v1/models), before the output file is even created.
    expect(existsSync(join(dir, 'keyed.jsonl'))).toBe(false);
  });
});
