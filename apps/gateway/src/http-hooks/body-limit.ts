import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { PayloadTooLargeError } from '../errors.ts';

/** The 413 for a body above the limit, whether Fastify or the `Expect: 100-continue` check finds it. */
export const bodyTooLarge = (limit: number, variable = 'DFLEET_MAX_BODY_BYTES'): PayloadTooLargeError =>
  new PayloadTooLargeError(`request body is larger than ${limit} bytes (${variable})`, null);

/**
 * A client that asks before sending (`Expect: 100-continue`, as curl does for large bodies)
 * learns of the 413 before it uploads anything; Node would otherwise say "continue" at once.
 */
export function refuseLargeBodiesBeforeUpload(
  app: FastifyInstance,
  bodyLimitBytes: number,
  upload: { path: string; limitBytes: number },
): void {
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const length = Number(request.headers['content-length']);
    // File uploads have a limit of their own (the route enforces it while reading the parts).
    const isUpload = request.url?.split('?')[0] === upload.path;
    const limit = isUpload ? upload.limitBytes : bodyLimitBytes;
    if (Number.isFinite(length) && length > limit) {
      const error = isUpload ? bodyTooLarge(limit, 'DFLEET_MAX_FILE_BYTES') : bodyTooLarge(limit);
      response.writeHead(error.httpStatus, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      response.end(JSON.stringify(error.toResponseBody()));
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });
}
