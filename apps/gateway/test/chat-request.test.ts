import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseChatCompletionRequest } from '../src/chat-request.ts';
import { GatewayError } from '../src/errors.ts';
import { loadServedModel, ModelCatalog } from '../src/model-catalog.ts';
import { heldoutPrompt } from './support/heldout.ts';
import { FIXTURE_MODEL, FIXTURE_MODEL_DIR } from './support/test-fleet.ts';

const first = { prompt: heldoutPrompt(0) };
const second = { prompt: heldoutPrompt(1) };

// The shipped model (its tokenizer_config.json has a chat template) and the fixture (it has none).
let catalog: ModelCatalog;
beforeAll(async () => {
  catalog = new ModelCatalog([await loadServedModel(DEFAULT_MODEL_DIR), await loadServedModel(FIXTURE_MODEL_DIR)]);
});

const user = (content: unknown) => ({ role: 'user', content });
const chat = (patch: Record<string, unknown> = {}) => ({
  model: 'jsfunc-mdm',
  messages: [user(first.prompt)],
  ...patch,
});

function rejection(body: unknown): GatewayError {
  try {
    parseChatCompletionRequest(body, catalog);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected the chat request to be rejected');
}

describe("the shipped model's chat template", () => {
  it('makes the last user message, a held-out prompt, exactly the prompt', () => {
    const request = parseChatCompletionRequest(
      {
        model: 'jsfunc-mdm',
        messages: [{ role: 'system', content: 'be brief' }, user(second.prompt), user(first.prompt)],
      },
      catalog,
    );
    expect(request.prompt).toBe(first.prompt);
  });

  it('adds the // of a spec written without it, and the newline after the header', () => {
    const [spec, header] = first.prompt
      .replace(/^\/\/ /, '')
      .trimEnd()
      .split('\n') as [string, string];
    expect(parseChatCompletionRequest(chat({ messages: [user(`${spec}\n${header}`)] }), catalog).prompt).toBe(
      first.prompt,
    );
  });

  it('joins text parts of a message', () => {
    const [spec, header] = first.prompt.split('\n') as [string, string];
    const parts = [
      { type: 'text', text: `${spec}\n` },
      { type: 'text', text: header },
    ];
    expect(parseChatCompletionRequest(chat({ messages: [user(parts)] }), catalog).prompt).toBe(first.prompt);
  });

  it('refuses a conversation without a user message, in the template’s words', () => {
    const error = rejection(chat({ messages: [{ role: 'system', content: 'hi' }] }));
    expect(error.param).toBe('messages');
    expect(error.message).toContain('needs a user message');
  });
});

describe('parseChatCompletionRequest', () => {
  it('answers chat_not_supported naming the fix for a model directory without a chat template', () => {
    const error = rejection({ model: FIXTURE_MODEL, messages: [user('x')] });
    expect(error.code).toBe('chat_not_supported');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('chat_template');
    expect(error.message).toContain('tokenizer_config.json');
  });

  it.each([
    [{ messages: [] }, 'messages', 'messages must be a non-empty array'],
    [{ messages: 'hi' }, 'messages', 'messages must be a non-empty array'],
    [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages.0.role', 'role must be one of system, user, assistant'],
    [
      { messages: [user([{ type: 'image_url', image_url: { url: 'x' } }])] },
      'messages.0.content',
      'content must be a string or an array of { type: "text", text } parts',
    ],
    [{ messages: [{ role: 'user' }] }, 'messages.0.content', 'content must be a string'],
    [{ logprobs: 2 }, 'logprobs', 'logprobs must be a boolean'],
    [{ logprobs: true, top_logprobs: 6 }, 'top_logprobs', 'top_logprobs must be an integer between 0 and 5'],
    [{ top_logprobs: 2 }, 'top_logprobs', 'top_logprobs needs logprobs: true'],
    [
      { max_tokens: 4, max_completion_tokens: 5 },
      'max_completion_tokens',
      'max_tokens and max_completion_tokens differ',
    ],
    [{ echo: true }, 'echo', "unknown field 'echo'"],
    [{ tools: [] }, 'tools', "unknown field 'tools'; allowed fields: messages"],
    [{ n: 9 }, 'n', 'n must be an integer between 1 and 8'],
    [{ dfleet: { stream_states: true } }, 'dfleet.stream_states', 'needs stream: true'],
  ])('refuses %j naming %s', (patch, param, message) => {
    const error = rejection(chat(patch));
    expect(error.httpStatus).toBe(400);
    expect(error.param).toBe(param);
    expect(error.message).toContain(message);
  });

  it('maps logprobs and top_logprobs onto the job, and max_completion_tokens onto the cap', () => {
    const request = parseChatCompletionRequest(
      chat({ logprobs: true, top_logprobs: 2, max_completion_tokens: 7, stream: true }),
      catalog,
    );
    expect(request.options).toMatchObject({ logprobs: 2, maxAnswerTokens: 7, maxNewTokens: 48 });
    expect(request.reply).toEqual({ n: 1, echo: false, stream: { includeUsage: false, states: false } });
    expect(parseChatCompletionRequest(chat({ logprobs: true }), catalog).options.logprobs).toBe(0);
    expect(parseChatCompletionRequest(chat({ logprobs: false }), catalog).options).not.toHaveProperty('logprobs');
  });
});
