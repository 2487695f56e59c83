import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createWorkerCallbackClient,
  grpc,
  loadDfleetProtos,
  type ReportAck__Output,
  type WorkerCallbackHandlers,
  type WorkerReport__Output,
} from '../src/index.ts';

describe('WorkerCallback over loopback', () => {
  const server = new grpc.Server();
  let address = '';
  const received: WorkerReport__Output[] = [];

  beforeAll(async () => {
    const handlers: WorkerCallbackHandlers = {
      Report: (call) => {
        call.on('data', (message: WorkerReport__Output) => {
          received.push(message);
          const { result } = message;
          if (result)
            call.write({
              jobId: result.jobId,
              attempt: result.attempt,
              accepted: result.callbackToken === 'secret',
              reason: 'checked',
            });
        });
        call.on('end', () => call.end());
      },
    };
    server.addService(loadDfleetProtos().workerCallback.dfleet.v1.WorkerCallback.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(() => server.forceShutdown());

  it('carries progress and results on one stream, with repeated token ids and camel-cased fields, and answers each result', async () => {
    const client = createWorkerCallbackClient(address);
    const call = client.Report();
    const acks: ReportAck__Output[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (ack: ReportAck__Output) => acks.push(ack));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ progress: { jobId: 'cmpl-1', attempt: 1, callbackToken: 'secret', step: 1, partialText: 'ret' } });
    call.write({
      result: {
        jobId: 'cmpl-1',
        attempt: 1,
        callbackToken: 'secret',
        text: 'return x;',
        tokenIds: [5, 6, 7],
        finishReason: 'eos',
        nfe: 3,
      },
    });
    call.write({ result: { jobId: 'cmpl-2', attempt: 2, callbackToken: 'guess' } });
    call.end();
    await ended;
    client.close();
    expect(received.map((message) => message.report)).toEqual(['progress', 'result', 'result']);
    expect(received[0]?.progress).toMatchObject({ jobId: 'cmpl-1', step: 1, partialText: 'ret' });
    expect(received[1]?.result).toMatchObject({ jobId: 'cmpl-1', tokenIds: [5, 6, 7], nfe: 3, errorCode: '' });
    expect(acks).toEqual([
      { jobId: 'cmpl-1', attempt: 1, accepted: true, reason: 'checked' },
      { jobId: 'cmpl-2', attempt: 2, accepted: false, reason: 'checked' },
    ]);
  });
});
