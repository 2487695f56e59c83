import type { ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { OtlpReceiver } from '@dfleet/test-support';
import { startFleetWorker, type FleetWorkers } from './fleet-workers.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { openLoop } from './open-loop.ts';
import { percentile } from './percentiles.ts';
import { totalCpuMs } from './process-cpu.ts';
import { startApp } from './start-app.ts';

/**
 * Tracing on against tracing off, side by side: two fleets (gateway and worker each) on one
 * Redis, one exporting every span over OTLP/HTTP protobuf to a receiver in this process (which
 * decodes them, as a collector would), the other with no endpoint (spans sampled out, ids still
 * propagated: what a fleet without OTEL_* settings runs). Requests alternate between the two in one
 * open loop, so both see the same host load at the same moments. Overhead per request = end-to-end
 * latency minus the worker's decode time, as in the rest of bench:fleet; the comparison is its
 * p50 and p99 with tracing on minus off. On a host busy with other work, added CPU is multiplied
 * into added latency by the wait for a core; so the CPU time the two fleets' processes used per
 * request is reported beside it, a figure that load changes much less.
 */
export interface TracingComparisonOptions {
  readonly workers: FleetWorkers;
  /** Environment of both fleets' processes; each gets its own key prefix on top. */
  readonly env: Readonly<Record<string, string>>;
  readonly redisUrl: string;
  readonly prefix: string;
  /** One request body (JSON) per request of each fleet. */
  readonly payloads: readonly string[];
  /** Requests per second, both fleets together. */
  readonly ratePerS: number;
}

interface Sample {
  readonly overheadMs: number;
  readonly e2eMs: number;
  readonly ok: boolean;
}

/** Turns OTEL_* off whatever the bench's own environment says (an empty value is unset). */
const TRACING_OFF = {
  OTEL_EXPORTER_OTLP_ENDPOINT: '',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
  OTEL_TRACES_EXPORTER: '',
  OTEL_SDK_DISABLED: '',
};

export async function compareTracing(options: TracingComparisonOptions) {
  const receiver = await OtlpReceiver.start();
  const loadBefore = loadavg();
  const fleets: { child: ChildProcess }[] = [];
  const pids = { on: [] as number[], off: [] as number[] };
  const client = new KeepAliveClient({ maxSockets: 1_024 });
  const prefixes = { on: `${options.prefix}-traced`, off: `${options.prefix}-untraced` };
  try {
    const start = async (prefix: string, tracing: Record<string, string>, started: number[]) => {
      const env = { ...options.env, DFLEET_REDIS_PREFIX: prefix, ...TRACING_OFF, ...tracing };
      const gateway = await startApp('../../apps/gateway/src/main.ts', env, /^gateway listening on (http:\/\/\S+)/);
      const worker = await startFleetWorker(options.workers, env);
      for (const { child } of [gateway, worker]) {
        fleets.push({ child });
        if (child.pid !== undefined) started.push(child.pid);
      }
      return gateway.match[1] as string;
    };
    const traced = await start(
      prefixes.on,
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        // The SDK's default batching (an export every 5 s): the exports in the run count in its
        // CPU, the last flush at the stop does not.
      },
      pids.on,
    );
    const untraced = await start(prefixes.off, {}, pids.off);

    const send = async (httpUrl: string, payload: string): Promise<Sample> => {
      const started = performance.now();
      const response = await client.post(`${httpUrl}/v1/completions`, payload);
      const e2eMs = performance.now() - started;
      const decodeMs = (JSON.parse(response.body) as { dfleet?: { decode_ms: number } }).dfleet?.decode_ms;
      return { e2eMs, overheadMs: e2eMs - (decodeMs ?? Number.NaN), ok: response.status === 200 };
    };
    // Warm-up: sessions, JIT, keep-alive connections, on both.
    const warmUp = options.payloads.slice(0, 20);
    await Promise.all([traced, untraced].map((url) => Promise.all(warmUp.map((payload) => send(url, payload)))));
    const spansBefore = receiver.spans.length;

    const count = options.payloads.length;
    const cpuBefore = { on: totalCpuMs(pids.on), off: totalCpuMs(pids.off) };
    // Alternating which fleet goes first in each pair, so neither always follows the other.
    const run = await openLoop(count * 2, options.ratePerS, (i) => {
      const pair = Math.floor(i / 2);
      const tracedTurn = (i + pair) % 2 === 0;
      return send(tracedTurn ? traced : untraced, options.payloads[pair] as string).then((sample) => ({
        tracedTurn,
        sample,
      }));
    });
    const cpuMsPerRequest = {
      on: (totalCpuMs(pids.on) - cpuBefore.on) / count,
      off: (totalCpuMs(pids.off) - cpuBefore.off) / count,
    };
    const on = run.results.filter((r) => r.tracedTurn).map((r) => r.sample);
    const off = run.results.filter((r) => !r.tracedTurn).map((r) => r.sample);
    const summary = (samples: Sample[]) => {
      const ok = samples.filter((s) => s.ok);
      return {
        requests: samples.length,
        succeeded: ok.length,
        overhead_p50_ms: percentile(
          ok.map((s) => s.overheadMs),
          50,
        ),
        overhead_p99_ms: percentile(
          ok.map((s) => s.overheadMs),
          99,
        ),
        e2e_p50_ms: percentile(
          ok.map((s) => s.e2eMs),
          50,
        ),
        e2e_p99_ms: percentile(
          ok.map((s) => s.e2eMs),
          99,
        ),
      };
    };
    const tracingOn = summary(on);
    const tracingOff = summary(off);
    // Spans still buffered in the traced fleet are flushed when it stops (below); count them after.
    const result = {
      measured_at: new Date().toISOString(),
      host: { cpus: cpus().length, load_average_before: loadBefore, load_average_after: loadavg() },
      workers: options.workers.kind,
      rate_per_s_both_fleets: options.ratePerS,
      max_send_lag_ms: run.maxSendLagMs,
      exporter: 'otlp http/protobuf to a receiver in the bench process',
      tracing_on: tracingOn,
      tracing_off: tracingOff,
      added_overhead_p50_ms: tracingOn.overhead_p50_ms - tracingOff.overhead_p50_ms,
      added_overhead_p99_ms: tracingOn.overhead_p99_ms - tracingOff.overhead_p99_ms,
      target_added_p50_ms: 0.3,
      /** Gateway and worker CPU time per request (user + system), each fleet's own processes. */
      cpu_ms_per_request: cpuMsPerRequest,
      added_cpu_ms_per_request: cpuMsPerRequest.on - cpuMsPerRequest.off,
      spans_received: 0,
    };
    await stopAll(fleets.splice(0));
    result.spans_received = receiver.spans.length - spansBefore;
    return result;
  } finally {
    client.close();
    await stopAll(fleets);
    await receiver.close();
    const redis = new Redis(options.redisUrl);
    for (const prefix of Object.values(prefixes)) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    }
    await redis.quit();
  }
}

export type TracingComparison = Awaited<ReturnType<typeof compareTracing>>;

export function formatTracingComparison(c: TracingComparison): string {
  const fmt = (n: number) => n.toFixed(2);
  const line = (name: string, s: TracingComparison['tracing_on']) =>
    `  ${name}: overhead p50 ${fmt(s.overhead_p50_ms)} ms p99 ${fmt(s.overhead_p99_ms)} ms, e2e p50 ${fmt(s.e2e_p50_ms)} ms p99 ${fmt(s.e2e_p99_ms)} ms, ${s.succeeded}/${s.requests} ok`;
  const met = c.added_overhead_p50_ms <= c.target_added_p50_ms ? 'met' : 'NOT met';
  return [
    `tracing on vs off, interleaved at ${c.rate_per_s_both_fleets}/s over both fleets (${c.workers} workers, ${c.spans_received} spans exported):`,
    line('on ', c.tracing_on),
    line('off', c.tracing_off),
    `  gateway + worker CPU per request: on ${fmt(c.cpu_ms_per_request.on)} ms, off ${fmt(c.cpu_ms_per_request.off)} ms (added ${fmt(c.added_cpu_ms_per_request)} ms)`,
    `  added by tracing: p50 ${fmt(c.added_overhead_p50_ms)} ms, p99 ${fmt(c.added_overhead_p99_ms)} ms; target p50 <= ${c.target_added_p50_ms} ms: ${met}` +
      ` (load average ${c.host.load_average_before.map(fmt).join(' ')} before, ${c.host.load_average_after.map(fmt).join(' ')} after, ${c.host.cpus} CPUs)`,
  ].join('\n');
}

async function stopAll(children: { child: ChildProcess }[]): Promise<void> {
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null) return resolve(null);
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
}
