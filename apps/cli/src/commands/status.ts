import { GenerationQueues, describeRedisTarget, type RedisConnection } from '@dfleet/queue';
import { loadCliConfig } from '../cli-env.ts';
import { CliError } from '../cli-error.ts';
import { parseCommandLine } from '../command-line.ts';
import { connectFleetRedis } from '../fleet-status/fleet-redis.ts';
import { readFleetStatus } from '../fleet-status/read-fleet-status.ts';
import { renderStatusScreen, renderUnreachableScreen, type StatusSource } from '../fleet-status/status-screen.ts';
import { UsageError } from '../usage-error.ts';

/** Seconds between two screens of --watch without a number. */
const DEFAULT_WATCH_SECONDS = 2;

const STATUS_USAGE = `usage: dfleet status [--watch [SECONDS]]

Shows the fleet on one screen, read from its Redis: live workers (device, model, jobs in
flight, tokens/s over the last minute, heartbeat age), waiting and running jobs of each
priority class, and the p50 and p99 of end-to-end latency and queue time over the last minute.

  -w, --watch [SECONDS]   redraw every SECONDS (default ${DEFAULT_WATCH_SECONDS}) until Ctrl-C; on a terminal only
  -h, --help              print this and exit

The Redis and key prefix are the fleet's: REDIS_URL (default redis://127.0.0.1:6379), or
DFLEET_REDIS_CLUSTER_NODES / DFLEET_REDIS_SENTINELS, and DFLEET_REDIS_PREFIX (default dfleet).
`;

const spec = {
  usage: STATUS_USAGE,
  allowPositionals: true,
  options: { watch: { type: 'boolean', short: 'w' } },
} as const;

// ANSI (ECMA-48) control sequences: home, clear to the end of the line / of the screen, hide and show the cursor.
const HOME = '\x1b[H';
const CLEAR_SCREEN = '\x1b[2J';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** `dfleet status [--watch [SECONDS]]`. */
export async function runStatus(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(spec, args);
  if (!parsed) return;
  const watchSeconds = watchSecondsOf(parsed.values.watch === true, parsed.positionals);
  const { fleetRedis } = loadCliConfig(env);
  const source: StatusSource = { redis: describeRedisTarget(fleetRedis.target), prefix: fleetRedis.prefix };
  const redis = await connectFleetRedis(fleetRedis.target);
  // A reader only: BullMQ would otherwise write each queue's meta key, under a mistyped prefix too.
  const queues = new GenerationQueues({ connection: redis, prefix: fleetRedis.prefix, skipMetasUpdate: true });
  const screen = async () => renderStatusScreen(await readFleetStatus(redis, queues, fleetRedis.prefix), source);
  // While reconnecting, a read fails with ioredis's "Stream isn't writeable..."; the connection's own error says why.
  let connectionError: string | undefined;
  redis.on('error', (error: Error) => (connectionError = error.message));
  redis.on('ready', () => (connectionError = undefined));
  const whyUnread = (error: Error) =>
    redis.status === 'ready' ? error.message : `${connectionError ?? 'connection lost'} (reconnecting)`;
  try {
    // The first read decides: a fleet unseen from the start is an error, not a screen.
    const first = await screen().catch((error: Error) => {
      throw new CliError(
        'status_unread',
        `could not read the fleet's status from Redis at ${source.redis}: ${whyUnread(error)}`,
      );
    });
    if (watchSeconds === undefined || !process.stdout.isTTY) {
      process.stdout.write(`${first.join('\n')}\n`);
      // Redrawing in place into a file or pipe would leave escape codes and stacked screens.
      if (watchSeconds !== undefined)
        process.stderr.write('dfleet: --watch redraws on a terminal only; printed once\n');
      return;
    }
    await watch(first, screen, whyUnread, watchSeconds * 1_000, source);
  } finally {
    await close(queues, redis);
  }
}

function watchSecondsOf(watch: boolean, positionals: string[]): number | undefined {
  const [seconds, ...extra] = positionals;
  if (extra.length > 0 || (seconds !== undefined && !watch)) {
    throw new UsageError(`unexpected argument '${extra[0] ?? seconds}' (status takes only --watch [SECONDS])`);
  }
  if (!watch) return undefined;
  if (seconds === undefined) return DEFAULT_WATCH_SECONDS;
  const value = Number(seconds);
  if (!Number.isFinite(value) || value < 0.1 || value > 3_600) {
    throw new UsageError(`--watch takes seconds between 0.1 and 3600; got '${seconds}'`);
  }
  return value;
}

/** Redraws in place every `intervalMs` (the next read starts after the last one ended) until SIGINT or SIGTERM. */
async function watch(
  first: string[],
  screen: () => Promise<string[]>,
  whyUnread: (error: Error) => string,
  intervalMs: number,
  source: StatusSource,
): Promise<void> {
  const footer = `every ${intervalMs / 1_000} s, Ctrl-C to stop`;
  const draw = (lines: string[]) =>
    process.stdout.write(
      `${HOME}${[...lines, '', footer].map((line) => `${line}${CLEAR_LINE_END}`).join('\n')}${CLEAR_BELOW}`,
    );
  process.stdout.write(`${HIDE_CURSOR}${CLEAR_SCREEN}`);
  draw(first);
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    // Left installed once stopping: Ctrl-C reaches this process twice, from the terminal and
    // relayed by the bin's wrapper, and a second one must not kill it while it closes.
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      process.stdout.write(`${SHOW_CURSOR}\n`);
      resolve();
    };
    const refresh = async () => {
      const lines = await screen().catch((error: Error) =>
        renderUnreachableScreen(whyUnread(error), Date.now(), source),
      );
      if (stopped) return;
      draw(lines);
      timer = setTimeout(() => void refresh(), intervalMs);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    timer = setTimeout(() => void refresh(), intervalMs);
  });
}

/** Quick also when Redis went away meanwhile: QUIT would wait for the reconnect. */
async function close(queues: GenerationQueues, redis: RedisConnection): Promise<void> {
  await queues.close().catch(() => undefined);
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
