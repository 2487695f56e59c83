import type { FastifyPluginAsync } from 'fastify';
import type { ModelCatalog, ServedModel } from '../model-catalog.ts';

export interface ModelRoutesOptions {
  catalog: ModelCatalog;
}

function modelEntry(model: ServedModel) {
  return {
    id: model.name,
    object: 'model' as const,
    created: model.createdAt,
    owned_by: 'dfleet',
    dfleet: {
      max_sequence_length: model.maxSequenceLength,
      defaults: { max_tokens: model.defaults.maxNewTokens, block_length: model.defaults.blockLength },
    },
  };
}

/** GET /v1/models and /v1/models/:id: the served models, OpenAI-style, with dfleet's limits and defaults. */
export const modelRoutes: FastifyPluginAsync<ModelRoutesOptions> = async (app, { catalog }) => {
  app.get('/v1/models', async () => ({ object: 'list', data: catalog.list().map(modelEntry) }));

  app.get<{ Params: { id: string } }>('/v1/models/:id', async (request) => modelEntry(catalog.get(request.params.id)));
};
