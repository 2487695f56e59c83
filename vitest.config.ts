import { defineConfig } from 'vitest/config';

const ALL_TESTS = [
  'packages/*/test/**/*.test.ts',
  'apps/*/test/**/*.test.ts',
  'tools/*/test/**/*.test.ts',
  'bench/test/**/*.test.ts',
];

/**
 * Tests that need more than this process: a real Redis (and BullMQ on it), a gRPC server on a
 * port, or child processes (gateway, worker, CLI, redis-server, the eval sandbox). Every other
 * test is a unit test: no Redis, no child process, the whole project in seconds. A new test that
 * needs any of these belongs here.
 */
const INTEGRATION_TESTS = [
  // The CLI starts fleets; all its tests but the pure GPU selection and status screen run processes or use Redis.
  'apps/cli/test/!(gpu-selection|latency-summary|status-screen).test.ts',
  // The gateway in-process against Redis and gRPC, or as its own process.
  'apps/gateway/test/gateway-*.test.ts',
  'apps/gateway/test/job-submitter.test.ts',
  'apps/gateway/test/main-process.test.ts',
  'apps/gateway/test/queue-outcome-reader.test.ts',
  'apps/gateway/test/redis-unavailable.test.ts',
  'apps/gateway/test/tenant-waiting-jobs.test.ts',
  // The worker with Redis, BullMQ and gRPC callbacks, or as its own process.
  'apps/worker/test/worker.*.test.ts',
  'apps/worker/test/main-process.test.ts',
  'apps/worker/test/callback-reporter.test.ts',
  'packages/proto/test/loopback.test.ts',
  // Gateway and worker processes exporting traces to a real OTLP receiver.
  'packages/telemetry/test/fleet-traces.test.ts',
  'packages/queue/test/worker-heartbeat.test.ts',
  'packages/queue/test/finished-jobs.test.ts',
  'packages/queue/test/closing-during-connect.test.ts',
  // Untrusted programs run in sandboxed child processes.
  'packages/eval/test/run-untrusted*.test.ts',
  'packages/eval/test/sandbox-containment.test.ts',
  'packages/eval/test/heldout-reference.test.ts',
  // The compiled apps run as processes; kubectl renders the manifests.
  'tools/deploy/test/compiled-apps.test.ts',
  'tools/deploy/test/k8s-manifests.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ALL_TESTS,
          exclude: INTEGRATION_TESTS,
          // `npm test` runs the unit tests first, then the integration tests (own worker limits).
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: INTEGRATION_TESTS,
          sequence: { groupOrder: 1 },
          // Integration tests start real processes; two cores cannot run many at once.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
