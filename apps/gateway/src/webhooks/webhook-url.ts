import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** Longest webhook URL a request may name (what browsers and proxies reliably carry). */
const MAX_WEBHOOK_URL_LENGTH = 2_048;

/** Why a string cannot be a webhook URL, or null when it can. */
function webhookUrlProblem(value: string): string | null {
  if (value.length > MAX_WEBHOOK_URL_LENGTH)
    return `is ${value.length} characters long, at most ${MAX_WEBHOOK_URL_LENGTH}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL (write https://host/path)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `uses ${url.protocol.slice(0, -1)}, but results are POSTed over HTTP: use https:// (or http://)`;
  }
  if (url.username !== '' || url.password !== '') {
    return 'carries user:password@, which would be sent to every proxy and log; verify the webhook-signature header instead';
  }
  return null;
}

/**
 * `dfleet.webhook_url` of a completion or a batch: where its result is POSTed. Also for the Batch API's body
 * (import it there), so both name the field and its rules alike.
 */
export const webhookUrlSchema = z
  .string({ error: 'dfleet.webhook_url must be a string (an https:// URL)' })
  .superRefine((value, ctx) => {
    const problem = webhookUrlProblem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: `dfleet.webhook_url ${problem}` });
  });

/**
 * Which hosts deliveries may go to (DFLEET_WEBHOOK_ALLOWED_HOSTS). `public`: any host whose address,
 * checked when connecting, is public, so a client cannot make the gateway POST into its own network
 * (SSRF), DNS tricks included; `any`: anything; `listed`: only these names (`*.example.com` for
 * subdomains), at whatever address, since the operator chose them.
 */
export type WebhookHostPolicy = { kind: 'public' } | { kind: 'any' } | { kind: 'listed'; patterns: readonly string[] };

/** Addresses no public receiver has: loopback, private, link-local, carrier NAT, multicast, reserved. */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** Whether a receiver at this IP address is on the public internet. */
export function isPublicAddress(address: string): boolean {
  const mappedV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mappedV4 !== undefined) return isPublicAddress(mappedV4);
  const family = isIP(address);
  if (family === 0) return false;
  return !NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** A URL's host without IPv6 brackets, lower case. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function matchesPattern(host: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/**
 * Why the policy refuses a webhook URL (already valid by webhookUrlSchema) when a request names it, or null.
 * Under `public` a name is only refused here when it cannot be public (localhost); its addresses are checked
 * again at each delivery, when they are looked up.
 */
export function refusedHost(policy: WebhookHostPolicy, url: URL): string | null {
  const host = hostOf(url);
  switch (policy.kind) {
    case 'any':
      return null;
    case 'listed':
      return policy.patterns.some((pattern) => matchesPattern(host, pattern))
        ? null
        : `host ${host} is not one this gateway delivers to (DFLEET_WEBHOOK_ALLOWED_HOSTS: ${policy.patterns.join(', ')})`;
    case 'public':
      if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && !isPublicAddress(host))) {
        return (
          `host ${host} is not a public address, and this gateway delivers only to public ones ` +
          '(DFLEET_WEBHOOK_ALLOWED_HOSTS unset); its operator can list the hosts to allow'
        );
      }
      return null;
  }
}

/** DFLEET_WEBHOOK_ALLOWED_HOSTS: unset or empty = public, `*` = any, else comma-separated names. */
export function webhookHostPolicyOf(value: string | undefined): WebhookHostPolicy {
  const patterns = (value ?? '')
    .split(',')
    .map((pattern) =>
      pattern
        .trim()
        .toLowerCase()
        .replace(/^\[|\]$/g, ''),
    )
    .filter((pattern) => pattern !== '');
  if (patterns.length === 0) return { kind: 'public' };
  if (patterns.includes('*')) return { kind: 'any' };
  return { kind: 'listed', patterns };
}
