import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEvalTasks, programFromCompletion, runUntrusted, type EvalTask } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { TestFleet } from '@dfleet/test-support';
import { README_GATEWAY_URL, curlExamples, type CurlExample } from './readme-curl-examples.ts';

// Every curl example in README.md, run as written (by bash and curl) against a fleet of this
// test's own, in README order: the job lookups further down read the job the idempotency-key
// example made. A completion passes when its code passes the tests of the held-out task with the
// same prompt, so the README can only show prompts whose answers are checked.

const run = promisify(execFile);
const examples = curlExamples(readFileSync(new URL('../../../README.md', import.meta.url), 'utf8'));
const fleet = new TestFleet();
let gatewayUrl = '';
let taskByPrompt = new Map<string, EvalTask>();

interface Completion {
  object: 'text_completion';
  choices: { text: string }[];
}

interface ChatCompletion {
  object: 'chat.completion';
  choices: { message: { content: string } }[];
}

/** A streamed answer (`stream: true`), read back as the completion its chunks add up to. */
function fromEventStream(transcript: string): Completion {
  const texts: string[] = [];
  for (const line of transcript.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice('data: '.length)) as {
      object: string;
      choices?: { index: number; text?: string; delta?: { content?: string } }[];
    };
    if (chunk.object !== 'text_completion' && chunk.object !== 'chat.completion.chunk') continue;
    for (const choice of chunk.choices ?? []) {
      texts[choice.index] = (texts[choice.index] ?? '') + (choice.text ?? choice.delta?.content ?? '');
    }
  }
  return { object: 'text_completion', choices: texts.map((text) => ({ text })) };
}

/** The prompts of a request: `prompt`, or the last user message of a chat (the shipped template's prompt). */
function promptsOf(body: Record<string, unknown> | undefined): string[] {
  const messages = body?.['messages'] as { role: string; content: string }[] | undefined;
  if (messages) return [messages.filter((message) => message.role === 'user').at(-1)?.content ?? ''];
  const prompt = body?.['prompt'];
  return Array.isArray(prompt) ? (prompt as string[]) : [prompt as string];
}

async function runCurl(example: CurlExample): Promise<{ status: number; body: unknown }> {
  // -w writes the status after the body, on a line of its own.
  const command = `${example.command.replaceAll(README_GATEWAY_URL, gatewayUrl)} -w '\\n%{http_code}'`;
  // The API-keys example sends `Bearer $KEY`; this fleet runs without keys, so any value passes.
  const { stdout } = await run('bash', ['-c', command], { env: { ...process.env, KEY: 'unused' }, timeout: 60_000 });
  const statusAt = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, statusAt);
  const streamed = text.startsWith('data: ') || text.startsWith('event: ');
  return { status: Number(stdout.slice(statusAt + 1)), body: streamed ? fromEventStream(text) : JSON.parse(text) };
}

async function failedSpecs(prompts: string[], completion: Completion): Promise<string[]> {
  const tasks = prompts.map((prompt) => {
    const task = taskByPrompt.get(prompt);
    if (!task) {
      throw new Error(`README prompt ${JSON.stringify(prompt)} is not a held-out task: use one of eval/heldout.jsonl`);
    }
    return task;
  });
  const texts = completion.choices.map((choice) => choice.text);
  const verdicts = await runUntrusted(tasks.map((task, i) => programFromCompletion(task, texts[i]!)));
  return verdicts.flatMap((v, i) => (v.passed ? [] : [`${v.id}: ${v.error} ${v.detail}: ${texts[i]}`]));
}

beforeAll(async () => {
  const tasks = await loadEvalTasks(`${DEFAULT_MODEL_DIR}/eval/heldout.jsonl`);
  taskByPrompt = new Map(tasks.map((task) => [task.prompt, task]));
  const gateway = await fleet.startGateway();
  await fleet.startWorker('readme-worker');
  gatewayUrl = gateway.httpUrl;
}, 120_000);

afterAll(() => fleet.close(), 60_000);

describe('README curl examples', () => {
  it('finds the examples (a README without any would pass the rest silently)', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  for (const example of examples) {
    const what = example.comment || example.command.split('\n')[0]!;
    const title = what.includes(`answers ${example.expectedStatus}`)
      ? what
      : `${what} answers ${example.expectedStatus}`;
    it(title, async () => {
      const answer = await runCurl(example);
      expect(answer.status, JSON.stringify(answer.body)).toBe(example.expectedStatus);
      const answered = answer.body as Partial<Completion> | Partial<ChatCompletion>;
      const body: Partial<Completion> =
        answered.object === 'chat.completion'
          ? {
              object: 'text_completion',
              choices: (answered as ChatCompletion).choices.map((choice) => ({ text: choice.message.content })),
            }
          : (answered as Partial<Completion>);
      if (body.object !== 'text_completion') return;
      const prompts = promptsOf(example.body);
      expect(body.choices).toHaveLength(prompts.length);
      expect(await failedSpecs(prompts, body as Completion)).toEqual([]);
    });
  }
});
