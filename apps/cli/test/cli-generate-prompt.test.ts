import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runDfleet } from './support/run-dfleet.ts';

/** A stand-in gateway that records each completion body and answers a fixed completion. */
const bodies: Record<string, unknown>[] = [];
let gateway: Server;
let gatewayUrl: string;

beforeAll(async () => {
  gateway = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      response.setHeader('content-type', 'application/json');
      if (request.url === '/v1/models') return response.end(JSON.stringify({ data: [{ id: 'stub-model' }] }));
      bodies.push(JSON.parse(body) as Record<string, unknown>);
      const usage = { prompt_tokens: 3, completion_tokens: 2, steps: 1, nfe: 1 };
      const choices = [{ text: ' ok', finish_reason: 'stop' }];
      response.end(JSON.stringify({ id: 'c1', model: 'stub-model', choices, usage }));
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => gateway.close(() => resolve())));

async function promptSent(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<unknown> {
  const before = bodies.length;
  const run = await runDfleet(['generate', ...args], options);
  expect(run.stderr).toBe('');
  expect(run).toMatchObject({ status: 0, stdout: ' ok\n-- 2 tokens, 1 steps, 1 NFE, finish_reason=stop\n' });
  expect(bodies).toHaveLength(before + 1);
  return bodies.at(-1)?.prompt;
}

describe('dfleet generate', () => {
  it('reads a prompt of - from stdin, as it is', async () => {
    const prompt = '// return x plus 1\nfunction f(x) {\n';
    expect(await promptSent(['-', '--url', gatewayUrl], { stdin: prompt })).toBe(prompt);
  });

  it('sends the words of the command line as the prompt, with \\n as a newline', async () => {
    const sent = await promptSent(['// return', 'x\\nfunction f(x) {', '--url', gatewayUrl]);
    expect(sent).toBe('// return x\nfunction f(x) {');
  });

  it('sends a literal - when it is one word of several, and after --', async () => {
    expect(await promptSent(['a', '-', 'b', '--url', gatewayUrl])).toBe('a - b');
    expect(await promptSent(['--url', gatewayUrl, '--', '--help'])).toBe('--help');
  });

  it('calls the gateway DFLEET_URL names when there is no --url', async () => {
    expect(await promptSent(['hello'], { env: cleanEnv({ DFLEET_URL: gatewayUrl }) })).toBe('hello');
  });

  it('sends --max-tokens as the cap and --gen-length as the canvas (dfleet.gen_length)', async () => {
    await promptSent(['hello', '--max-tokens', '256', '--gen-length', '24', '--url', gatewayUrl]);
    expect(bodies.at(-1)).toMatchObject({ max_tokens: 256, dfleet: { gen_length: 24 } });
  });
});
