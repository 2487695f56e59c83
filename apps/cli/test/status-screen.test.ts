import { describe, expect, it } from 'vitest';
import type { WorkerHeartbeat } from '@dfleet/queue';
import type { FleetStatus } from '../src/fleet-status/read-fleet-status.ts';
import {
  MAX_WORKER_ROWS,
  SCREEN_WIDTH,
  durationOf,
  renderStatusScreen,
  renderUnreachableScreen,
} from '../src/fleet-status/status-screen.ts';

const now = Date.UTC(2026, 11, 2, 3, 4, 5);
const source = { redis: '127.0.0.1:6379', prefix: 'dfleet' };

function beat(workerId: string, extra: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat {
  return {
    workerId,
    device: 'cuda:1',
    model: 'jsfunc-mdm',
    jobsInFlight: 3,
    pid: 42,
    startedAt: now - 60_000,
    updatedAt: now - 1_500,
    tokensPerSecond: 123.456,
    jobsCompleted: 9,
    ...extra,
  };
}

function status(extra: Partial<FleetStatus> = {}): FleetStatus {
  return {
    readAt: now,
    workers: [beat('gpu-host-1')],
    queues: { interactive: { waiting: 4, running: 3 }, batch: { waiting: 17, running: 0 } },
    endToEnd: { count: 12, p50: 231.4, p99: 1_520 },
    queueTime: { count: 12, p50: 2.25, p99: 48 },
    ...extra,
  };
}

/** The cells of the screen's line that starts with `label`, split on runs of two spaces or more. */
function cellsOf(lines: string[], label: string): string[] {
  const line = lines.find((candidate) => candidate.trimStart().startsWith(label));
  if (line === undefined) throw new Error(`no line starts with ${label}:\n${lines.join('\n')}`);
  return line.trim().split(/\s{2,}/);
}

describe('the status screen', () => {
  it("shows each worker's device, model, jobs in flight, tokens/s and heartbeat age", () => {
    const lines = renderStatusScreen(status(), source);
    expect(lines).toContain('WORKERS  1 live');
    expect(cellsOf(lines, 'gpu-host-1')).toEqual(['gpu-host-1', 'cuda:1', 'jsfunc-mdm', '3', '123.5', '1.5 s ago']);
  });

  it('shows waiting and running jobs of each priority class', () => {
    const lines = renderStatusScreen(status(), source);
    expect(cellsOf(lines, 'interactive')).toEqual(['interactive', '4', '3']);
    expect(cellsOf(lines, 'batch')).toEqual(['batch', '17', '0']);
  });

  it('shows the count, p50 and p99 of end-to-end latency and queue time', () => {
    const lines = renderStatusScreen(status(), source);
    expect(cellsOf(lines, 'end-to-end')).toEqual(['end-to-end', '12', '231 ms', '1.52 s']);
    expect(cellsOf(lines, 'queue time')).toEqual(['queue time', '12', '2.25 ms', '48 ms']);
  });

  it('says no job finished rather than showing figures', () => {
    const lines = renderStatusScreen(status({ endToEnd: undefined, queueTime: undefined }), source);
    expect(cellsOf(lines, 'end-to-end')).toEqual(['end-to-end', '0', '-', '-']);
  });

  it('shows a dash for the tokens/s of a worker whose heartbeat predates them', () => {
    const { tokensPerSecond: _, ...oldBeat } = beat('old-worker');
    const lines = renderStatusScreen(status({ workers: [oldBeat] }), source);
    expect(cellsOf(lines, 'old-worker')[4]).toBe('-');
  });

  it('says how to start a worker when none is alive, under which prefix it looked', () => {
    const text = renderStatusScreen(status({ workers: [] }), { ...source, prefix: 'fleet-eu' }).join('\n');
    expect(text).toContain('WORKERS  none alive');
    expect(text).toContain("DFLEET_REDIS_PREFIX (now 'fleet-eu')");
    expect(text).toContain("'dfleet up' or 'dfleet worker'");
  });

  it('fits 80x24 with a handful of workers, and stays 80 wide with long names', () => {
    const workers = Array.from({ length: MAX_WORKER_ROWS }, (_, i) => beat(`worker-${i}`));
    expect(renderStatusScreen(status({ workers }), source).length).toBeLessThanOrEqual(22);
    const long = beat('a-very-long-worker-id-on-a-long-host-name', { model: 'a-model-with-a-long-name-too' });
    const lines = renderStatusScreen(status({ workers: [long] }), {
      ...source,
      redis: `Redis Cluster ${'r:1,'.repeat(40)}`,
    });
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(SCREEN_WIDTH);
    expect(cellsOf(lines, 'a-very-long')[0]).toMatch(/…$/);
  });

  it('counts the workers beyond the rows it shows', () => {
    const workers = Array.from({ length: MAX_WORKER_ROWS + 3 }, (_, i) => beat(`worker-${String(i).padStart(2, '0')}`));
    const lines = renderStatusScreen(status({ workers }), source);
    expect(lines).toContain(`WORKERS  ${MAX_WORKER_ROWS + 3} live`);
    expect(lines).toContain('  ... and 3 more');
  });

  it('names the Redis that did not answer, and the time', () => {
    const lines = renderUnreachableScreen('connect ECONNREFUSED 127.0.0.1:6379', now, source);
    expect(lines[0]).toContain('03:04:05 UTC');
    expect(lines.join('\n')).toContain('Redis does not answer: connect ECONNREFUSED 127.0.0.1:6379');
  });
});

describe('durations on the screen', () => {
  it('keeps three significant figures, in ms below a second and in seconds above', () => {
    expect(durationOf(0.421)).toBe('0.421 ms');
    expect(durationOf(9.96)).toBe('9.96 ms');
    expect(durationOf(231.4)).toBe('231 ms');
    expect(durationOf(999.4)).toBe('999 ms');
    expect(durationOf(999.7)).toBe('1 s');
    expect(durationOf(12_345)).toBe('12.3 s');
  });
});
