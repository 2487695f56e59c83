import multipart from '@fastify/multipart';
import type { FastifyPluginAsync } from 'fastify';
import { InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import type { BatchApi } from './batch-api.ts';
import { listPage, toFileObject } from './batch-objects.ts';
import { pageQuery } from './batch-query.ts';

export interface FileRoutesOptions {
  api: BatchApi;
  maxFileBytes: number;
}

/** OpenAI's file list takes up to 10,000 per page, and that many by default. */
const MAX_FILES_PAGE = 10_000;

/** POST /v1/files (multipart upload, as the openai SDK sends it), GET /v1/files[/:id[/content]], DELETE /v1/files/:id. */
export const fileRoutes: FastifyPluginAsync<FileRoutesOptions> = async (app, { api, maxFileBytes }) => {
  // Only this plugin parses multipart bodies; the rest of the API stays JSON only.
  await app.register(multipart, { limits: { fileSize: maxFileBytes, files: 1, fields: 4, parts: 5 } });

  app.post('/v1/files', async (request) => {
    const { tenant } = callerOf(request);
    if (!request.isMultipart()) {
      throw new UnsupportedMediaTypeError(
        'POST /v1/files takes multipart/form-data with a `file` part and a `purpose` field (as the openai SDK sends it)',
        null,
      );
    }
    let purpose: string | null = null;
    let upload: { filename: string; content: Buffer } | null = null;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file')
            throw new InvalidRequestError(`unknown file part '${part.fieldname}'; send it as 'file'`, part.fieldname);
          upload = { filename: part.filename, content: await part.toBuffer() };
        } else if (part.fieldname === 'purpose') {
          purpose = String(part.value);
        }
      }
    } catch (error) {
      if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
        throw new PayloadTooLargeError(
          `file is larger than ${maxFileBytes} bytes, the largest this gateway stores (DFLEET_MAX_FILE_BYTES): split it into several batches`,
          'file',
        );
      }
      throw error;
    }
    if (upload === null) throw new InvalidRequestError('the upload has no `file` part', 'file');
    if (purpose === null) throw new InvalidRequestError('purpose is required: send purpose "batch"', 'purpose');
    return toFileObject(await api.uploadFile(tenant, { ...upload, purpose }));
  });

  app.get('/v1/files', async (request) => {
    const query = pageQuery(request.query, { limit: MAX_FILES_PAGE, maxLimit: MAX_FILES_PAGE });
    const { files, hasMore } = await api.listFiles(callerOf(request).tenant, query);
    return listPage(files.map(toFileObject), hasMore);
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id', async (request) =>
    toFileObject(await api.getFile(callerOf(request).tenant, request.params.id)),
  );

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', async (request, reply) => {
    const { content } = await api.fileContent(callerOf(request).tenant, request.params.id);
    return reply.type('application/octet-stream').send(content);
  });

  app.delete<{ Params: { id: string } }>('/v1/files/:id', async (request) => {
    await api.deleteFile(callerOf(request).tenant, request.params.id);
    return { id: request.params.id, object: 'file' as const, deleted: true };
  });
};
