import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import { parseChatCompletionRequest } from '../chat-request.ts';
import { parseCompletionsCall, type CompletionsCall } from '../completion-answers.ts';
import type { CompletionRequest } from '../completion-request.ts';
import { GatewayError, InvalidRequestError } from '../errors.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { BATCH_ENDPOINTS, type BatchEndpoint, type BatchLevelError } from './batch-store.ts';

/** What one line asks for, validated as its endpoint validates a body. */
export type LineCall =
  | { endpoint: '/v1/completions'; call: CompletionsCall }
  | { endpoint: '/v1/chat/completions'; completion: CompletionRequest };

/**
 * Why a line is not run: an error its endpoint would answer (HTTP status and OpenAI error body
 * in the error file's `response`), or a fault of the line itself (`error`, no response).
 */
type LineFailure = { kind: 'http'; error: GatewayError } | { kind: 'line'; code: string; message: string };

export type BatchLine =
  | { line: number; customId: string; kind: 'request'; call: LineCall }
  | { line: number; customId: string | null; kind: 'refused'; failure: LineFailure };

export type BatchInput = { kind: 'lines'; lines: BatchLine[] } | { kind: 'invalid'; errors: BatchLevelError[] };

export interface BatchInputOptions {
  endpoint: BatchEndpoint;
  catalog: ModelCatalog;
  tenant: string;
  batchId: string;
  /** Most lines a batch may have (DFLEET_BATCH_MAX_LINES). */
  maxLines: number;
  maxBatchPrompts: number;
}

const MAX_CUSTOM_ID_LENGTH = 512;
/**
 * Lines validated between two turns of the event loop: a 50,000-line file takes seconds to
 * validate (each prompt is tokenized), which must not stall the gateway's requests meanwhile.
 */
const LINES_PER_TURN = 200;

const m = {
  custom_id: `custom_id must be a string of 1 to ${MAX_CUSTOM_ID_LENGTH} characters, unique within the batch`,
  method: 'method must be "POST"',
  url: `url must be one of ${BATCH_ENDPOINTS.join(', ')}`,
  body: 'body must be a JSON object: the request body of the endpoint in url',
};

const lineSchema = z.strictObject(
  {
    custom_id: z
      .string({ error: m.custom_id })
      .min(1, { error: m.custom_id })
      .max(MAX_CUSTOM_ID_LENGTH, { error: m.custom_id }),
    method: z.literal('POST', { error: m.method }),
    url: z.enum(BATCH_ENDPOINTS, { error: m.url }),
    body: z.record(z.string(), z.unknown(), { error: m.body }),
  },
  { error: 'each line must be a JSON object { custom_id, method, url, body }' },
);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Splits an input file into its lines and validates each as its endpoint would. A bad line is
 * refused on its own (named by its 1-based line number); only a file that is not JSONL at all
 * (not UTF-8, empty, no line a JSON object, too many lines) fails the batch. Deterministic: a
 * runner that resumes the batch parses the file again and gets the same lines and job ids.
 */
export async function parseBatchInput(content: Buffer, options: BatchInputOptions): Promise<BatchInput> {
  let text: string;
  try {
    text = strictUtf8.decode(content);
  } catch {
    return invalid('invalid_file_encoding', 'the input file is not valid UTF-8; send JSONL encoded as UTF-8');
  }
  const rawLines = text.split('\n').map((raw, index) => ({ raw: raw.replace(/\r$/, ''), line: index + 1 }));
  const present = rawLines.filter(({ raw }) => raw.trim() !== '');
  if (present.length === 0) {
    return invalid('empty_file', 'the input file has no lines; send one JSON request per line');
  }
  if (present.length > options.maxLines) {
    return invalid(
      'too_many_requests',
      `the input file has ${present.length} lines; a batch takes at most ${options.maxLines} (DFLEET_BATCH_MAX_LINES): split it into several batches`,
    );
  }
  const seen = new Set<string>();
  let jsonLines = 0;
  const parseLine = ({ raw, line }: { raw: string; line: number }): BatchLine => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      return refusedLine(line, null, 'invalid_json', `line ${line} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) jsonLines++;
    const customId = customIdOf(value);
    const parsed = lineSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message =
        issue?.code === 'unrecognized_keys'
          ? `unknown field ${issue.keys.map((key) => `'${key}'`).join(', ')}; a line has custom_id, method, url and body`
          : (issue?.message ?? 'invalid line');
      return refusedLine(line, customId, 'invalid_batch_line', `line ${line}: ${message}`);
    }
    const { url, body } = parsed.data;
    const custom = parsed.data.custom_id;
    if (url !== options.endpoint) {
      return refusedLine(
        line,
        custom,
        'invalid_url',
        `line ${line}: url is ${url} but the batch's endpoint is ${options.endpoint}; every line must use the batch's endpoint`,
      );
    }
    if (seen.has(custom)) {
      return refusedLine(
        line,
        custom,
        'duplicate_custom_id',
        `line ${line}: custom_id '${custom}' is used by an earlier line; each line needs a custom_id of its own`,
      );
    }
    seen.add(custom);
    try {
      return { line, customId: custom, kind: 'request', call: lineCallOf(body, line, options) };
    } catch (error) {
      if (error instanceof GatewayError)
        return { line, customId: custom, kind: 'refused', failure: { kind: 'http', error } };
      throw error;
    }
  };
  const lines: BatchLine[] = [];
  for (const [index, raw] of present.entries()) {
    if (index > 0 && index % LINES_PER_TURN === 0) await nextTurn();
    lines.push(parseLine(raw));
  }
  if (jsonLines === 0) {
    return invalid(
      'invalid_jsonl',
      `the input file is not JSONL: none of its ${present.length} lines is a JSON object; send one JSON request per line`,
    );
  }
  return { kind: 'lines', lines };
}

/**
 * The line's body validated by its endpoint's parser, as a batch-priority call whose job ids come
 * from the batch id and the line number (the idempotency key), so a re-feed is the same job.
 */
function lineCallOf(body: Record<string, unknown>, line: number, options: BatchInputOptions): LineCall {
  if (body['idempotency_key'] !== undefined) {
    throw new InvalidRequestError(
      "idempotency_key is not taken in a batch line: each line's jobs are named after the batch and the line, so a rerun is the same job",
      'idempotency_key',
    );
  }
  const context = { idempotencyKeyHeader: `${options.batchId}#${line}` };
  if (options.endpoint === '/v1/chat/completions') {
    const completion = parseChatCompletionRequest(body, options.catalog, context);
    refuseStream(completion);
    return { endpoint: options.endpoint, completion: asBatchWork(completion) };
  }
  const call = parseCompletionsCall(body, options.catalog, {
    ...context,
    tenant: options.tenant,
    maxBatchPrompts: options.maxBatchPrompts,
  });
  if (call.kind === 'single') {
    refuseStream(call.completion);
    return { endpoint: options.endpoint, call: { kind: 'single', completion: asBatchWork(call.completion) } };
  }
  const requests = call.batch.requests.map(asBatchWork);
  return { endpoint: options.endpoint, call: { kind: 'prompts', batch: { ...call.batch, requests } } };
}

function refuseStream(request: CompletionRequest): void {
  if (request.reply.stream !== null) {
    throw new InvalidRequestError(
      'stream: true is not taken in a batch line: its answer is written to the output file whole; send stream: false',
      'stream',
    );
  }
}

/** Lines run in the batch class, whatever `dfleet.priority` says, so interactive traffic stays fast. */
function asBatchWork(request: CompletionRequest): CompletionRequest {
  return { ...request, priority: 'batch' };
}

function customIdOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const customId = (value as Record<string, unknown>)['custom_id'];
  return typeof customId === 'string' ? customId : null;
}

function refusedLine(line: number, customId: string | null, code: string, message: string): BatchLine {
  return { line, customId, kind: 'refused', failure: { kind: 'line', code, message } };
}

function invalid(code: string, message: string): BatchInput {
  return { kind: 'invalid', errors: [{ code, message, param: 'input_file_id', line: null }] };
}
