import { once } from 'node:events';
import type { Logger } from 'pino';
import { grpc, loadDfleetProtos, type GenerationServiceHandlers, type Job } from '@dfleet/proto';
import { parseCompletionRequest } from './completion-request.ts';
import { toGenerateResponse } from './completion-response.ts';
import type { CompletionService } from './completion-service.ts';
import { GatewayError, InternalGatewayError, InvalidRequestError, toGrpcServiceError } from './errors.ts';
import { toGenerateEvent, toGenerateResponseWithLogprobs } from './generate-event-message.ts';
import { generateRequestToCompletionBody } from './generate-request-body.ts';
import { traceGrpcCall } from './grpc-request-spans.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { WaitAbortedError } from './pending-results.ts';
import type { Caller, RequestAuthenticator } from './request-authenticator.ts';
import { TENANT_HEADER } from './request-identity.ts';

/** Marks a request whose bytes are not a valid protobuf message of the method's request type. */
const UNDECODABLE = Symbol('undecodable request');

/**
 * The service definition with request decoding that cannot fail: grpc-js answers a message that
 * does not decode with INTERNAL, which tells a client the server is at fault. Here the handler
 * sees the marker and answers INVALID_ARGUMENT instead.
 */
function withTolerantDecoding(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return {
              [UNDECODABLE]: `${method.path}: the request is not a valid protobuf message (${(error as Error).message})`,
            };
          }
        },
      },
    ]),
  );
}

/** Answers a unary call with an error; resolves with its code, for the call's span. */
function answerError(
  respond: (error: Partial<grpc.StatusObject>) => void,
  status: Partial<grpc.StatusObject>,
): grpc.status {
  respond(status);
  return status.code ?? grpc.status.UNKNOWN;
}

function assertDecoded(request: object): void {
  if (UNDECODABLE in request) throw new InvalidRequestError(String(request[UNDECODABLE]), null);
}

function metadataValue(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

export interface GenerationGrpcServerOptions {
  service: CompletionService;
  catalog: ModelCatalog;
  authenticator: RequestAuthenticator;
  logger: Logger;
  /** Messages above this are refused with RESOURCE_EXHAUSTED (same cap as HTTP bodies). */
  maxMessageBytes: number;
  /** Called with the code of every error answered (metrics). */
  onErrorReply: (code: string) => void;
}

/** The public GenerationService: the same keys, validation, queue and errors as the HTTP API. */
export function createGenerationGrpcServer(options: GenerationGrpcServerOptions): grpc.Server {
  const { service, catalog, authenticator, logger, maxMessageBytes, onErrorReply } = options;
  const toServiceError = (error: unknown, method: string): Partial<grpc.StatusObject> => {
    let failure: GatewayError;
    if (error instanceof GatewayError) failure = error;
    else {
      logger.error({ err: error, method }, 'unexpected error in gRPC handler');
      failure = new InternalGatewayError('internal error; see the gateway log');
    }
    onErrorReply(failure.code);
    return toGrpcServiceError(failure);
  };
  const authenticate = (metadata: grpc.Metadata): Promise<Caller> =>
    authenticator.authenticate({
      authorization: metadataValue(metadata, 'authorization'),
      tenant: metadataValue(metadata, TENANT_HEADER),
    });
  const handlers: GenerationServiceHandlers = {
    Generate(call, respond) {
      const aborted = new AbortController();
      call.on('cancelled', () => aborted.abort());
      void traceGrpcCall('Generate', call.metadata, async () => {
        try {
          assertDecoded(call.request);
          const { tenant } = await authenticate(call.metadata);
          const request = parseCompletionRequest(generateRequestToCompletionBody(call.request), catalog);
          const finished = await service.complete(request, { tenant, signal: aborted.signal });
          respond(null, toGenerateResponseWithLogprobs(finished, request.model));
          return grpc.status.OK;
        } catch (error) {
          if (error instanceof WaitAbortedError) return grpc.status.CANCELLED; // the client cancelled; nobody to answer
          return answerError(respond, toServiceError(error, 'Generate'));
        }
      });
    },

    GenerateStream(call) {
      // The client cancelled the call or went away: the stream's consumer leaves, which cancels the job.
      const aborted = new AbortController();
      call.on('cancelled', () => aborted.abort());
      void traceGrpcCall('GenerateStream', call.metadata, async () => {
        try {
          assertDecoded(call.request);
          const { tenant } = await authenticate(call.metadata);
          const request = parseCompletionRequest(generateRequestToCompletionBody(call.request), catalog);
          const events = service.stream(request, { tenant, signal: aborted.signal, states: call.request.streamStates });
          for await (const event of events) {
            if (aborted.signal.aborted) break;
            if (!call.write(toGenerateEvent(event, request.model)))
              await once(call, 'drain', { signal: aborted.signal });
          }
          if (aborted.signal.aborted) return grpc.status.CANCELLED;
          call.end();
          return grpc.status.OK;
        } catch (error) {
          if (aborted.signal.aborted || error instanceof WaitAbortedError) return grpc.status.CANCELLED; // nobody to answer
          const status = toServiceError(error, 'GenerateStream');
          call.emit('error', status);
          return status.code ?? grpc.status.UNKNOWN;
        }
      });
    },

    GetJob(call, respond) {
      void (async () => {
        try {
          assertDecoded(call.request);
          const { tenant } = await authenticate(call.metadata);
          const view = await service.getJob(call.request.id, tenant);
          const job: Job = {
            id: view.id,
            state: view.state,
            result: view.result ? toGenerateResponse(view.result) : null,
            errorCode: view.error?.code ?? '',
            errorMessage: view.error?.message ?? '',
          };
          respond(null, job);
        } catch (error) {
          respond(toServiceError(error, 'GetJob'));
        }
      })();
    },

    CancelJob(call, respond) {
      void (async () => {
        try {
          assertDecoded(call.request);
          const { tenant } = await authenticate(call.metadata);
          respond(null, await service.cancel(call.request.id, tenant));
        } catch (error) {
          respond(toServiceError(error, 'CancelJob'));
        }
      })();
    },
  };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxMessageBytes });
  server.addService(withTolerantDecoding(loadDfleetProtos().generation.dfleet.v1.GenerationService.service), handlers);
  return server;
}
