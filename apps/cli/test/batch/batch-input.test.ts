import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli-error.ts';
import { parseBatchInput, type BadBatchLine, type BatchLine } from '../../src/commands/batch/batch-input.ts';
import { idempotencyKeyFor, stableLineId } from '../../src/commands/batch/line-id.ts';

const jsonl = (...lines: unknown[]): string =>
  lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');

function thrown(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error('expected a CliError');
}

describe('parseBatchInput', () => {
  it('reads OpenAI lines and plain lines, with the plain line minus custom_id as the body', () => {
    const openAi = { custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } };
    const lines = parseBatchInput(jsonl(openAi, { custom_id: 'b', prompt: 'p', seed: 3 }, { prompt: 'q' }), 'in.jsonl');
    expect(lines).toEqual<BatchLine[]>([
      { kind: 'request', lineNumber: 1, id: 'a', url: '/v1/chat/completions', body: { messages: [] } },
      { kind: 'request', lineNumber: 2, id: 'b', url: '/v1/completions', body: { prompt: 'p', seed: 3 } },
      {
        kind: 'request',
        lineNumber: 3,
        id: stableLineId('{"prompt":"q"}', undefined),
        url: '/v1/completions',
        body: { prompt: 'q' },
      },
    ]);
  });

  it('skips blank lines but numbers lines as an editor does', () => {
    const lines = parseBatchInput(`\n{"prompt": "a"}\n\n  \n{"prompt": "b"}\n`, 'in.jsonl');
    expect(lines.map((line) => line.lineNumber)).toEqual([2, 5]);
  });

  it.each([
    ['{"prompt": ', 'line 2: not valid JSON'],
    ['[1, 2]', 'line 2: a line must be a JSON object; got an array'],
    ['{"custom_id": "x", "seed": 1}', 'line 2: a plain line needs "prompt"'],
    ['{"custom_id": "x", "method": "GET", "url": "/v1/completions", "body": {}}', 'line 2: method must be "POST"'],
    [
      '{"custom_id": "x", "method": "POST", "url": "/v1/embeddings", "body": {}}',
      'line 2: url must be one of "/v1/completions", "/v1/chat/completions"',
    ],
    ['{"method": "POST", "url": "/v1/completions", "body": {}}', 'line 2: custom_id must be a non-empty string'],
    [
      '{"custom_id": "x", "method": "POST", "url": "/v1/completions", "body": {}, "extra": 1}',
      'line 2: unknown field "extra"',
    ],
    ['{"prompt": "p", "stream": true}', 'line 2: stream: true is not supported'],
  ])('makes %s a bad line naming the line and why', (bad, message) => {
    const [, line] = parseBatchInput(jsonl({ prompt: 'ok' }, bad), 'in.jsonl');
    expect(line).toMatchObject({ kind: 'bad', lineNumber: 2 });
    expect((line as BadBatchLine).message).toContain(message);
  });

  it('keeps the custom_id of a bad line that has one, so its error is reported under it', () => {
    const [line] = parseBatchInput('{"custom_id": "mine", "seed": 1}', 'in.jsonl');
    expect(line?.id).toBe('mine');
  });

  it('refuses a file in which no line is a JSON object: it is not JSONL', () => {
    const error = thrown(() => parseBatchInput('prompt one\nprompt two\n', 'prompts.txt'));
    expect(error.code).toBe('not_jsonl');
    expect(error.message).toContain('prompts.txt is not JSONL');
    expect(error.message).toContain('line 1: not valid JSON');
  });

  it('refuses a file with no lines', () => {
    expect(thrown(() => parseBatchInput('\n\n', 'in.jsonl')).code).toBe('empty_input');
  });

  it('refuses two lines with one custom_id, naming both line numbers', () => {
    const error = thrown(() =>
      parseBatchInput(
        jsonl({ custom_id: 'x', prompt: 'a' }, { prompt: 'b' }, { custom_id: 'x', prompt: 'c' }),
        'in.jsonl',
      ),
    );
    expect(error.code).toBe('duplicate_line_id');
    expect(error.message).toContain('lines 1 and 3');
    expect(error.message).toContain('"x"');
  });

  it('refuses the same line twice without a custom_id, naming both line numbers', () => {
    const error = thrown(() => parseBatchInput(jsonl({ prompt: 'a' }, { prompt: 'a' }), 'in.jsonl'));
    expect(error.message).toContain('lines 1 and 2');
    expect(error.message).toContain('neither has a custom_id');
  });
});

describe('line ids', () => {
  it('is the custom_id when there is one, else a hash of the trimmed line', () => {
    expect(stableLineId('{"prompt": "a"}', 'mine')).toBe('mine');
    expect(stableLineId('{"prompt": "a"}  ', undefined)).toBe(stableLineId('{"prompt": "a"}', undefined));
    expect(stableLineId('{"prompt": "a"}', undefined)).not.toBe(stableLineId('{"prompt": "b"}', undefined));
    expect(stableLineId('{"prompt": "a"}', undefined)).toMatch(/^line-[0-9a-f]{24}$/);
  });

  it('keys a line by its id and the body sent: an edited body or another file is another job', () => {
    const key = idempotencyKeyFor('a', { prompt: 'p' });
    expect(idempotencyKeyFor('a', { prompt: 'p' })).toBe(key);
    expect(idempotencyKeyFor('a', { prompt: 'q' })).not.toBe(key);
    expect(idempotencyKeyFor('b', { prompt: 'p' })).not.toBe(key);
    expect(key.length).toBeLessThanOrEqual(256);
  });
});
