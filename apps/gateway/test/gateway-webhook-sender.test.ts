import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postWebhook } from '../src/webhooks/webhook-sender.ts';
import { webhookHostPolicyOf } from '../src/webhooks/webhook-url.ts';

// A real loopback server answering by path: how the sender bounds, refuses and reports attempts.
let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    hits += 1;
    request.resume();
    if (request.url === '/slow') return; // never answers
    if (request.url === '/redirect') {
      response.writeHead(302, { location: `http://127.0.0.1:${port}/ok` }).end();
      return;
    }
    response.writeHead(200).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const listed = webhookHostPolicyOf('127.0.0.1,localhost');
const send = (path: string, policy = listed, host = '127.0.0.1') =>
  postWebhook(`http://${host}:${port}${path}`, '{}', {}, { timeoutMs: 500, hostPolicy: policy });

describe('postWebhook', () => {
  it('reports the status of an answer', async () => {
    expect(await send('/ok')).toEqual({ kind: 'answered', status: 200 });
  });

  it('does not follow a redirect: the 3xx is the answer', async () => {
    const before = hits;
    expect(await send('/redirect')).toEqual({ kind: 'answered', status: 302 });
    expect(hits - before).toBe(1);
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    const outcome = await send('/slow');
    expect(outcome).toEqual({ kind: 'no_answer', error: 'no answer within 500 ms' });
  });

  it('with the public-only default, refuses a name that resolves to loopback, when connecting, without a POST', async () => {
    const before = hits;
    const outcome = await send('/ok', webhookHostPolicyOf(undefined), 'localhost');
    expect(outcome.kind).toBe('no_answer');
    expect(outcome.kind === 'no_answer' && outcome.error).toMatch(
      /EWEBHOOKADDRESS: localhost resolves to .*none of them public/,
    );
    expect(hits).toBe(before);
  });

  it('with the public-only default, refuses a loopback address literal', async () => {
    const outcome = await send('/ok', webhookHostPolicyOf(undefined));
    expect(outcome).toEqual({ kind: 'no_answer', error: '127.0.0.1 is not a public address' });
  });
});
