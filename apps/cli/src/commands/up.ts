import { join, resolve } from 'node:path';
import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';
import { CliError } from '../cli-error.ts';
import { loadCliConfig } from '../cli-env.ts';
import { parseCommandLine } from '../command-line.ts';
import { chooseDevices, probeWithShippedModel } from '../device-selection.ts';
import { detectGpus } from '../gpu-devices.ts';
import { resolveLocalRedis } from '../local-redis.ts';
import { GATEWAY_ENTRY, TSX_LOADER } from '../repo-paths.ts';
import { LOG_FORMATS, ServiceLogs, type LogFormat } from '../service-logs.ts';
import { UsageError } from '../usage-error.ts';
import { superviseWorkers, type WorkerSupervisor } from '../worker-supervisor.ts';
import { requestCompletion, formatCompletion } from '../completion-client.ts';

const GATEWAY_LOG_FILE = 'gateway.log';

const DEMO_PROMPT = '// return x times 3 plus 7\nfunction f(x) {\n';

const UP_USAGE = `usage: dfleet up [--no-demo] [--log-format pretty|json] [--log-dir DIR]

Starts a local fleet and stays in the foreground until Ctrl-C, which stops everything it started:
Redis (REDIS_URL, else 127.0.0.1:6379 if it answers, else a redis-server of its own), one gateway
on DFLEET_PORT (8080), and one worker per GPU (one CPU worker when there is none). Then it sends
a demo prompt and prints the completion. The services log JSON lines to a file each in the log
directory (gateway.log, worker-0.log, ...); the terminal shows one line per request, and their
warnings and errors.

  --no-demo            skip the demo generation
  --log-format FORMAT  pretty (default): as above; json: the services' JSON lines on stderr, no files
  --log-dir DIR        where the log files go (default .dfleet/logs, under the current directory)
  -h, --help           print this and exit
`;

const spec = {
  usage: UP_USAGE,
  options: {
    'no-demo': { type: 'boolean', default: false },
    'log-format': { type: 'string', default: 'pretty' },
    'log-dir': { type: 'string', default: join('.dfleet', 'logs') },
  },
} as const;

/**
 * `dfleet up`: Redis (found or started), one gateway, one worker per GPU (or one CPU worker),
 * a demo generation, then stays in the foreground until Ctrl-C stops everything it started.
 */
export async function runUp(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(spec, args);
  if (!parsed) return;
  const demo = !parsed.values['no-demo'];
  const format = parsed.values['log-format'];
  if (!isLogFormat(format))
    throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, not '${format}'`);
  const config = loadCliConfig(env);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const serviceLogs = new ServiceLogs({ format, dir: resolve(parsed.values['log-dir']), print: log });
  const redis = await resolveLocalRedis(config.redisUrl);
  log(
    `redis: ${redis.url} (${redis.origin === 'started' ? 'started a redis-server for this fleet' : `found via ${redis.origin}`})`,
  );

  const fleetEnv: NodeJS.ProcessEnv = {
    ...env,
    REDIS_URL: redis.url,
    DFLEET_MODEL_DIR: config.fleet.modelDir,
    DFLEET_PORT: String(config.fleet.httpPort),
    DFLEET_GRPC_PORT: String(config.fleet.grpcPort),
    DFLEET_CALLBACK_PORT: String(config.fleet.callbackPort),
  };

  let gateway: ManagedProcess | undefined;
  let workers: WorkerSupervisor | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      log('stopping the fleet...');
      await workers?.stop();
      await gateway?.stop();
      await redis.stop();
      await serviceLogs.close();
    })());

  process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  const gatewayLog = serviceLogs.sink('gateway', GATEWAY_LOG_FILE);
  try {
    gateway = await startManagedProcess({
      name: 'gateway',
      command: process.execPath,
      args: ['--import', TSX_LOADER, GATEWAY_ENTRY],
      env: fleetEnv,
      readyPattern: /^gateway listening on (http:\/\/\S+) grpc=(\S+) callback=(\S+)/,
      log,
      stderrLine: gatewayLog,
    });
    const { devices, summary } = await chooseDevices(detectGpus(), probeWithShippedModel);
    log(summary);
    const workerFiles = devices.map((_, index) => `worker-${index}.log`);
    log(serviceLogs.describe([GATEWAY_LOG_FILE, ...workerFiles]));
    workers = superviseWorkers({
      devices,
      env: fleetEnv,
      log,
      stderrLine: (index) => serviceLogs.sink(`worker ${devices[index]}`, workerFiles[index]!),
    });
    await workers.ready;

    const httpUrl = gateway.ready[1]!;
    // Both front doors, in the form of the gateway's own readiness line (gRPC clients need the address too).
    process.stdout.write(`gateway listening on ${httpUrl} grpc=${gateway.ready[2]!}\n`);
    // Each worker's line above names its own /metrics.
    log(`gateway metrics at ${httpUrl}/metrics`);
    if (demo && config.keysRequired && config.apiKey === undefined) {
      log('skipping the demo generation: the gateway requires API keys and DFLEET_API_KEY is not set');
    } else if (demo) {
      const completion = await requestCompletion(httpUrl, { prompt: DEMO_PROMPT }, config.apiKey);
      process.stdout.write(`demo generation:\n${DEMO_PROMPT}${formatCompletion(completion)}\n`);
    }
    process.stdout.write('fleet is up; press Ctrl-C to stop\n');
    const code = await gateway.exited;
    if (!stopping) throw new CliError('gateway_exited', `the gateway exited unexpectedly with code ${code}`);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}
