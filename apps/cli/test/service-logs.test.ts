import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServiceLogs } from '../src/service-logs.ts';

const root = mkdtempSync(join(tmpdir(), 'dfleet-service-logs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const request = JSON.stringify({
  level: 30,
  time: Date.now(),
  method: 'POST',
  route: '/v1/completions',
  status: 200,
  durationMs: 12,
  jobId: 'cmpl-1',
  msg: 'request completed',
});
const started = JSON.stringify({ level: 30, time: Date.now(), msg: 'worker started', device: 'cpu' });

describe('ServiceLogs', () => {
  it('pretty: keeps every JSON line in the service file and prints only what people read', async () => {
    const dir = join(root, 'pretty', 'logs');
    const printed: string[] = [];
    const logs = new ServiceLogs({ format: 'pretty', dir, print: (line) => printed.push(line) });
    expect(logs.describe(['gateway.log'])).toContain(join(dir, 'gateway.log'));
    const sink = logs.sink('gateway', 'gateway.log');
    sink(request);
    sink(started);
    await logs.close();
    expect(readFileSync(join(dir, 'gateway.log'), 'utf8')).toBe(`${request}\n${started}\n`);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/^\d\d:\d\d:\d\d POST \/v1\/completions 200 12 ms job=cmpl-1$/);
  });

  it('json: prints the JSON lines as they are and writes no file', async () => {
    const dir = join(root, 'json');
    const printed: string[] = [];
    const logs = new ServiceLogs({ format: 'json', dir, print: (line) => printed.push(line) });
    const sink = logs.sink('gateway', 'gateway.log');
    sink(request);
    sink(started);
    await logs.close();
    expect(printed).toEqual([request, started]);
    expect(() => readFileSync(join(dir, 'gateway.log'))).toThrow(/ENOENT/);
  });
});
