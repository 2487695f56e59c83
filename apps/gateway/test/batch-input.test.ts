import { beforeAll, describe, expect, it } from 'vitest';
import { parseBatchInput, type BatchInput, type BatchInputOptions } from '../src/batches/batch-input.ts';
import { parseCompletionRequest } from '../src/completion-request.ts';
import { GatewayError } from '../src/errors.ts';
import { loadServedModel, ModelCatalog } from '../src/model-catalog.ts';
import { FIXTURE_MODEL, FIXTURE_MODEL_DIR } from './support/test-fleet.ts';

let options: BatchInputOptions;
beforeAll(async () => {
  const catalog = new ModelCatalog([await loadServedModel(FIXTURE_MODEL_DIR)]);
  options = {
    endpoint: '/v1/completions',
    catalog,
    tenant: 'acme',
    batchId: 'batch_0123',
    maxLines: 5,
    maxBatchPrompts: 4,
  };
});

const body = { model: FIXTURE_MODEL, prompt: 'a' };
const line = (customId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/completions', body: { ...body, ...extra } });

function parse(text: string, overrides: Partial<BatchInputOptions> = {}): Promise<BatchInput> {
  return parseBatchInput(Buffer.from(text), { ...options, ...overrides });
}

async function linesOf(pending: Promise<BatchInput>) {
  const input = await pending;
  if (input.kind !== 'lines') throw new Error(`expected lines, got ${JSON.stringify(input.errors)}`);
  return input.lines;
}

describe('parseBatchInput', async () => {
  it('numbers lines as the file does, skipping blank ones, and runs each as batch work named after the batch and line', async () => {
    const lines = await linesOf(parse(`${line('a')}\n\n${line('b')}\r\n`));
    expect(lines.map((l) => [l.line, l.customId, l.kind])).toEqual([
      [1, 'a', 'request'],
      [3, 'b', 'request'],
    ]);
    const [first] = lines;
    if (first?.kind !== 'request' || first.call.endpoint !== '/v1/completions' || first.call.call.kind !== 'single') {
      throw new Error('expected a single completion');
    }
    expect(first.call.call.completion.priority).toBe('batch');
    expect(first.call.call.completion.idempotencyKey).toBe('batch_0123#1');
  });

  it('runs a line even when its body asks for interactive priority', async () => {
    const [only] = await linesOf(parse(line('a', { dfleet: { priority: 'interactive' } })));
    expect(
      only?.kind === 'request' && only.call.endpoint === '/v1/completions' && only.call.call.kind === 'single'
        ? only.call.call.completion.priority
        : null,
    ).toBe('batch');
  });

  it('refuses a bad line with what its endpoint would answer, and the rest run', async () => {
    const lines = await linesOf(parse([line('ok'), line('hot', { temperature: 5 }), line('ok')].join('\n')));
    expect(lines.map((l) => l.kind)).toEqual(['request', 'refused', 'refused']);
    const hot = lines[1];
    if (hot?.kind !== 'refused' || hot.failure.kind !== 'http') throw new Error('expected an endpoint error');
    let direct: unknown;
    try {
      parseCompletionRequest({ ...body, temperature: 5 }, options.catalog);
    } catch (error) {
      direct = error;
    }
    expect(direct).toBeInstanceOf(GatewayError);
    expect(hot.failure.error.toResponseBody()).toEqual((direct as GatewayError).toResponseBody());
    expect(lines[2]?.kind === 'refused' && lines[2].failure).toMatchObject({
      kind: 'line',
      code: 'duplicate_custom_id',
    });
  });

  it('names the fault of a line that never reaches its endpoint', async () => {
    const chat = JSON.stringify({ custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body });
    const get = JSON.stringify({ custom_id: 'g', method: 'GET', url: '/v1/completions', body });
    const lines = await linesOf(parse(['{"custom_id": "x",', chat, get, line('s', { stream: true })].join('\n')));
    const codes = lines.map((l) =>
      l.kind === 'refused' ? (l.failure.kind === 'line' ? l.failure.code : l.failure.error.param) : null,
    );
    expect(codes).toEqual(['invalid_json', 'invalid_url', 'invalid_batch_line', 'stream']);
  });

  it('refuses an idempotency_key in a line: the job ids are the batch and the line', async () => {
    const [only] = await linesOf(parse(line('k', { idempotency_key: 'mine' })));
    expect(only?.kind === 'refused' && only.failure.kind === 'http' ? only.failure.error.param : null).toBe(
      'idempotency_key',
    );
  });

  it('fails the whole batch only for a file that is not JSONL at all', async () => {
    const codeOf = async (pending: Promise<BatchInput>) => {
      const input = await pending;
      return input.kind === 'invalid' ? input.errors[0]?.code : 'lines';
    };
    expect(await codeOf(parse('a,b\nc,d\n'))).toBe('invalid_jsonl');
    expect(await codeOf(parse('\n \n'))).toBe('empty_file');
    expect(await codeOf(parseBatchInput(Buffer.from([0xff, 0xfe, 0x00]), options))).toBe('invalid_file_encoding');
    expect(await codeOf(parse(Array.from({ length: 6 }, (_, i) => line(`l${i}`)).join('\n')))).toBe(
      'too_many_requests',
    );
    expect(await codeOf(parse(`a,b\n${line('a')}`))).toBe('lines');
  });

  it('takes 50,000 lines, the most a batch may have by default', async () => {
    const text = Array.from({ length: 50_000 }, (_, i) => line(`l${i}`)).join('\n');
    const lines = await linesOf(parse(text, { maxLines: 50_000 }));
    expect(lines.length).toBe(50_000);
    expect(lines.every((l) => l.kind === 'request')).toBe(true);
  }, 120_000);
});
