import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerationClient, type GenerateResponse__Output } from '@dfleet/proto';
import { generationJobSchema } from '@dfleet/queue';
import { TestFleet, prompt, type GatewayProcess } from '@dfleet/test-support';

// Two jobs per worker at a time, so eight jobs cannot all land on one worker at once.
const fleet = new TestFleet({ env: { DFLEET_MAX_ACTIVE_JOBS: '2' } });
let gateways: GatewayProcess[] = [];

beforeAll(async () => {
  gateways = await Promise.all([fleet.startGateway('gateway-a'), fleet.startGateway('gateway-b')]);
  await Promise.all([fleet.startWorker('e2e-worker-a'), fleet.startWorker('e2e-worker-b')]);
}, 180_000);

afterAll(() => fleet.close(), 60_000);

interface CompletionBody {
  id: string;
  choices: { text: string; finish_reason: string }[];
  usage: { completion_tokens: number; steps: number; nfe: number };
  dfleet: { worker_id: string };
}

async function completeOverHttp(gateway: GatewayProcess, n: number): Promise<CompletionBody> {
  const response = await fetch(`${gateway.httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'jsfunc-mdm', prompt: prompt(n), dfleet: { strategy: 'threshold', threshold: 0.9 } }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as CompletionBody;
}

function completeOverGrpc(gateway: GatewayProcess, n: number): Promise<GenerateResponse__Output> {
  const client = createGenerationClient(gateway.grpcAddress);
  return new Promise((resolve, reject) =>
    client.Generate(
      { model: 'jsfunc-mdm', prompt: prompt(n), decoding: { strategy: 'threshold', threshold: 0.9 } },
      (error, response) => {
        client.close();
        return error ? reject(error) : resolve(response!);
      },
    ),
  );
}

describe('a fleet of two gateways and two workers on one Redis', () => {
  it('answers every request at the gateway that accepted it, with both workers decoding', async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    const viaA = Array.from({ length: 4 }, (_, i) => completeOverHttp(a, i + 2));
    const viaB = Array.from({ length: 4 }, (_, i) => completeOverGrpc(b, i + 12));
    const [httpAnswers, grpcAnswers] = await Promise.all([Promise.all(viaA), Promise.all(viaB)]);

    const queue = fleet.queue;
    const callbackOf = async (id: string) => generationJobSchema.parse((await queue.getJob(id))!.data).callback.address;
    for (const answer of httpAnswers) {
      expect(answer.usage.nfe).toBeGreaterThan(0);
      expect(await callbackOf(answer.id)).toBe(a.callbackAddress);
    }
    for (const answer of grpcAnswers) {
      expect(answer.usage!.nfe).toBeGreaterThan(0);
      expect(await callbackOf(answer.id)).toBe(b.callbackAddress);
    }
    const finished = await Promise.all([...httpAnswers, ...grpcAnswers].map((answer) => queue.getJob(answer.id)));
    const workerIds = new Set(finished.map((job) => (job!.returnvalue as { workerId: string }).workerId));
    expect(workerIds).toEqual(new Set(['e2e-worker-a', 'e2e-worker-b']));
  });

  it('serves a finished job from Redis through the other gateway', async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    const answer = await completeOverHttp(a, 5);
    const response = await fetch(`${b.httpUrl}/v1/jobs/${answer.id}`);
    expect(response.status).toBe(200);
    const job = (await response.json()) as { state: string; result: CompletionBody };
    expect(job.state).toBe('completed');
    expect(job.result.choices[0]!.text).toBe(answer.choices[0]!.text);
  });

  it('reports ready once workers publish heartbeats', async () => {
    const response = await fetch(`${gateways[0]!.httpUrl}/readyz`);
    expect(response.status).toBe(200);
  });
});
