import type { FastifyPluginAsync } from 'fastify';
import { callerOf } from '../http-hooks/authentication.ts';
import type { BatchApi } from './batch-api.ts';
import { listPage, toBatchObject } from './batch-objects.ts';
import { pageQuery } from './batch-query.ts';

export interface BatchRoutesOptions {
  api: BatchApi;
}

/** POST /v1/batches, GET /v1/batches[/:id], POST /v1/batches/:id/cancel, in OpenAI's shapes. */
export const batchRoutes: FastifyPluginAsync<BatchRoutesOptions> = async (app, { api }) => {
  app.post('/v1/batches', async (request) =>
    toBatchObject(await api.createBatch(callerOf(request).tenant, request.body)),
  );

  app.get('/v1/batches', async (request) => {
    const { after, limit } = pageQuery(request.query, { limit: 20, maxLimit: 100 });
    const { batches, hasMore } = await api.listBatches(callerOf(request).tenant, { after, limit });
    return listPage(batches.map(toBatchObject), hasMore);
  });

  app.get<{ Params: { id: string } }>('/v1/batches/:id', async (request) =>
    toBatchObject(await api.getBatch(callerOf(request).tenant, request.params.id)),
  );

  app.post<{ Params: { id: string } }>('/v1/batches/:id/cancel', async (request) =>
    toBatchObject(await api.cancelBatch(callerOf(request).tenant, request.params.id)),
  );
};
