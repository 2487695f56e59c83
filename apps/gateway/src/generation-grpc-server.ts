import type { Logger } from 'pino';
import { grpc, loadDfleetProtos, type GenerationServiceHandlers, type Job } from '@dfleet/proto';
import { parseCompletionRequest } from './completion-request.ts';
import { toGenerateResponse } from './completion-response.ts';
import type { CompletionService } from './completion-service.ts';
import { GatewayError, InternalGatewayError, toGrpcServiceError } from './errors.ts';
import { generateRequestToCompletionBody } from './generate-request-body.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { WaitAbortedError } from './pending-results.ts';
import { parseTenant, TENANT_HEADER } from './request-identity.ts';

function toServiceError(error: unknown, logger: Logger, method: string): Partial<grpc.StatusObject> {
  if (error instanceof GatewayError) return toGrpcServiceError(error);
  logger.error({ err: error, method }, 'unexpected error in gRPC handler');
  return toGrpcServiceError(new InternalGatewayError('internal error; see the gateway log'));
}

function metadataValue(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/** The public GenerationService: the same validation, queue and errors as the HTTP API. */
export function createGenerationGrpcServer(service: CompletionService, catalog: ModelCatalog, logger: Logger): grpc.Server {
  const handlers: GenerationServiceHandlers = {
    Generate(call, respond) {
      const aborted = new AbortController();
      call.on('cancelled', () => aborted.abort());
      void (async () => {
        try {
          const tenant = parseTenant(metadataValue(call.metadata, TENANT_HEADER));
          const request = parseCompletionRequest(generateRequestToCompletionBody(call.request), catalog);
          const finished = await service.complete(request, { tenant, signal: aborted.signal });
          respond(null, toGenerateResponse(finished));
        } catch (error) {
          if (error instanceof WaitAbortedError) return; // the client cancelled; nobody to answer
          respond(toServiceError(error, logger, 'Generate'));
        }
      })();
    },

    GetJob(call, respond) {
      void (async () => {
        try {
          const view = await service.getJob(call.request.id);
          const job: Job = {
            id: view.id,
            state: view.state,
            result: view.result ? toGenerateResponse(view.result) : null,
            errorCode: view.error?.code ?? '',
            errorMessage: view.error?.message ?? '',
          };
          respond(null, job);
        } catch (error) {
          respond(toServiceError(error, logger, 'GetJob'));
        }
      })();
    },

    CancelJob(call, respond) {
      void (async () => {
        try {
          respond(null, await service.cancel(call.request.id));
        } catch (error) {
          respond(toServiceError(error, logger, 'CancelJob'));
        }
      })();
    },
  };
  const server = new grpc.Server();
  server.addService(loadDfleetProtos().generation.dfleet.v1.GenerationService.service, handlers);
  return server;
}
