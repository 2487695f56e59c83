import type { FastifyReply, FastifyRequest } from 'fastify';
import { choicesWithJobIds } from '../completion-choices.ts';
import type { CompletionRequest } from '../completion-request.ts';
import type { FinishedGeneration } from '../completion-response.ts';
import type { CompletionService } from '../completion-service.ts';
import { GatewayError, InternalGatewayError } from '../errors.ts';
import type { GenerationEvent } from '../generation-events.ts';
import { setJobRequestId } from '../http-hooks/request-id.ts';
import { noteAnsweringJobs } from '../http-hooks/request-log.ts';
import { OpenAiStreamChunks, type StreamChunkOptions } from '../openai-stream-chunks.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { SseStream } from '../sse-stream.ts';
import { mergeIndexed } from '../stream-merge.ts';

/** The SSE event name of canvas states (`dfleet.stream_states`). */
const CANVAS_STATE_EVENT = 'dfleet.canvas_state';

/** How the gateway's streams behave, the same for every streaming route. */
export interface StreamSettings {
  /** Counts an error sent inside a stream that had begun (the error handler counts the others). */
  onStreamError: (code: string) => void;
  /**
   * DFLEET_STREAM_KEEPALIVE_MS: a stream with nothing to send for this long opens (200) if it has
   * not, and gets an SSE comment; null = the 200 waits for the first event, and no comments.
   */
  keepAliveMs: number | null;
}

interface StreamChoicesOptions {
  service: CompletionService;
  /** One request per choice, in index order. */
  requests: readonly CompletionRequest[];
  tenant: string;
  states: boolean;
  chunks: OpenAiStreamChunks;
  streaming: StreamSettings;
}

/**
 * Answers a `stream: true` request (completions or chat): one job per choice, the first job's id
 * as the response's id and `x-request-id`, then `streamChoices`.
 */
export function streamCompletion(
  request: FastifyRequest,
  reply: FastifyReply,
  {
    service,
    tenant,
    completion,
    kind,
    streaming,
  }: {
    service: CompletionService;
    tenant: string;
    completion: CompletionRequest;
    kind: StreamChunkOptions['kind'];
    streaming: StreamSettings;
  },
): Promise<FastifyReply> {
  const stream = completion.reply.stream;
  if (stream === null) throw new InternalGatewayError('streamCompletion called for a request without stream: true');
  const { requests, jobIds } = choicesWithJobIds(completion, tenant);
  const firstJobId = jobIds[0] as string;
  setJobRequestId(reply, firstJobId);
  const chunks = new OpenAiStreamChunks({
    kind,
    id: firstJobId,
    model: completion.model.name,
    created: Math.floor(Date.now() / 1000),
    logprobs: completion.options.logprobs ?? null,
    echo: kind === 'completion' && completion.reply.echo ? completion.prompt : null,
    includeUsage: stream.includeUsage,
    texts: completion.model,
  });
  return streamChoices(request, reply, { service, requests, tenant, states: stream.states, chunks, streaming });
}

/**
 * Streams every choice's job as OpenAI server-sent events. The first event is awaited before the
 * 200 goes out, so a request refused before its job started (no_worker, queue_full, ...) gets a
 * normal JSON error with its status; a failure after that is an SSE error event, then the end.
 * A first event that takes longer than the keep-alive (a job waiting in a long queue) does not
 * hold the 200 back past it: the stream opens, and SSE comments keep a proxy from timing it out.
 * When the client hangs up, consumption stops and each stream cancels its job.
 */
async function streamChoices(
  request: FastifyRequest,
  reply: FastifyReply,
  { service, requests, tenant, states, chunks, streaming }: StreamChoicesOptions,
): Promise<FastifyReply> {
  const { onStreamError, keepAliveMs } = streaming;
  const clientGone = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableEnded) clientGone.abort();
  });
  const events = mergeIndexed<GenerationEvent>(
    requests.map((one) => service.stream(one, { tenant, signal: clientGone.signal, states })),
  );
  const first = events.next();
  let current: Awaited<typeof first> | null;
  try {
    // A refusal is thrown as a GatewayError here: the error handler answers it as JSON.
    current = await settledWithin(first, keepAliveMs);
  } catch (error) {
    if (error instanceof WaitAbortedError) return reply;
    throw error;
  }
  const sse = SseStream.open(reply, { keepAliveMs });
  try {
    requests.forEach((_, index) => {
      for (const chunk of chunks.start(index)) sse.data(chunk);
    });
    // Still waiting (in the queue, most likely): from here a failure is an SSE error event.
    current ??= await first;
    const finished: FinishedGeneration[] = [];
    while (!current.done && !clientGone.signal.aborted) {
      const { index, value } = current.value;
      if (value.kind === 'done') finished[index] = value.finished;
      if (value.kind === 'state') sse.event(CANVAS_STATE_EVENT, chunks.canvasState(index, value));
      else for (const chunk of chunks.chunksFor(index, value)) sse.data(chunk);
      current = await events.next();
    }
    if (clientGone.signal.aborted) return reply;
    const usage = chunks.usageChunk();
    if (usage !== null) sse.data(usage);
    sse.done();
    noteAnsweringJobs(request, finished);
  } catch (error) {
    if (error instanceof WaitAbortedError || clientGone.signal.aborted) return reply;
    const failure =
      error instanceof GatewayError
        ? error
        : new InternalGatewayError('internal error while streaming; see the gateway log', null);
    if (failure !== error) request.log.error({ err: error }, 'unexpected error while streaming');
    onStreamError(failure.code);
    sse.fail(failure);
  } finally {
    await events.return(undefined);
    sse.end();
  }
  return reply;
}

/** What `promise` settles to within `ms`, or null when it is still pending then (null ms: no limit). */
async function settledWithin<T>(promise: Promise<T>, ms: number | null): Promise<T | null> {
  if (ms === null) return promise;
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([promise, quiet]);
  } finally {
    clearTimeout(timer);
  }
}
