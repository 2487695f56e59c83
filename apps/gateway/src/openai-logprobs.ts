import type { TokenLogprob } from '@dfleet/queue';
import type { ServedModel } from './model-catalog.ts';

/** What rendering logprobs needs of the model: each token's own text, and an answer's text. */
export type TokenTexts = Pick<ServedModel, 'tokenText' | 'decodeTokens'>;

/**
 * Legacy completions' shape: `top_logprobs` is one `{ text: logprob }` object per token.
 * A logprob is the token's log-probability at the step that committed it (full softmax at
 * temperature 1); the alternatives are that step's best tokens.
 */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/** Chat's shape: one entry per token, with its UTF-8 bytes (a token may be part of a character). */
export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** The tokens and their logprobs to render, and where the first token's text starts. */
export interface LogprobSpan {
  readonly tokenIds: readonly number[];
  readonly logprobs: readonly TokenLogprob[];
  /** Alternatives asked for per token (the job's `logprobs`, 0-5). */
  readonly top: number;
  /** Text before the first token in the choice (the echoed prompt, earlier stream deltas). */
  readonly textOffset: number;
  /** Answer tokens before `tokenIds`, so a span's text offsets follow the whole answer's text. */
  readonly precedingIds?: readonly number[];
}

export function toCompletionLogprobs(span: LogprobSpan, texts: TokenTexts): CompletionLogprobs {
  const preceding = span.precedingIds ?? [];
  const base = span.textOffset - texts.decodeTokens(preceding).length;
  return {
    tokens: span.tokenIds.map((id) => texts.tokenText(id)),
    token_logprobs: span.logprobs.map((entry) => entry.logprob),
    top_logprobs: span.logprobs.map((entry) =>
      Object.fromEntries(entry.top.slice(0, span.top).map((alt) => [texts.tokenText(alt.id), alt.logprob])),
    ),
    // Offsets into the decoded text, which is not always the tokens' texts joined (special tokens decode to "").
    text_offset: span.tokenIds.map(
      (_, index) => base + texts.decodeTokens([...preceding, ...span.tokenIds.slice(0, index)]).length,
    ),
  };
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, 'utf8')];
}

export function toChatLogprobs(span: LogprobSpan, texts: TokenTexts): ChatTokenLogprob[] {
  return span.tokenIds.map((id, index) => {
    const token = texts.tokenText(id);
    const entry = span.logprobs[index];
    return {
      token,
      logprob: entry?.logprob ?? Number.NaN,
      bytes: utf8Bytes(token),
      top_logprobs: (entry?.top ?? []).slice(0, span.top).map((alt) => {
        const text = texts.tokenText(alt.id);
        return { token: text, logprob: alt.logprob, bytes: utf8Bytes(text) };
      }),
    };
  });
}
