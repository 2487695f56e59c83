import { describe, expect, it } from 'vitest';
import { readableLogLine } from '../src/readable-log-line.ts';

const at = new Date(2026, 0, 2, 12, 1, 2).getTime();
const line = (record: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: at, pid: 1, hostname: 'h', ...record });

describe('readableLogLine', () => {
  it('turns the gateway request line into method, route, status, duration, job, tokens and steps', () => {
    const request = line({
      service: 'gateway',
      reqId: 'req-1',
      method: 'POST',
      route: '/v1/completions',
      status: 200,
      durationMs: 41.4,
      jobId: 'cmpl-abc',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      tokens: 23,
      steps: 2,
      msg: 'request completed',
    });
    expect(readableLogLine(request, 'gateway')).toBe(
      '12:01:02 POST /v1/completions 200 41 ms job=cmpl-abc tokens=23 steps=2',
    );
  });

  it('leaves out what a request line does not name', () => {
    const probe = line({ method: 'GET', route: '/v1/models', status: 401, durationMs: 0.6, msg: 'request completed' });
    expect(readableLogLine(probe, 'gateway')).toBe('12:01:02 GET /v1/models 401 1 ms');
  });

  it('shows warnings and errors with their fields, an error by its message', () => {
    const warning = line({
      level: 40,
      app: 'worker',
      workerId: 'w-1',
      jobId: 'cmpl-1',
      attempt: 1,
      final: true,
      err: { type: 'Error', message: 'denoiser closed', stack: 'Error: ...' },
      msg: 'job failed',
    });
    expect(readableLogLine(warning, 'worker cpu')).toBe(
      '12:01:02 WARN [worker cpu] job failed jobId=cmpl-1 attempt=1 final=true err="denoiser closed"',
    );
    expect(readableLogLine(line({ level: 60, msg: 'cannot go on' }), 'worker cpu')).toBe(
      '12:01:02 FATAL [worker cpu] cannot go on',
    );
  });

  it('keeps info lines other than requests for the log file only', () => {
    expect(readableLogLine(line({ msg: 'gateway started', httpUrl: 'http://127.0.0.1:8080' }), 'gateway')).toBeNull();
    expect(readableLogLine(line({ level: 20, msg: 'job enqueued', jobId: 'cmpl-1' }), 'gateway')).toBeNull();
  });

  it('shows a line that is not a JSON log record as it is, prefixed with the service', () => {
    expect(readableLogLine('    at main (file:///app/main.ts:3:9)', 'gateway')).toBe(
      '[gateway]     at main (file:///app/main.ts:3:9)',
    );
    expect(readableLogLine('{not json', 'gateway')).toBe('[gateway] {not json');
    expect(readableLogLine('', 'gateway')).toBeNull();
  });
});
