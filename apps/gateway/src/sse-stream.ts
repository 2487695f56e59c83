import type { FastifyReply } from 'fastify';
import type { GatewayError } from './errors.ts';

/** The comment a quiet stream sends; SSE clients (the OpenAI SDKs included) skip comment lines. */
const KEEP_ALIVE = ': keep-alive\n\n';

/**
 * Server-sent events on a reply Fastify no longer manages (hijacked): the headers Fastify's hooks
 * set so far (x-request-id, CORS) are kept. Writes after the client left are dropped. With a
 * keep-alive, a comment goes out whenever nothing else was written for that long.
 */
export class SseStream {
  readonly #reply: FastifyReply;
  readonly #keepAlive: NodeJS.Timeout | null;

  private constructor(reply: FastifyReply, keepAliveMs: number | null) {
    this.#reply = reply;
    this.#keepAlive = keepAliveMs === null ? null : setInterval(() => this.#write(KEEP_ALIVE), keepAliveMs).unref();
  }

  /** Sends the 200 and the event-stream headers; from here errors can only be events. */
  static open(reply: FastifyReply, { keepAliveMs }: { keepAliveMs: number | null }): SseStream {
    void reply.hijack();
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) headers[name] = value;
    }
    reply.raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // A proxy that buffers (nginx does by default) would hold the deltas back until the end.
      'x-accel-buffering': 'no',
    });
    reply.raw.flushHeaders();
    return new SseStream(reply, keepAliveMs);
  }

  get closed(): boolean {
    return this.#reply.raw.writableEnded || this.#reply.raw.destroyed;
  }

  /** An unnamed event: what OpenAI clients read. */
  data(payload: unknown): void {
    this.#write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  /** A named event (dfleet extensions), which clients that do not know the name may skip. */
  event(name: string, payload: unknown): void {
    this.#write(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`);
  }

  /** OpenAI's end of stream. */
  done(): void {
    this.#write('data: [DONE]\n\n');
    this.end();
  }

  /** A failure after the 200 went out: OpenAI's SDKs throw the `error` of a data event. */
  fail(error: GatewayError): void {
    this.data(error.toResponseBody());
    this.end();
  }

  end(): void {
    if (this.#keepAlive !== null) clearInterval(this.#keepAlive);
    if (!this.closed) this.#reply.raw.end();
  }

  #write(chunk: string): void {
    if (this.closed) return;
    this.#reply.raw.write(chunk);
    // Counted from the last write, whatever it was.
    this.#keepAlive?.refresh();
  }
}
