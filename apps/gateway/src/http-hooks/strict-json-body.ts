import type { FastifyInstance } from 'fastify';
import { InvalidRequestError, UnsupportedMediaTypeError } from '../errors.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Accepts only JSON bodies, and only valid UTF-8 JSON: Fastify's own parser would turn invalid
 * bytes into U+FFFD and run a request the client never sent.
 */
export function acceptStrictJsonBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8' && charset.toLowerCase() !== 'utf8') {
      done(new UnsupportedMediaTypeError(`Content-Type charset must be utf-8, not '${charset}'`, null));
      return;
    }
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new InvalidRequestError('request body is not valid UTF-8; send JSON encoded as UTF-8', null));
      return;
    }
    if (text.trim() === '') {
      done(new InvalidRequestError('request body is empty; send a JSON object', null));
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new InvalidRequestError(`request body is not valid JSON: ${(error as Error).message}`, null));
    }
  });
}
