import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerCallbackClient, grpc, loadDfleetProtos, type WorkerCallbackHandlers } from '../src/index.ts';

describe('WorkerCallback over loopback', () => {
  const server = new grpc.Server();
  let address = '';
  const received: unknown[] = [];

  beforeAll(async () => {
    const handlers: WorkerCallbackHandlers = {
      ReportProgress: (call, callback) => callback(null, { accepted: true }),
      ReportResult: (call, callback) => {
        received.push(call.request);
        callback(null, { accepted: call.request.callbackToken === 'secret', reason: 'checked' });
      },
    };
    server.addService(loadDfleetProtos().workerCallback.dfleet.v1.WorkerCallback.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(() => server.forceShutdown());

  it('carries a result with repeated token ids and camel-cased fields', async () => {
    const client = createWorkerCallbackClient(address);
    const ack = await new Promise((resolve, reject) =>
      client.ReportResult(
        { jobId: 'cmpl-1', attempt: 1, callbackToken: 'secret', text: 'return x;', tokenIds: [5, 6, 7], finishReason: 'eos', nfe: 3 },
        (error, response) => (error ? reject(error) : resolve(response)),
      ),
    );
    client.close();
    expect(ack).toEqual({ accepted: true, reason: 'checked' });
    expect(received[0]).toMatchObject({ jobId: 'cmpl-1', tokenIds: [5, 6, 7], nfe: 3, errorCode: '' });
  });
});
