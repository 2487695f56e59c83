import { z } from 'zod';
import { CliError } from '../../cli-error.ts';
import { stableLineId } from './line-id.ts';

export const BATCH_ENDPOINTS = ['/v1/completions', '/v1/chat/completions'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** A line that can be sent: to `url`, with `body` (the model is filled in later when absent). */
export interface BatchRequestLine {
  readonly kind: 'request';
  /** 1-based, counting blank lines, as an editor shows it. */
  readonly lineNumber: number;
  readonly id: string;
  readonly url: BatchEndpoint;
  readonly body: Record<string, unknown>;
}

/** A line that cannot be sent; it is reported in the output as that line's error. */
export interface BadBatchLine {
  readonly kind: 'bad';
  readonly lineNumber: number;
  readonly id: string;
  readonly message: string;
}

export type BatchLine = BatchRequestLine | BadBatchLine;

const CUSTOM_ID_MESSAGE = 'custom_id must be a non-empty string';
const customIdSchema = z.string({ error: CUSTOM_ID_MESSAGE }).min(1, { error: CUSTOM_ID_MESSAGE });

/** OpenAI's batch input line: exactly these four fields. */
const openAiLineSchema = z.strictObject(
  {
    custom_id: customIdSchema,
    method: z.literal('POST', { error: 'method must be "POST"' }),
    url: z.enum(BATCH_ENDPOINTS, { error: `url must be one of ${BATCH_ENDPOINTS.map((u) => `"${u}"`).join(', ')}` }),
    body: z.record(z.string(), z.unknown(), { error: 'body must be a JSON object (the request body)' }),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}: an OpenAI batch line has only custom_id, method, url and body`
        : undefined,
  },
);

/** A plain line: a completions body, with an optional `custom_id` beside its fields. */
const plainLineSchema = z.looseObject({
  custom_id: customIdSchema.optional(),
  prompt: z.unknown().refine((prompt) => prompt !== undefined, {
    error: 'a plain line needs "prompt" (or the OpenAI batch form {"custom_id", "method", "url", "body"})',
  }),
});

/** Fields only OpenAI's form has: a line with any of them is read as that form. */
const OPENAI_ONLY_FIELDS = ['method', 'url', 'body'];

/**
 * Reads a JSONL batch file's text into lines. Blank lines are skipped; a line that is not a JSON
 * object, or not a valid line, becomes a bad line with the reason. Throws CliError when the file
 * holds no line at all, when no line is a JSON object (it is not JSONL: say so rather than fail
 * every line), or when two lines have the same id (naming both line numbers).
 */
export function parseBatchInput(text: string, fileName: string): BatchLine[] {
  const lines: BatchLine[] = [];
  let jsonObjects = 0;
  const physical = text.split('\n');
  for (const [index, raw] of physical.entries()) {
    if (raw.trim() === '') continue;
    const parsed = parseLine(raw, index + 1);
    if (parsed.isObject) jsonObjects++;
    lines.push(parsed.line);
  }
  if (lines.length === 0)
    throw new CliError('empty_input', `${fileName} has no lines: one JSON object per line expected`);
  if (jsonObjects === 0) {
    const first = lines[0] as BadBatchLine;
    throw new CliError(
      'not_jsonl',
      `${fileName} is not JSONL (no line is a JSON object; line ${first.lineNumber}: ${first.message}). ` +
        'Expected one JSON object per line: {"prompt": ...} or {"custom_id", "method": "POST", "url", "body"}',
    );
  }
  rejectDuplicateIds(lines, fileName);
  return lines;
}

function parseLine(raw: string, lineNumber: number): { line: BatchLine; isObject: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    const bad = badLine(raw, lineNumber, undefined, `not valid JSON (${(error as Error).message})`);
    return { line: bad, isObject: false };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value;
    return { line: badLine(raw, lineNumber, undefined, `a line must be a JSON object; got ${what}`), isObject: false };
  }
  const record = value as Record<string, unknown>;
  const customId =
    typeof record['custom_id'] === 'string' && record['custom_id'] !== '' ? record['custom_id'] : undefined;
  if (OPENAI_ONLY_FIELDS.some((field) => field in record)) {
    const result = openAiLineSchema.safeParse(record);
    if (!result.success) return { line: badLine(raw, lineNumber, customId, firstIssue(result.error)), isObject: true };
    return { line: requestLine(raw, lineNumber, customId, result.data.url, result.data.body), isObject: true };
  }
  const result = plainLineSchema.safeParse(record);
  if (!result.success) return { line: badLine(raw, lineNumber, customId, firstIssue(result.error)), isObject: true };
  const { custom_id: _customId, ...body } = record;
  return { line: requestLine(raw, lineNumber, customId, '/v1/completions', body), isObject: true };
}

function requestLine(
  raw: string,
  lineNumber: number,
  customId: string | undefined,
  url: BatchEndpoint,
  body: Record<string, unknown>,
): BatchLine {
  // A stream answers server-sent events, which have no place in an output line.
  if (body['stream'] === true)
    return badLine(raw, lineNumber, customId, 'stream: true is not supported in a batch line');
  return { kind: 'request', lineNumber, id: stableLineId(raw, customId), url, body };
}

function badLine(raw: string, lineNumber: number, customId: string | undefined, message: string): BadBatchLine {
  return { kind: 'bad', lineNumber, id: stableLineId(raw, customId), message: `line ${lineNumber}: ${message}` };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue?.message ?? 'invalid line';
}

function rejectDuplicateIds(lines: readonly BatchLine[], fileName: string): void {
  const firstLineOf = new Map<string, number>();
  for (const line of lines) {
    const earlier = firstLineOf.get(line.id);
    if (earlier === undefined) {
      firstLineOf.set(line.id, line.lineNumber);
      continue;
    }
    const why = line.id.startsWith('line-')
      ? 'they are the same line and neither has a custom_id'
      : `they have the same custom_id "${line.id}"`;
    throw new CliError(
      'duplicate_line_id',
      `${fileName}: lines ${earlier} and ${line.lineNumber} have the same id (${why}); ` +
        'each line needs its own id for resume to know which are done: give them distinct custom_ids',
    );
  }
}
