// biome-ignore lint/suspicious/noExplicitAny: tests read the JSON body field by field, as a client would; its shape is what they assert.
type JsonBody = Record<string, any>;

export interface HttpAnswer<T = JsonBody> {
  status: number;
  headers: Headers;
  body: T;
}

/** POST /v1/completions with a JSON body (or a raw string, to send malformed JSON). */
export async function postCompletion(
  httpUrl: string,
  body: unknown,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const response = await fetch(`${httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(options.timeoutMs ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as JsonBody };
}

export async function getJson(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const { timeoutMs = 10_000, ...request } = init;
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), ...request });
  return { status: response.status, headers: response.headers, body: (await response.json()) as JsonBody };
}

/** A short prompt the default model completes in a few steps. */
export const prompt = (n: number): string => `// return x times ${n} plus 7\nfunction f(x) {\n`;
