import { CliError } from './cli-error.ts';

export interface CompletionBody {
  prompt: string;
  model?: string;
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  dfleet?: Record<string, string | number>;
}

export interface Completion {
  id: string;
  model: string;
  choices: { text: string; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; steps: number; nfe: number };
  dfleet?: { queue_ms: number; decode_ms: number; total_ms: number; worker_id: string };
}

async function callGateway<T>(baseUrl: string, path: string, init: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, init);
  } catch (error) {
    throw new CliError(
      'gateway_unreachable',
      `cannot reach the gateway at ${baseUrl} (${(error as Error).message}). Start one with \`npm start\` or set DFLEET_URL.`,
    );
  }
  const payload = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!response.ok) {
    throw new CliError(
      payload.error?.code ?? `http_${response.status}`,
      `gateway answered ${response.status}: ${payload.error?.message ?? response.statusText}`,
    );
  }
  return payload as T;
}

/**
 * POST /v1/completions; without a model name it asks the gateway which model it serves first.
 * `apiKey` is sent as a bearer token when the gateway requires keys.
 * A gateway error becomes a CliError with the gateway's own message.
 */
export async function requestCompletion(baseUrl: string, body: CompletionBody, apiKey?: string): Promise<Completion> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey !== undefined && apiKey !== '') headers.authorization = `Bearer ${apiKey}`;
  const model =
    body.model ?? (await callGateway<{ data: { id: string }[] }>(baseUrl, '/v1/models', { headers })).data[0]?.id;
  return callGateway<Completion>(baseUrl, '/v1/completions', {
    method: 'POST',
    headers,
    body: JSON.stringify({ ...body, model }),
  });
}

export function formatCompletion(completion: Completion): string {
  const choice = completion.choices[0];
  const timing = completion.dfleet
    ? `, ${completion.dfleet.total_ms.toFixed(1)} ms (decode ${completion.dfleet.decode_ms.toFixed(1)} ms)`
    : '';
  return (
    `${choice?.text ?? ''}\n` +
    `-- ${completion.usage.completion_tokens} tokens, ${completion.usage.steps} steps, ${completion.usage.nfe} NFE${timing}, finish_reason=${choice?.finish_reason}`
  );
}
