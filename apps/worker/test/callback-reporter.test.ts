import { createServer, connect, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReporter, type CallbackTarget } from '../src/callback-reporter.ts';
import { CallbackRecorder } from './callback-recorder.ts';

const logger = pino({ level: 'silent' });
const gateway = new CallbackRecorder();
/** Nothing listens on port 1 of loopback: connections are refused at once. */
const UNREACHABLE = '127.0.0.1:1';

/**
 * A TCP relay to the gateway whose existing connections can be turned into black holes: bytes
 * are swallowed and nothing is closed, as when a NAT or firewall forgets a connection. New
 * connections are relayed as usual.
 */
class BlackHoleRelay {
  readonly #server: Server;
  readonly #connections = new Set<{ client: Socket; upstream: Socket; holed: boolean }>();
  connectionsOpened = 0;
  address = '';

  constructor(target: string) {
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    this.#server = createServer((client) => {
      this.connectionsOpened++;
      const connection = { client, upstream: connect(port, host), holed: false };
      this.#connections.add(connection);
      client.on('data', (bytes) => connection.holed || connection.upstream.write(bytes));
      connection.upstream.on('data', (bytes) => connection.holed || client.write(bytes));
      const close = () => {
        this.#connections.delete(connection);
        client.destroy();
        connection.upstream.destroy();
      };
      client.on('close', close).on('error', close);
      connection.upstream.on('close', close).on('error', close);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const bound = this.#server.address();
    this.address = `127.0.0.1:${typeof bound === 'object' && bound !== null ? bound.port : 0}`;
  }

  /** Every connection open now swallows what is sent on it, both ways, from now on. */
  holeOpenConnections(): void {
    for (const connection of this.#connections) connection.holed = true;
  }

  async stop(): Promise<void> {
    for (const { client, upstream } of this.#connections) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

function targetFor(jobId: string, address = gateway.address, token = `token-of-${jobId}`): CallbackTarget {
  return { address, token, jobId, attempt: 1 };
}

beforeAll(() => gateway.start());
afterAll(() => gateway.stop());

describe('CallbackReporter over a real gRPC loopback server', () => {
  it('delivers a result with the job id, attempt and token, and returns the gateway answer', async () => {
    gateway.expect('job-1', 'token-of-job-1');
    const reporter = new CallbackReporter({ logger });
    const delivery = await reporter.reportResult(targetFor('job-1'), {
      text: 'return 1;',
      tokenIds: [5, 6],
      finishReason: 'eos',
    });
    await reporter.close();
    expect(delivery).toEqual({ delivered: true, accepted: true, reason: '', tries: 1 });
    expect(await gateway.resultOf('job-1')).toMatchObject({
      jobId: 'job-1',
      attempt: 1,
      callbackToken: 'token-of-job-1',
      tokenIds: [5, 6],
    });
  });

  it('does not retry a result the gateway refused', async () => {
    gateway.expect('job-2', 'the-real-token');
    let retries = 0;
    const reporter = new CallbackReporter({ logger, resultRetryDelaysMs: [1, 1], onRetry: () => retries++ });
    const delivery = await reporter.reportResult(targetFor('job-2', gateway.address, 'a-wrong-token'), { text: '' });
    await reporter.close();
    expect(delivery).toEqual({ delivered: true, accepted: false, reason: 'wrong token', tries: 1 });
    expect(retries).toBe(0);
    expect(gateway.results.filter((report) => report.jobId === 'job-2')).toHaveLength(1);
  });

  it('retries an unreachable gateway along its schedule, counting each retry, then gives up without throwing', async () => {
    let retries = 0;
    const reporter = new CallbackReporter({ logger, resultRetryDelaysMs: [1, 1, 1], onRetry: () => retries++ });
    const delivery = await reporter.reportResult(targetFor('job-3', UNREACHABLE), { text: '' });
    await reporter.close();
    expect(delivery).toMatchObject({ delivered: false, tries: 4 });
    expect(retries).toBe(3);
  });

  it('stops waiting for the next try when closed', async () => {
    const reporter = new CallbackReporter({ logger, resultRetryDelaysMs: [3_600_000] });
    const delivery = reporter.reportResult(targetFor('job-4', UNREACHABLE), { text: '' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await reporter.close();
    await expect(delivery).resolves.toMatchObject({ delivered: false, tries: 1 });
  });

  it('sends no second progress report of a job within the interval', async () => {
    gateway.expect('job-5', 'token-of-job-5');
    const reporter = new CallbackReporter({ logger, progressIntervalMs: 3_600_000 });
    const target = targetFor('job-5');
    const built: number[] = [];
    for (let step = 1; step <= 3; step++) {
      reporter.reportProgress(target, () => {
        built.push(step);
        return { step, committedTokens: step, totalTokens: 8 };
      });
    }
    // Sent on the same stream after the progress: once the result is in, a second progress would be too.
    await reporter.reportResult(target, { text: 'x' });
    await reporter.close();
    expect(built).toEqual([1]);
    expect(gateway.progress.filter((report) => report.jobId === 'job-5').map((report) => report.step)).toEqual([1]);
  });

  it('sends every report to one gateway on one stream, and matches each answer to its result', async () => {
    const streamsBefore = gateway.streamsOpened;
    const reporter = new CallbackReporter({ logger });
    const ids = ['job-6a', 'job-6b', 'job-6c'];
    gateway.expect('job-6a', 'token-of-job-6a');
    gateway.expect('job-6c', 'token-of-job-6c');
    const deliveries = await Promise.all(ids.map((id) => reporter.reportResult(targetFor(id), { text: id })));
    await reporter.close();
    expect(gateway.streamsOpened - streamsBefore).toBe(1);
    expect(deliveries.map((delivery) => delivery.delivered && delivery.accepted)).toEqual([true, false, true]);
  });

  it('matches the answers to two copies of one report in flight at once, one each', async () => {
    gateway.expect('job-8', 'token-of-job-8');
    const reporter = new CallbackReporter({ logger, callDeadlineMs: 5_000 });
    const copies = await Promise.all([
      reporter.reportResult(targetFor('job-8'), { text: 'a' }),
      reporter.reportResult(targetFor('job-8'), { text: 'a' }),
    ]);
    await reporter.close();
    expect(copies).toEqual([
      { delivered: true, accepted: true, reason: '', tries: 1 },
      { delivered: true, accepted: true, reason: '', tries: 1 },
    ]);
  });

  it('dials a new connection when results go unanswered on one that was silently dropped', async () => {
    const relay = new BlackHoleRelay(gateway.address);
    await relay.start();
    gateway.expect('job-9a', 'token-of-job-9a');
    gateway.expect('job-9b', 'token-of-job-9b');
    const reporter = new CallbackReporter({ logger, callDeadlineMs: 300, resultRetryDelaysMs: [50, 50, 50] });
    const first = await reporter.reportResult(targetFor('job-9a', relay.address), { text: 'before' });
    relay.holeOpenConnections();
    const second = await reporter.reportResult(targetFor('job-9b', relay.address), { text: 'after' });
    await reporter.close();
    await relay.stop();
    expect(first).toEqual({ delivered: true, accepted: true, reason: '', tries: 1 });
    // The try on the dead connection times out; the next goes out on a new one.
    expect(second).toEqual({ delivered: true, accepted: true, reason: '', tries: 2 });
    expect(relay.connectionsOpened).toBe(2);
  });

  it('drops a stream whose gateway leaves a result unanswered past the deadline, and retries on a new one', async () => {
    gateway.expect('job-7', 'token-of-job-7');
    const streamsBefore = gateway.streamsOpened;
    const reporter = new CallbackReporter({ logger, callDeadlineMs: 200, resultRetryDelaysMs: [1] });
    gateway.silent = true;
    const delivery = reporter.reportResult(targetFor('job-7'), { text: 'late' });
    await gateway.resultOf('job-7');
    gateway.silent = false;
    await expect(delivery).resolves.toEqual({ delivered: true, accepted: true, reason: '', tries: 2 });
    await reporter.close();
    expect(gateway.streamsOpened - streamsBefore).toBe(2);
  });
});
