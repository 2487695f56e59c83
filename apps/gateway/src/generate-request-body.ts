import { STRATEGY_KNOBS } from '@dfleet/decoder';
import type { GenerateRequest__Output } from '@dfleet/proto';

/**
 * Maps a gRPC GenerateRequest onto the POST /v1/completions body, so one validator serves both
 * front doors and their errors name the same fields. Proto3 zero values mean "unset" where the
 * proto says so (strategy "", priority "", deadline_ms 0, idempotency_key "", suffix ""). `stream_states` is
 * GenerateStream's own and has no body field.
 */
export function generateRequestToCompletionBody(request: GenerateRequest__Output): Record<string, unknown> {
  const body: Record<string, unknown> = { model: request.model, prompt: request.prompt };
  if (request.maxTokens !== undefined) body['max_tokens'] = request.maxTokens;
  if (request.temperature !== undefined) body['temperature'] = request.temperature;
  if (request.seed !== undefined) body['seed'] = request.seed;
  if (request.stop.length > 0) body['stop'] = request.stop;
  if (request.idempotencyKey !== '') body['idempotency_key'] = request.idempotencyKey;
  if (request.logprobs !== undefined) body['logprobs'] = request.logprobs;
  if (request.suffix !== '') body['suffix'] = request.suffix;

  const dfleet: Record<string, unknown> = {};
  const decoding = request.decoding;
  if (decoding) {
    if (decoding.strategy !== '') dfleet['strategy'] = decoding.strategy;
    // The proto names each strategy knob as the decoder's contract does (proto-loader camelCases
    // `min_threshold` to `minThreshold`, the contract's key); the body uses the wire name.
    const knobs: Readonly<Record<string, unknown>> = { ...decoding };
    for (const { key, knob } of STRATEGY_KNOBS) {
      if (knobs[key] !== undefined) dfleet[knob.wireName] = knobs[key];
    }
    if (decoding.blockLength !== undefined) dfleet['block_length'] = decoding.blockLength;
    if (decoding.maxSteps !== undefined) dfleet['max_steps'] = decoding.maxSteps;
  }
  if (request.genLength !== undefined) dfleet['gen_length'] = request.genLength;
  if (request.priority !== '') dfleet['priority'] = request.priority;
  if (request.deadlineMs !== 0) dfleet['deadline_ms'] = request.deadlineMs;
  if (Object.keys(dfleet).length > 0) body['dfleet'] = dfleet;
  return body;
}
