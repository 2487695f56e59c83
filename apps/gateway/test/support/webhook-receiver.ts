import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A fresh Standard Webhooks secret, as an operator makes one. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** One POST the receiver got, with what the reference implementation said about its signature. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** The verified payload, or null when `Webhook.verify` threw. */
  verified: unknown;
  verifyError: string | null;
  answeredStatus: number;
}

/**
 * A real HTTP receiver on a free loopback port that checks every delivery with the `standardwebhooks`
 * package. `answer(n, path)` is the status of the n-th POST (0-based) to that path; 200 by default.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  readonly #server: Server;
  readonly #secret: string;
  answer: (index: number, path: string) => number;

  private constructor(server: Server, secret: string, answer: (index: number, path: string) => number) {
    this.#server = server;
    this.#secret = secret;
    this.answer = answer;
  }

  static async start(
    secret: string,
    answer: (index: number, path: string) => number = () => 200,
  ): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server, secret, answer);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let verified: unknown = null;
        let verifyError: string | null = null;
        try {
          verified = new Webhook(receiver.#secret).verify(body, request.headers as Record<string, string>);
        } catch (error) {
          verifyError = (error as Error).message;
        }
        const answeredStatus = receiver.answer(receiver.received.length, request.url ?? '/');
        receiver.received.push({ headers: request.headers, body, verified, verifyError, answeredStatus });
        response.writeHead(answeredStatus, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  /** POSTs carrying this event id. */
  deliveriesOf(eventId: string): ReceivedWebhook[] {
    return this.received.filter((one) => one.headers['webhook-id'] === eventId);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
