import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DFLEET_BIN,
  OwnRedisServer,
  TestFleet,
  eventually,
  postCompletion,
  prompt,
  type GatewayProcess,
} from '@dfleet/test-support';
import { cleanEnv, runDfleet } from './support/run-dfleet.ts';

const fleet = new TestFleet();
let gateway: GatewayProcess;

beforeAll(async () => {
  gateway = await fleet.startGateway('status-gateway');
}, 120_000);

/** Terminals a test opened: a failed test leaves its own running, stopped here. */
const terminals: { stop(): Promise<void> }[] = [];

afterEach(() => Promise.all(terminals.splice(0).map((terminal) => terminal.stop())), 30_000);
afterAll(() => fleet.close(), 60_000);

const statusEnv = () => cleanEnv({ REDIS_URL: fleet.redisUrl, DFLEET_REDIS_PREFIX: fleet.prefix });

/** `dfleet status` as a process, with its printed screen. */
async function status(): Promise<string> {
  const run = await runDfleet(['status'], { env: statusEnv() });
  expect(run).toMatchObject({ status: 0, stderr: '' });
  return run.stdout;
}

/** The cells of the screen's line that starts with `label`, split on runs of two spaces or more. */
function cellsOf(screen: string, label: string): string[] | undefined {
  const line = screen.split('\n').find((candidate) => candidate.trimStart().startsWith(label));
  return line?.trim().split(/\s{2,}/);
}

/** "231 ms" or "1.52 s" as milliseconds. */
function msOf(cell: string | undefined): number {
  const match = /^([\d.]+) (ms|s)$/.exec(cell ?? '');
  if (!match) throw new Error(`not a duration: ${cell}`);
  return Number(match[1]) * (match[2] === 's' ? 1_000 : 1);
}

/** `dfleet status --watch 0.3` on a pseudo-terminal (util-linux `script`), as someone at a terminal runs it. */
function watchOnTerminal(env: NodeJS.ProcessEnv) {
  // `exec`: script runs the command through $SHELL, and dash (CI's /bin/sh) waiting on a child
  // exits 130 after a ^C whatever the child does; with exec the bin is the terminal's process.
  const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(DFLEET_BIN)} status --watch 0.3`;
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
    env: { ...env, SHELL: '/bin/sh' },
    stdio: 'pipe',
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  // Ending `script` hangs its terminal up: the bin and its child get SIGHUP.
  terminals.push({
    async stop() {
      if (child.exitCode === null) child.kill();
      await exited;
    },
  });
  return {
    output: () => output,
    frames: () => output.split('\x1b[H').length - 1,
    lastFrame: () => output.slice(output.lastIndexOf('\x1b[H')),
    /** ^C typed at the terminal: it reaches the bin as SIGINT, as a keypress would. Resolves with its exit status. */
    interrupt: () => {
      child.stdin.write('\x03');
      return exited;
    },
  };
}

/** The screen shows durations to three significant figures. */
function expectShown(cell: string | undefined, ms: number): void {
  expect(Math.abs(msOf(cell) - ms)).toBeLessThanOrEqual(ms * 0.005 + 0.5);
}

describe('dfleet status', () => {
  it('shows workers, queue depths and the last minute of a fleet that served completions', async () => {
    // No worker yet: the screen says so, and batch jobs wait for one.
    const empty = await status();
    expect(empty).toContain('WORKERS  none alive');
    expect(empty).toContain(`DFLEET_REDIS_PREFIX (now '${fleet.prefix}')`);
    const batch = [1, 2].map((n) =>
      postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: prompt(n), dfleet: { priority: 'batch' } }),
    );
    const waiting = await eventually('two batch jobs waiting on the screen', async () => {
      const screen = await status();
      return cellsOf(screen, 'batch')?.join(' ') === 'batch 2 0' && screen;
    });
    expect(cellsOf(waiting, 'interactive')).toEqual(['interactive', '0', '0']);

    await fleet.startWorker('status-worker-a');
    const startedAt = Date.now();
    const interactive = [3, 4, 5].map((n) =>
      postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: prompt(n) }),
    );
    const answers = await Promise.all([...batch, ...interactive]);
    const slowestClientMs = Date.now() - startedAt + 60_000;
    for (const answer of answers) expect(answer.status).toBe(200);

    // Each worker records its jobs just after their results: the screen counts all five within a beat.
    const screen = await eventually('five jobs in the last minute', async () => {
      const text = await status();
      return cellsOf(text, 'end-to-end')?.[1] === '5' && text;
    });
    expect(screen).toContain('WORKERS  1 live');
    const worker = cellsOf(screen, 'status-worker-a');
    expect(worker?.slice(0, 4)).toEqual(['status-worker-a', 'cpu', 'jsfunc-mdm', '0']);
    expect(worker?.[5]).toMatch(/^\d+\.\d s ago$/);
    expect(cellsOf(screen, 'interactive')).toEqual(['interactive', '0', '0']);
    expect(cellsOf(screen, 'batch')).toEqual(['batch', '0', '0']);

    // Queue time is each answer's dfleet.queue_ms: of five, p50 is the third smallest and p99 the largest.
    const queueMs = answers.map((answer) => answer.body.dfleet.queue_ms as number).sort((a, b) => a - b);
    const [label, count, p50, p99] = cellsOf(screen, 'queue time') ?? [];
    expect([label, count]).toEqual(['queue time', '5']);
    expectShown(p50, queueMs[2]!);
    expectShown(p99, queueMs[4]!);
    // The batch jobs waited for the worker to start: end to end is at least their wait.
    const e2e = cellsOf(screen, 'end-to-end') ?? [];
    expect(msOf(e2e[2])).toBeLessThanOrEqual(msOf(e2e[3]));
    expect(msOf(e2e[3])).toBeGreaterThanOrEqual(queueMs[4]! * 0.99);
    expect(msOf(e2e[3])).toBeLessThan(slowestClientMs);

    // tokens/s over the last minute, from the worker's heartbeat (one beat every 2 s).
    const rated = await eventually('the worker beats its tokens/s', async () => {
      const cells = cellsOf(await status(), 'status-worker-a');
      return cells !== undefined && Number(cells[4]) > 0 && cells;
    });
    expect(Number(rated[4])).toBeGreaterThan(0);
  }, 180_000);

  it('redraws in place on a terminal until Ctrl-C, then exits cleanly', async () => {
    const terminal = watchOnTerminal(statusEnv());
    await eventually(
      'three screens drawn',
      () => terminal.frames() >= 3 && terminal.output().includes('every 0.3 s, Ctrl-C to stop'),
      60_000,
    );
    expect(await terminal.interrupt()).toBe(0);
    const output = terminal.output();
    expect(output).toContain('\x1b[2J');
    expect(
      output
        .split('\x1b[H')
        .slice(1)
        .every((frame) => frame.includes('QUEUES')),
    ).toBe(true);
    // The cursor it hid comes back.
    expect(output.lastIndexOf('\x1b[?25h')).toBeGreaterThan(output.lastIndexOf('\x1b[?25l'));
  }, 90_000);

  it('says so on the screen while Redis is down, and shows the fleet again once it is back', async () => {
    const redis = await OwnRedisServer.create();
    await redis.start();
    try {
      const terminal = watchOnTerminal(cleanEnv({ REDIS_URL: redis.url, DFLEET_REDIS_PREFIX: fleet.prefix }));
      await eventually('a first screen', () => terminal.frames() >= 1, 60_000);
      await redis.stop();
      // A frame may be caught half written, and the first frame may come before the first reconnect fails.
      const outage = /Redis does not answer: .*ECONNREFUSED.* \(reconnecting\)/;
      await eventually('the outage and its cause on the screen', () => outage.test(terminal.lastFrame()), 60_000);
      await redis.start();
      await eventually('the fleet again', () => terminal.lastFrame().includes('QUEUES'), 60_000);
      expect(await terminal.interrupt()).toBe(0);
    } finally {
      await redis.destroy();
    }
  }, 120_000);

  it('prints once into a pipe, even with --watch, and says so', async () => {
    const run = await runDfleet(['status', '--watch'], { env: statusEnv() });
    expect(run.status).toBe(0);
    expect(run.stdout).not.toContain('\x1b[');
    expect(run.stdout.match(/^QUEUES/gm)).toHaveLength(1);
    expect(run.stderr).toContain('--watch redraws on a terminal only');
  });

  it('names the Redis that does not answer and the variables that choose it', async () => {
    const run = await runDfleet(['status'], { env: cleanEnv({ REDIS_URL: 'redis://127.0.0.1:1' }) });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^dfleet: cannot reach Redis at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)/);
    expect(run.stderr).toContain('REDIS_URL');
    expect(run.stderr).toContain('DFLEET_REDIS_PREFIX');
  });

  it('refuses a watch interval that is not a number of seconds', async () => {
    const run = await runDfleet(['status', '--watch', 'soon'], { env: statusEnv() });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("--watch takes seconds between 0.1 and 3600; got 'soon'");
  });
});
