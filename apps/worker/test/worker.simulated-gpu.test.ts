import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SHARED_REDIS_URL,
  deletePrefix,
  fleetEnv,
  postCompletion,
  prompt,
  startGatewayProcess,
  startWorkerProcess,
  uniquePrefix,
  type GatewayProcess,
} from '@dfleet/test-support';
import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';

const SIMULATED_MAIN = fileURLToPath(new URL('../bench/simulated-gpu-main.ts', import.meta.url));
const prefix = uniquePrefix();
const env = fleetEnv(SHARED_REDIS_URL, prefix);
const started: ManagedProcess[] = [];

afterAll(async () => {
  await Promise.all(started.map((process) => process.stop()));
  await deletePrefix(prefix);
});

function startSimulatedWorker(args: string[], id: string): Promise<ManagedProcess> {
  return startManagedProcess({
    name: id,
    command: process.execPath,
    args: ['--import', 'tsx', SIMULATED_MAIN, ...args],
    env: { ...env, DFLEET_WORKER_ID: id },
    readyPattern: /^worker ready id=/,
    log: () => {},
  });
}

describe('simulated GPU worker (bench-only main)', () => {
  let gateway: GatewayProcess;
  let simulatedText = '';

  it('answers completions through a gateway with the configured answer length, in the configured passes', async () => {
    gateway = await startGatewayProcess(env);
    started.push(gateway.process);
    started.push(
      await startSimulatedWorker(['--pass-ms', '5', '--tokens-per-step', '3', '--answer-tokens', '10'], 'sim-1'),
    );
    const answers = await Promise.all(
      [1, 2, 3].map((n) => postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: prompt(n), max_tokens: 48 })),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.usage.completion_tokens).toBe(10);
      expect(answer.body.usage.nfe).toBe(4); // ceil((10 + 1) / 3)
      expect(answer.body.dfleet.finish_reason).toBe('eos');
      expect(answer.body.dfleet.worker_id).toBe('sim-1');
    }
    simulatedText = answers[0]!.body.choices[0].text;
    expect(answers.every((answer) => answer.body.choices[0].text === simulatedText)).toBe(true);
  });

  it('refuses a bad setting at start, naming the option', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', SIMULATED_MAIN, '--tokens-per-step', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^simulated worker: --tokens-per-step: /);
  });

  it('is never what the worker main serves: the same environment decodes with the model', async () => {
    // The real worker on the same queue; its answers come from the ONNX model, not the simulated ids.
    const worker = await startWorkerProcess({ ...env }, 'onnx-1');
    started.push(worker.process);
    const simulated = started[1]!;
    await simulated.stop();
    const answer = await postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: prompt(4), max_tokens: 48 });
    expect(answer.status).toBe(200);
    expect(answer.body.dfleet.worker_id).toBe('onnx-1');
    expect(answer.body.choices[0].text).not.toBe('');
    expect(answer.body.choices[0].text).not.toBe(simulatedText);
  });
});
