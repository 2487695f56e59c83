import { z } from 'zod';
import type { ChatMessage } from './chat-template.ts';
import {
  type CompletionRequest,
  type CompletionRequestContext,
  MAX_TOP_LOGPROBS,
  parseCompletionRequest,
  requestedModel,
  toInvalidRequest,
} from './completion-request.ts';
import { ChatNotSupportedError, InvalidRequestError, PromptTooLongError } from './errors.ts';
import type { ModelCatalog } from './model-catalog.ts';

const ROLES = ['system', 'user', 'assistant'] as const;

const m = {
  messages: 'messages must be a non-empty array of { role, content } objects',
  role: `role must be one of ${ROLES.join(', ')} (tool and function messages are not supported)`,
  content: 'content must be a string or an array of { type: "text", text } parts (images and audio are not supported)',
  name: 'name must be a string',
  logprobs: 'logprobs must be a boolean',
  top_logprobs: `top_logprobs must be an integer between 0 and ${MAX_TOP_LOGPROBS}`,
  max_completion_tokens: 'max_completion_tokens must be an integer (the same cap as max_tokens)',
};

const textPartSchema = z.strictObject(
  { type: z.literal('text', { error: m.content }), text: z.string({ error: m.content }) },
  { error: m.content },
);

const messageSchema = z.strictObject(
  {
    role: z.enum(ROLES, { error: m.role }),
    content: z.union([z.string(), z.array(textPartSchema, { error: m.content })], { error: m.content }),
    name: z.string({ error: m.name }).optional(),
  },
  { error: 'each message must be an object { role, content[, name] }' },
);

/** Fields the completions parser checks (with the same names and messages) are passed on as they are. */
const SHARED_FIELDS = [
  'model',
  'max_tokens',
  'temperature',
  'top_p',
  'n',
  'stream',
  'stream_options',
  'stop',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'user',
  'idempotency_key',
  'dfleet',
] as const;

const chatBodySchema = z.strictObject({
  messages: z.array(messageSchema, { error: m.messages }).min(1, { error: m.messages }),
  logprobs: z.boolean({ error: m.logprobs }).nullish(),
  top_logprobs: z
    .int({ error: m.top_logprobs })
    .min(0, { error: m.top_logprobs })
    .max(MAX_TOP_LOGPROBS, { error: m.top_logprobs })
    .nullish(),
  max_completion_tokens: z.int({ error: m.max_completion_tokens }).nullish(),
  ...Object.fromEntries(SHARED_FIELDS.map((field) => [field, z.unknown().optional()])),
});

function textOf(content: z.output<typeof messageSchema>['content']): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}

/**
 * Validates a POST /v1/chat/completions body and renders its messages with the model's chat
 * template into the prompt of one completion request.
 * @throws InvalidRequestError, ChatNotSupportedError, ModelNotFoundError or PromptTooLongError.
 */
export function parseChatCompletionRequest(
  body: unknown,
  catalog: ModelCatalog,
  context: CompletionRequestContext = {},
): CompletionRequest {
  const model = requestedModel(body, catalog);
  const fields = body as Record<string, unknown>;
  if (model.chatTemplate === null) throw new ChatNotSupportedError(model.name);

  const parsed = chatBodySchema.safeParse(body);
  if (!parsed.success) throw toInvalidRequest(parsed.error, { '': Object.keys(chatBodySchema.shape) }, true);
  const chat = parsed.data;
  if (chat.top_logprobs !== undefined && chat.top_logprobs !== null && chat.logprobs !== true) {
    throw new InvalidRequestError('top_logprobs needs logprobs: true', 'top_logprobs');
  }
  const cap = resolveCap(fields['max_tokens'], chat.max_completion_tokens ?? null);

  const messages: ChatMessage[] = chat.messages.map(({ role, content }) => ({ role, content: textOf(content) }));
  const prompt = model.chatTemplate.render(messages);

  const completionBody: Record<string, unknown> = {};
  for (const field of SHARED_FIELDS) if (fields[field] !== undefined) completionBody[field] = fields[field];
  completionBody['prompt'] = prompt;
  if (cap !== null) completionBody['max_tokens'] = cap;
  if (chat.logprobs === true) completionBody['logprobs'] = chat.top_logprobs ?? 0;
  try {
    return parseCompletionRequest(completionBody, catalog, context);
  } catch (error) {
    if (error instanceof PromptTooLongError) {
      throw new PromptTooLongError(
        `messages render (with the chat template) to a prompt that is too long: ${error.message}`,
      );
    }
    throw error;
  }
}

/** `max_completion_tokens` is OpenAI's newer name for `max_tokens`; both are accepted, not two different caps. */
function resolveCap(maxTokens: unknown, maxCompletionTokens: number | null): unknown {
  if (maxCompletionTokens === null) return maxTokens ?? null;
  if (maxTokens !== undefined && maxTokens !== null && maxTokens !== maxCompletionTokens) {
    throw new InvalidRequestError(
      'max_tokens and max_completion_tokens differ; send one of them, or the same value in both',
      'max_completion_tokens',
    );
  }
  return maxCompletionTokens;
}
