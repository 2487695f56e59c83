import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { hostOf, isPublicAddress, type WebhookHostPolicy } from './webhook-url.ts';

/** How one POST to a receiver ended: an HTTP status, or no answer (refused, timed out, not allowed). */
export type DeliveryAttemptOutcome = { kind: 'answered'; status: number } | { kind: 'no_answer'; error: string };

/** Receivers answer with a body nobody reads; more than this of it is not waited for. */
const MAX_RESPONSE_BYTES = 64 * 1_024;

/**
 * Resolves like dns.lookup but refuses non-public addresses, at connect time: a name that resolved to a
 * public address when the request was accepted cannot be pointed at the gateway's network later.
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 0);
    const usable = addresses.filter((entry) => isPublicAddress(entry.address));
    if (usable.length === 0) {
      const refused = new Error(
        `${hostname} resolves to ${addresses.map((entry) => entry.address).join(', ')}, none of them public ` +
          '(DFLEET_WEBHOOK_ALLOWED_HOSTS unset delivers to public addresses only)',
      ) as NodeJS.ErrnoException;
      refused.code = 'EWEBHOOKADDRESS';
      return callback(refused, '', 0);
    }
    if (options.all) return (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, usable);
    const first = usable[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
};

/**
 * POSTs one signed body. Redirects are not followed (a 3xx is an answer like any other non-2xx), so a
 * receiver cannot send the gateway elsewhere.
 */
export function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; hostPolicy: WebhookHostPolicy },
): Promise<DeliveryAttemptOutcome> {
  const target = new URL(url);
  const host = hostOf(target);
  if (options.hostPolicy.kind === 'public' && isIP(host) !== 0 && !isPublicAddress(host)) {
    return Promise.resolve({ kind: 'no_answer', error: `${host} is not a public address` });
  }
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: DeliveryAttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'dfleet-webhooks',
          ...headers,
        },
        ...(options.hostPolicy.kind === 'public' ? { lookup: publicOnlyLookup } : {}),
      },
      (response) => {
        const status = response.statusCode ?? 0;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) {
            response.destroy();
            settle({ kind: 'answered', status });
          }
        });
        response.on('end', () => settle({ kind: 'answered', status }));
        response.on('error', () => settle({ kind: 'answered', status }));
      },
    );
    // One bound for the whole attempt (connect, send, answer), so a slow receiver cannot hold a slot.
    const timer = setTimeout(() => {
      settle({ kind: 'no_answer', error: `no answer within ${options.timeoutMs} ms` });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) =>
      settle({ kind: 'no_answer', error: error.code ? `${error.code}: ${error.message}` : error.message }),
    );
    request.end(body);
  });
}
