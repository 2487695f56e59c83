import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@dfleet/local-processes';
import { WORKER_METRICS } from '@dfleet/telemetry';
import { SHARED_REDIS_URL, deletePrefix, fleetEnv, startWorkerProcess, uniquePrefix } from '@dfleet/test-support';

const prefix = uniquePrefix();
afterAll(() => deletePrefix(prefix));

async function probe(url: string): Promise<{ status: number; body: unknown } | 'refused'> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: await response.json() };
  } catch {
    return 'refused';
  }
}

describe('worker probe server (DFLEET_PROBE_PORT)', () => {
  it('answers /healthz, /readyz and /metrics once the worker claims jobs, names /metrics in its ready line, and is gone after SIGTERM', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const worker = await startWorkerProcess(
      fleetEnv(SHARED_REDIS_URL, prefix, { DFLEET_PROBE_PORT: String(port), DFLEET_PROBE_HOST: '127.0.0.1' }),
      'probed-worker',
    );
    try {
      expect(await probe(`${base}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });
      expect(await probe(`${base}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } });
      const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) });
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await metrics.text()).toContain(`${WORKER_METRICS.jobsInFlight.name} 0`);
      expect(worker.metricsUrl).toBe(`${base}/metrics`);
      expect(await probe(`${base}/nothing`)).toMatchObject({ status: 404 });
    } finally {
      worker.process.child.kill('SIGTERM');
      expect(await worker.process.exited).toBe(0);
    }
    expect(await probe(`${base}/healthz`)).toBe('refused');
  });
});
