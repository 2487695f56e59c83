import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGenerationClient, grpc } from '@dfleet/proto';
import { GenerationQueues } from '@dfleet/queue';
import { deletePrefix, eventually, SHARED_REDIS_URL, uniquePrefix } from '@dfleet/test-support';
import type { RunningGateway } from '../src/gateway.ts';
import { FIXTURE_MODEL, startTestGateway, startTestHeartbeat } from './support/test-fleet.ts';

const require = createRequire(import.meta.url);
const REFLECTION_PROTO = join(
  dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);
const HEALTH_PROTO = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto');

/** Clients built from the standard protos, as grpcurl or a Kubernetes probe would speak them. */
function clientsFor(address: string) {
  const loaded = grpc.loadPackageDefinition(
    protoLoader.loadSync([REFLECTION_PROTO, HEALTH_PROTO], { keepCase: true, enums: String }),
  );
  const packages = loaded as unknown as {
    grpc: {
      reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } };
      health: { v1: { Health: grpc.ServiceClientConstructor } };
    };
  };
  const credentials = grpc.credentials.createInsecure();
  return {
    reflection: new packages.grpc.reflection.v1.ServerReflection(address, credentials),
    health: new packages.grpc.health.v1.Health(address, credentials),
  };
}

function listServices(client: grpc.Client): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, unknown> }
    ).ServerReflectionInfo();
    call.on('data', (response: { list_services_response?: { service: { name: string }[] } }) => {
      resolve((response.list_services_response?.service ?? []).map((service) => service.name));
      call.end();
    });
    call.on('error', reject);
    call.write({ list_services: '*' });
  });
}

function fileContaining(client: grpc.Client, symbol: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, unknown> }
    ).ServerReflectionInfo();
    call.on('data', (response: { file_descriptor_response?: { file_descriptor_proto: Buffer[] } }) => {
      resolve(response.file_descriptor_response?.file_descriptor_proto.length ?? 0);
      call.end();
    });
    call.on('error', reject);
    call.write({ file_containing_symbol: symbol });
  });
}

type HealthCheck = (
  request: { service: string },
  done: (error: grpc.ServiceError | null, response?: { status: string }) => void,
) => void;

function check(client: grpc.Client, service: string): Promise<string> {
  const call = (client as unknown as { Check: HealthCheck }).Check.bind(client);
  return new Promise((resolve, reject) =>
    call({ service }, (error, response) => (error || !response ? reject(error) : resolve(response.status))),
  );
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function checkQueued(prefix: string): Promise<boolean> {
  const redis = new Redis(SHARED_REDIS_URL);
  const queues = new GenerationQueues({ connection: redis, prefix });
  try {
    return (await queues.getJobCounts('wait'))['wait'] === 1;
  } finally {
    await queues.close();
    redis.disconnect();
  }
}

const prefix = uniquePrefix();
let gateway: RunningGateway;

beforeAll(async () => {
  gateway = await startTestGateway(prefix);
});

afterAll(async () => {
  await gateway?.close(1_000);
  await deletePrefix(prefix);
});

describe('gRPC reflection and health', () => {
  it('lists the generation service and grpc.health.v1.Health, and describes GenerateStream', async () => {
    const { reflection } = clientsFor(gateway.grpcAddress);
    try {
      const services = await listServices(reflection);
      expect(services).toEqual(expect.arrayContaining(['dfleet.v1.GenerationService', 'grpc.health.v1.Health']));
      expect(await fileContaining(reflection, 'dfleet.v1.GenerationService.GenerateStream')).toBeGreaterThan(0);
    } finally {
      reflection.close();
    }
  });

  it('answers SERVING while Redis answers, and NOT_SERVING while the gateway drains an open request', async () => {
    const ownPrefix = uniquePrefix();
    const own = await startTestGateway(ownPrefix);
    const idleWorker = await startTestHeartbeat(ownPrefix);
    const { health } = clientsFor(own.grpcAddress);
    const generation = createGenerationClient(own.grpcAddress);
    try {
      await eventually('SERVING', async () => (await check(health, '')) === 'SERVING');
      expect(await check(health, 'dfleet.v1.GenerationService')).toBe('SERVING');
      // An open stream keeps the gRPC port up through the drain, as it would for a load balancer's probe.
      const open = generation.GenerateStream({ model: FIXTURE_MODEL, prompt: 'function f() {\n' });
      const ended = new Promise((resolve) => open.on('error', resolve));
      await eventually('the job to be queued', () => checkQueued(ownPrefix));
      const closing = own.close(10_000);

      expect(await check(health, '')).toBe('NOT_SERVING');
      expect(await check(health, 'dfleet.v1.GenerationService')).toBe('NOT_SERVING');
      open.cancel();
      await ended;
      await closing;
    } finally {
      generation.close();
      health.close();
      await idleWorker.close();
      await deletePrefix(ownPrefix);
    }
  });

  it('answers NOT_SERVING while Redis is unreachable', async () => {
    const down = await startTestGateway(uniquePrefix(), { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` });
    const { health } = clientsFor(down.grpcAddress);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await check(health, '')).toBe('NOT_SERVING');
    } finally {
      health.close();
      await down.close(1_000);
    }
  });
});
