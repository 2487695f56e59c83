import type { FastifyInstance } from 'fastify';
import { InternalGatewayError } from '../errors.ts';
import type { Caller, RequestAuthenticator } from '../request-authenticator.ts';
import { TENANT_HEADER } from '../request-identity.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every /v1/ route. */
    caller: Caller | null;
  }
}

/**
 * Authenticates every /v1/ route before its body is read, so an unauthenticated client cannot
 * make the gateway parse a large body; probes and unknown routes need no key.
 */
export function authenticateApiRequests(app: FastifyInstance, authenticator: RequestAuthenticator): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') || request.routeOptions.url === undefined) return;
    // A CORS preflight never carries credentials; the CORS plugin answers it.
    if (request.method === 'OPTIONS') return;
    const authorization = request.headers.authorization;
    const tenant = request.headers[TENANT_HEADER];
    request.caller = await authenticator.authenticate({
      authorization,
      tenant: Array.isArray(tenant) ? tenant[0] : tenant,
    });
  });
}

/** The caller of a /v1/ route, which the authentication hook has set. */
export function callerOf(request: { caller: Caller | null }): Caller {
  if (request.caller === null) throw new InternalGatewayError('route reached without authentication');
  return request.caller;
}
