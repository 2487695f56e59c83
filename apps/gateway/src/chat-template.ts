import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { z } from 'zod';
import { InvalidRequestError } from './errors.ts';

/** Hugging Face's file for tokenizer settings, where `chat_template` lives by convention. */
const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/** One chat message once validated: a role and its text (text parts already joined). */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** A model's chat template, compiled once at load. */
export interface ChatTemplate {
  /** @throws InvalidRequestError (param `messages`) when the template refuses the conversation. */
  render(messages: readonly ChatMessage[]): string;
}

const tokenizerConfigSchema = z.object({
  // Hugging Face also allows a list of named templates; the one named "default" is the chat one.
  chat_template: z.union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }))]).optional(),
  bos_token: z.string().optional(),
  eos_token: z.string().optional(),
});

/**
 * Reads `chat_template` from the model directory's tokenizer_config.json and compiles it.
 * @returns null when the file or its template is absent (the model then refuses chat requests).
 * @throws Error naming the file when it is not JSON or the template does not parse: a broken
 * template is the operator's to fix before the gateway serves anything.
 */
export async function loadChatTemplate(modelDir: string): Promise<ChatTemplate | null> {
  const path = join(modelDir, TOKENIZER_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const config = tokenizerConfigSchema.parse(JSON.parse(text));
  const source =
    typeof config.chat_template === 'string'
      ? config.chat_template
      : config.chat_template?.find((named) => named.name === 'default')?.template;
  if (source === undefined) return null;
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new Error(`${path}: chat_template does not parse as Jinja: ${(error as Error).message}`, { cause: error });
  }
  const specials = { bos_token: config.bos_token ?? '', eos_token: config.eos_token ?? '' };
  return {
    render(messages) {
      try {
        return template.render({ messages, add_generation_prompt: true, ...specials });
      } catch (error) {
        throw new InvalidRequestError(
          `the model's chat template refused these messages: ${(error as Error).message}`,
          'messages',
        );
      }
    },
  };
}
