import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutput, writeLines } from './support/batch-files.ts';
import { cleanEnv, runDfleet } from './support/run-dfleet.ts';

/**
 * A stand-in gateway whose answers depend on the prompt: `flaky` is refused once with 503
 * no_worker, `bad` is a 400, `stuck` always times out (504). It records each attempt's key.
 */
const attempts: { prompt: string; key: string | undefined }[] = [];
let gateway: Server;
let gatewayUrl: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dfleet-batch-retries-'));
  gateway = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      response.setHeader('content-type', 'application/json');
      if (request.url === '/v1/models') return response.end(JSON.stringify({ data: [{ id: 'stub-model' }] }));
      const { prompt } = JSON.parse(text) as { prompt: string };
      const key = request.headers['idempotency-key'] as string | undefined;
      attempts.push({ prompt, key });
      const error = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'x-request-id': `req-${attempts.length}`, ...headers });
        response.end(JSON.stringify({ error: { code, message } }));
      };
      if (prompt === 'flaky' && attempts.filter((a) => a.prompt === 'flaky').length === 1) {
        return error(503, 'no_worker', 'no worker is serving stub-model', { 'retry-after': '1' });
      }
      if (prompt === 'bad') return error(400, 'invalid_value', 'temperature must be between 0 and 2');
      if (prompt === 'stuck') return error(504, 'timeout', "job 'idem-x' has no result yet");
      response.setHeader('x-request-id', 'idem-ok');
      const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
      response.end(JSON.stringify({ id: 'idem-ok', choices: [{ text: ' ok', finish_reason: 'stop' }], usage }));
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => gateway.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('dfleet batch retries', () => {
  it('retries 503 and 504 under one Idempotency-Key, records a 400 as failed, and leaves a line still timing out for a rerun', async () => {
    const input = writeLines(dir, 'in.jsonl', [
      { custom_id: 'flaky', prompt: 'flaky' },
      { custom_id: 'bad', prompt: 'bad', temperature: 9 },
      { custom_id: 'stuck', prompt: 'stuck' },
    ]);
    const output = join(dir, 'out.jsonl');
    const run = await runDfleet(['batch', input, '-o', output, '--retries', '2', '--url', gatewayUrl], {
      env: cleanEnv(),
    });

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('3 lines: 1 done, 1 failed, 1 without a result');
    expect(run.stderr).toMatch(
      /1 lines have no result \(e\.g\. stuck: gateway answered 504 timeout: .*\); rerun the same command/,
    );

    const records = readOutput(output);
    expect(records.map((record) => record.custom_id).sort()).toEqual(['bad', 'flaky']);
    expect(records.find((record) => record.custom_id === 'flaky')).toMatchObject({
      response: { status_code: 200, request_id: 'idem-ok' },
      error: null,
    });
    expect(records.find((record) => record.custom_id === 'bad')).toMatchObject({
      response: { status_code: 400, body: { error: { code: 'invalid_value' } } },
      error: { code: 'invalid_value', message: 'temperature must be between 0 and 2' },
    });

    const keysOf = (prompt: string) => attempts.filter((a) => a.prompt === prompt).map((a) => a.key);
    expect(keysOf('flaky')).toHaveLength(2);
    expect(keysOf('stuck')).toHaveLength(3);
    expect(keysOf('bad')).toHaveLength(1);
    for (const prompt of ['flaky', 'stuck']) {
      const keys = keysOf(prompt);
      expect(keys[0]).toMatch(/^dfleet-batch-[0-9a-f]{32}$/);
      expect(new Set(keys).size).toBe(1);
    }
    expect(keysOf('flaky')[0]).not.toBe(keysOf('stuck')[0]);
  });
});
