import { EnvConfigError } from '@dfleet/env-config';
import { startTracing, type Tracing } from '@dfleet/telemetry/sdk';
import { loadWorkerConfig, type WorkerConfig } from './config.ts';
import { DeviceUnavailableError, ModelUnavailableError } from './errors.ts';
import { createLogger } from './logger.ts';
import { startProbeServer, type ProbeServer } from './probe-server.ts';
import { startWorker, type RunningWorker, type StartWorkerOptions } from './worker.ts';

/**
 * One worker process for one device, as main.ts runs it: config from the environment, a graceful
 * drain on SIGTERM/SIGINT, exit 1 after a fatal error, the probe server when configured, and the
 * `worker ready` line once serving.
 * @param options.loadModel what to serve instead of the configured model (bench-only mains).
 */
export async function runWorkerProcess(options: Pick<StartWorkerOptions, 'loadModel'> = {}): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel, config.workerId);
  // Before the first job's spans; configured only by the OTEL_* variables.
  const tracing = startWorkerTracing();
  let worker: RunningWorker | undefined;
  let probe: ProbeServer | undefined;
  let shuttingDown: Promise<void> | undefined;
  // Runs once; SIGTERM/SIGINT exit 0 after a graceful drain, a fatal error exits 1 after one.
  const shutdown = (code: number) => {
    if (shuttingDown) return shuttingDown;
    // The drain is bounded by the grace time, but a Redis outage can stall BullMQ's close: a
    // supervisor waiting for this process must not wait forever.
    setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting');
      process.exit(code === 0 ? 1 : code);
    }, config.shutdownTimeoutMs + config.forcedExitMarginMs).unref();
    probe?.markDraining();
    shuttingDown = (worker?.close() ?? Promise.resolve())
      .catch((error: Error) => logger.error({ err: error.message }, 'shutdown failed'))
      .then(() => probe?.close())
      // Spans of the drained jobs (and their result callbacks) are flushed before exiting.
      .then(() => tracing.shutdown().catch(() => undefined))
      .finally(() => process.exit(code));
    return shuttingDown;
  };
  process.once('SIGTERM', () => void shutdown(0));
  process.once('SIGINT', () => void shutdown(0));

  try {
    worker = await startWorker(config, {
      ...options,
      logger,
      onFatal: (error) => {
        logger.fatal({ err: error.message }, 'cannot go on; exiting so a supervisor restarts the worker');
        void shutdown(1);
      },
    });
  } catch (error) {
    if (error instanceof ModelUnavailableError || error instanceof DeviceUnavailableError) {
      fail(`worker: ${error.message}`);
    }
    throw error;
  }
  if (config.probe !== null) {
    try {
      probe = await startProbeServer(config.probe.host, config.probe.port, worker.metrics.registry);
    } catch (error) {
      logger.fatal({ err: (error as Error).message, ...config.probe }, 'cannot start the probe server');
      void shutdown(1);
      return;
    }
  }
  const metricsUrl =
    probe && config.probe ? ` metrics=http://${formatHost(config.probe.host)}:${probe.port}/metrics` : '';
  process.stdout.write(
    `worker ready id=${worker.workerId} device=${worker.device} model=${worker.modelName}${metricsUrl}\n`,
  );
}

/** A bind address as a URL host: IPv6 in brackets, and a wildcard as the loopback a local scraper reaches. */
function formatHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function startWorkerTracing(): Tracing {
  try {
    return startTracing({ defaultServiceName: 'dfleet-worker' });
  } catch (error) {
    fail(`worker: ${(error as Error).message}`); // a bad OTEL_* value
  }
}

function readConfig(): WorkerConfig {
  try {
    return loadWorkerConfig();
  } catch (error) {
    if (error instanceof EnvConfigError) fail(`worker: ${error.message}`);
    throw error;
  }
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
