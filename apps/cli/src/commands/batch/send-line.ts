import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchRequestLine } from './batch-input.ts';
import type { BatchOutputRecord } from './batch-output.ts';
import { GatewayUnreachableError, gatewayError, type GatewayHttp } from './gateway-http.ts';
import { idempotencyKeyFor, outputRecordId } from './line-id.ts';

/** What became of one line: a record for the output, or nothing (a rerun sends it again). */
export type LineOutcome =
  | { readonly kind: 'recorded'; readonly record: BatchOutputRecord; readonly completionTokens: number }
  | { readonly kind: 'left'; readonly reason: string };

/**
 * Answers worth waiting out: rate limited, no worker yet, the gateway's own hiccup, and a timeout
 * (the job is accepted and still decoding; the same Idempotency-Key waits for that job again).
 */
const RETRYABLE_STATUSES = new Set([429, 500, 503, 504]);
const MAX_BACKOFF_MS = 30_000;

export interface SendOptions {
  /** Attempts after the first, for a retryable answer or an unreachable gateway. */
  readonly retries: number;
  /** Aborted on Ctrl-C: no new attempt starts (the request in flight is still awaited). */
  readonly stopping: AbortSignal;
}

/**
 * POSTs one line under its Idempotency-Key, retrying what may pass. A 2xx is a result, another
 * answer is a failed line (with the gateway's error code and message); a retryable answer left
 * after the retries, or an interruption between attempts, records nothing. An unreachable
 * gateway after the retries throws GatewayUnreachableError: every other line would fail too.
 */
export async function sendLine(
  http: GatewayHttp,
  line: BatchRequestLine,
  body: Record<string, unknown>,
  options: SendOptions,
): Promise<LineOutcome> {
  const headers = { 'idempotency-key': idempotencyKeyFor(line.id, body) };
  for (let attempt = 0; ; attempt++) {
    const last = attempt >= options.retries;
    let answer: Awaited<ReturnType<GatewayHttp['request']>>;
    try {
      answer = await http.request('POST', line.url, { json: body, headers });
    } catch (error) {
      if (!(error instanceof GatewayUnreachableError) || last || options.stopping.aborted) throw error;
      if (!(await backOff(attempt, null, options.stopping))) return { kind: 'left', reason: 'interrupted' };
      continue;
    }
    const requestId = answer.headers.get('x-request-id') ?? '';
    const { code, message } = gatewayError(answer.body);
    if (RETRYABLE_STATUSES.has(answer.status)) {
      const reason = `gateway answered ${answer.status} ${code ?? ''}: ${message ?? ''}`.trim();
      if (last || options.stopping.aborted) return { kind: 'left', reason };
      if (!(await backOff(attempt, answer.headers.get('retry-after'), options.stopping))) {
        return { kind: 'left', reason: 'interrupted' };
      }
      continue;
    }
    const ok = answer.status >= 200 && answer.status < 300;
    const record: BatchOutputRecord = {
      id: outputRecordId(line.id),
      custom_id: line.id,
      response: { status_code: answer.status, request_id: requestId, body: answer.body },
      error: ok ? null : { code: code ?? `http_${answer.status}`, message: message ?? String(answer.body) },
    };
    return { kind: 'recorded', record, completionTokens: ok ? completionTokensOf(answer.body) : 0 };
  }
}

/** Waits before the next attempt (Retry-After when the gateway sent one); false when interrupted meanwhile. */
async function backOff(attempt: number, retryAfter: string | null, stopping: AbortSignal): Promise<boolean> {
  const seconds = Number(retryAfter);
  const ms = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 500 * 2 ** attempt;
  try {
    await sleep(Math.min(ms, MAX_BACKOFF_MS), undefined, { signal: stopping });
    return true;
  } catch {
    return false;
  }
}

function completionTokensOf(body: unknown): number {
  const tokens = (body as { usage?: { completion_tokens?: unknown } } | null)?.usage?.completion_tokens;
  return typeof tokens === 'number' ? tokens : 0;
}
