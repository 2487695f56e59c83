import { describe, expect, it } from 'vitest';
import { isPublicAddress, refusedHost, webhookHostPolicyOf, webhookUrlSchema } from '../src/webhooks/webhook-url.ts';

const problemOf = (value: unknown) => {
  const parsed = webhookUrlSchema.safeParse(value);
  return parsed.success ? null : parsed.error.issues[0]?.message;
};

describe('webhookUrlSchema', () => {
  it('takes http and https URLs', () => {
    expect(problemOf('https://hooks.example.com/dfleet?x=1')).toBeNull();
    expect(problemOf('http://127.0.0.1:8080/hook')).toBeNull();
  });

  it.each([
    ['ftp://example.com/x', /uses ftp, but results are POSTed over HTTP/],
    ['example.com/hook', /not an absolute URL/],
    ['https://user:pw@example.com/', /user:password@/],
    [`https://example.com/${'a'.repeat(2_100)}`, /at most 2048/],
    [42, /must be a string/],
  ])('refuses %s, naming the field and why', (value, reason) => {
    const problem = problemOf(value);
    expect(problem).toMatch(/^dfleet\.webhook_url /);
    expect(problem).toMatch(reason);
  });
});

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '::1',
    'fd00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '0.0.0.0',
  ])('%s is not public', (address) => expect(isPublicAddress(address)).toBe(false));

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111'])('%s is public', (address) =>
    expect(isPublicAddress(address)).toBe(true),
  );
});

describe('refusedHost', () => {
  const url = (value: string) => new URL(value);

  it('unset: refuses loopback and private literals and localhost, lets names through to the connect-time check', () => {
    const policy = webhookHostPolicyOf(undefined);
    expect(refusedHost(policy, url('http://127.0.0.1:9/x'))).toMatch(
      /not a public address.*DFLEET_WEBHOOK_ALLOWED_HOSTS/,
    );
    expect(refusedHost(policy, url('http://[::1]/x'))).toMatch(/not a public address/);
    expect(refusedHost(policy, url('http://localhost/x'))).toMatch(/not a public address/);
    expect(refusedHost(policy, url('https://hooks.example.com/x'))).toBeNull();
  });

  it('a list allows its names and subdomains of a *. pattern only, at any address', () => {
    const policy = webhookHostPolicyOf('127.0.0.1, *.example.com');
    expect(refusedHost(policy, url('http://127.0.0.1:9/x'))).toBeNull();
    expect(refusedHost(policy, url('https://a.example.com/x'))).toBeNull();
    expect(refusedHost(policy, url('https://example.com/x'))).toMatch(/not one this gateway delivers to/);
    expect(refusedHost(policy, url('https://evil-example.com/x'))).toMatch(/127\.0\.0\.1, \*\.example\.com/);
  });

  it('* allows any host', () => {
    expect(refusedHost(webhookHostPolicyOf('*'), url('http://10.0.0.1/x'))).toBeNull();
  });
});
