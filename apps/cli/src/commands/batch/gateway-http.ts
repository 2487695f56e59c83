import { CliError } from '../../cli-error.ts';

/** What the gateway answered: status, headers and the body (parsed JSON, else its text). */
export interface GatewayAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

interface RequestOptions {
  json?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  /** Return the body as text, unparsed (file contents). */
  asText?: boolean;
}

/** The gateway could not be reached at all (refused, reset, DNS): no answer to record. */
export class GatewayUnreachableError extends CliError {
  override readonly name: string = 'GatewayUnreachableError';
  constructor(baseUrl: string, cause: Error) {
    super(
      'gateway_unreachable',
      `cannot reach the gateway at ${baseUrl} (${describeFetchError(cause)}). Start one with \`npm start\`, or set DFLEET_URL (or --url).`,
    );
  }
}

/** The gateway's `error.code` and `error.message`, when the body has them. */
export function gatewayError(body: unknown): { code?: string; message?: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return {
    ...(typeof error?.code === 'string' ? { code: error.code } : {}),
    ...(typeof error?.message === 'string' ? { message: error.message } : {}),
  };
}

/** A gateway client for one base URL and API key; plain fetch, so every status and header is ours to read. */
export class GatewayHttp {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string | undefined,
  ) {}

  async request(method: string, path: string, options: RequestOptions = {}): Promise<GatewayAnswer> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.apiKey !== undefined && this.apiKey !== '') headers.authorization = `Bearer ${this.apiKey}`;
    let body: string | FormData | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      body = options.form;
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
      text = await response.text();
    } catch (error) {
      throw new GatewayUnreachableError(this.baseUrl, error as Error);
    }
    if (response.status === 401 || response.status === 403) throw unauthorized(response.status, text);
    if (options.asText && response.ok) return { status: response.status, headers: response.headers, body: text };
    return { status: response.status, headers: response.headers, body: parseJson(text) };
  }

  /** A JSON answer that must be 2xx; anything else is a CliError quoting the gateway. */
  async expectOk(method: string, path: string, options: RequestOptions = {}): Promise<GatewayAnswer> {
    const answer = await this.request(method, path, options);
    if (answer.status >= 200 && answer.status < 300) return answer;
    const { code, message } = gatewayError(answer.body);
    throw new CliError(
      code ?? `http_${answer.status}`,
      `${method} ${path}: gateway answered ${answer.status}: ${message ?? String(answer.body)}`,
    );
  }
}

function unauthorized(status: number, text: string): CliError {
  const { code, message } = gatewayError(parseJson(text));
  return new CliError(
    code ?? 'unauthorized',
    `gateway answered ${status}: ${message ?? 'unauthorized'}. Set DFLEET_API_KEY to a key the gateway accepts ` +
      '(`dfleet keys create` makes one); nothing more is sent.',
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** undici's "fetch failed" says nothing; its cause says ECONNREFUSED and the address. */
function describeFetchError(error: Error): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : error.message;
}
