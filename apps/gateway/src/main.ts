import { EnvConfigError } from '@dfleet/env-config';
import { startTracing, type Tracing } from '@dfleet/telemetry/sdk';
import { loadGatewayConfig, type GatewayConfig } from './config.ts';
import { FORCED_EXIT_MARGIN_MS } from './forced-exit-margin.ts';
import { startGateway, type RunningGateway } from './gateway.ts';

function fail(message: string, exitCode: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(exitCode);
}

let config: GatewayConfig;
try {
  config = loadGatewayConfig();
} catch (error) {
  if (error instanceof EnvConfigError) fail(error.message, 78); // EX_CONFIG
  throw error;
}

// Before anything makes a span; configured only by the OTEL_* variables.
let tracing: Tracing;
try {
  tracing = startTracing({ defaultServiceName: 'dfleet-gateway' });
} catch (error) {
  fail(`gateway: ${(error as Error).message}`, 78); // a bad OTEL_* value
}

let gateway: RunningGateway;
try {
  gateway = await startGateway(config);
} catch (error) {
  // A bad model directory or a port in use: the message says which; no stack trace needed.
  fail(`gateway failed to start: ${error instanceof Error ? error.message : String(error)}`, 1);
}
process.stdout.write(`${gateway.readinessLine}\n`);

let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) fail(`second ${signal}: exiting now`, 1);
  stopping = true;
  // close() bounds its own grace period; this timer is the backstop if something still hangs.
  setTimeout(
    () => fail('gateway did not close in time; exiting', 1),
    config.shutdownTimeoutMs + FORCED_EXIT_MARGIN_MS,
  ).unref();
  gateway
    .close()
    // The request spans of the drain end with it; flush them before exiting.
    .then(() => tracing.shutdown().catch(() => undefined))
    .then(
      () => process.exit(0),
      (error: unknown) => fail(`gateway close failed: ${String(error)}`, 1),
    );
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
