import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import { PLAYGROUND_DIR } from '../playground-dir.ts';
import { strategyCatalogBody } from '../strategy-catalog.ts';

const ASSETS = [
  { path: '/playground', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/playground/playground.js', file: 'playground.js', type: 'text/javascript; charset=utf-8' },
  { path: '/playground/playground.css', file: 'playground.css', type: 'text/css; charset=utf-8' },
] as const;

/**
 * The page talks to this gateway only, and runs only its own script: a prompt or an answer shown
 * on it cannot load or run anything, and no other site can frame it to read the key typed in.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * GET /playground: a page that streams a completion with `dfleet.stream_states` and shows the
 * answer unmasking step by step. The page and its strategy list are public (they hold nothing of
 * a tenant); its API calls carry the key the user types, so it works with API keys on.
 */
export const playgroundRoutes: FastifyPluginAsync = async (app) => {
  const files = await Promise.all(ASSETS.map(async (asset) => readFile(new URL(asset.file, PLAYGROUND_DIR))));
  ASSETS.forEach((asset, i) => {
    const body = files[i] as Buffer;
    app.get(asset.path, async (_request, reply) =>
      reply
        .header('content-type', asset.type)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(body),
    );
  });

  const strategies = strategyCatalogBody();
  app.get('/playground/strategies.json', async (_request, reply) =>
    reply.header('cache-control', 'no-cache').send(strategies),
  );
};
