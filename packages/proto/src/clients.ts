import * as grpc from '@grpc/grpc-js';
import type { GenerationServiceClient } from './generated/dfleet/v1/GenerationService.ts';
import type { WorkerCallbackClient } from './generated/dfleet/v1/WorkerCallback.ts';
import { loadDfleetProtos } from './load-protos.ts';

/** A plaintext client for the public service (loopback and trusted networks; TLS is deployment's job). */
export function createGenerationClient(address: string): GenerationServiceClient {
  const { generation } = loadDfleetProtos();
  return new generation.dfleet.v1.GenerationService(address, grpc.credentials.createInsecure());
}

/** The worker's client for the gateway named in a job. */
export function createWorkerCallbackClient(address: string): WorkerCallbackClient {
  const { workerCallback } = loadDfleetProtos();
  return new workerCallback.dfleet.v1.WorkerCallback(address, grpc.credentials.createInsecure());
}
