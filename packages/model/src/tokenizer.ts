import { access, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { SpecialTokenInTextError, TokenizerLoadError } from './errors.ts';

/** The parts of a Hugging Face `tokenizer.json` this wrapper reads itself. */
interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  [key: string]: unknown;
}

function isTokenizerJson(value: unknown): value is TokenizerJson {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { added_tokens: addedTokens } = value as { added_tokens?: unknown };
  return addedTokens === undefined || Array.isArray(addedTokens);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A Hugging Face `tokenizer.json` (loaded with `@huggingface/tokenizers`) with the two guarantees
 * the fleet needs:
 *
 * - `encode` treats its input as plain text: a prompt containing `<|eos|>` encodes to the
 *   characters `<`, `|`, `e`, ... and never to the eos id, so a client cannot inject control
 *   tokens into the canvas. (The library itself, like the Rust `tokenizers` default, matches
 *   added special tokens anywhere in the input.)
 * - `decode` drops special tokens and ids the tokenizer does not know.
 *
 * Characters the vocabulary cannot represent follow the tokenizer's own model rules, as in the
 * Rust library: a BPE/WordPiece model with an `unk_token` emits that token (one per unknown
 * character unless `fuse_unk`), a BPE with `byte_fallback` emits `<0xNN>` byte tokens, and a BPE
 * with neither silently drops the character. For models/jsfunc-mdm (character-level BPE with
 * `<|unk|>`) every non-vocabulary code point, e.g. `é` or an emoji, becomes one `<|unk|>`, and
 * since `<|unk|>` is special `decode` drops it: such text does not round-trip.
 */
export class Tokenizer {
  /** Number of logit rows the tokenizer can name: highest token id + 1. */
  readonly vocabSize: number;
  /** Ids of the tokenizer's special tokens (added tokens marked `special`). */
  readonly specialTokenIds: ReadonlySet<number>;
  /** Special token strings and their ids, e.g. `'<|eos|>' -> 2`. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The id unknown characters encode to, if the model has an unknown token. */
  readonly unknownTokenId: number | undefined;

  readonly #full: HfTokenizer;
  /** Same tokenizer without its special added tokens, so the library cannot match them in text. */
  readonly #plainText: HfTokenizer;
  /** Special ids that plain text must never produce (the unknown token is plain text's own). */
  readonly #forbiddenIds: ReadonlySet<number>;
  readonly #specialTokenPattern: RegExp | undefined;

  private constructor(json: TokenizerJson, config: Record<string, unknown>) {
    this.#full = new HfTokenizer(json, config);
    const addedTokens = json.added_tokens ?? [];
    const plainJson: TokenizerJson = { ...json, added_tokens: addedTokens.filter((token) => token.special !== true) };
    this.#plainText = new HfTokenizer(plainJson, { ...config, additional_special_tokens: [] });

    const specialTokens = new Map<string, number>();
    for (const token of addedTokens) {
      if (token.special === true) specialTokens.set(token.content, token.id);
    }
    const additional = config['additional_special_tokens'];
    if (Array.isArray(additional)) {
      for (const entry of additional) {
        const content = typeof entry === 'string' ? entry : (entry as { content?: unknown } | null)?.content;
        if (typeof content !== 'string') continue;
        const id = this.#full.token_to_id(content);
        if (id !== undefined) specialTokens.set(content, id);
      }
    }
    this.specialTokens = specialTokens;
    this.specialTokenIds = new Set(specialTokens.values());
    this.unknownTokenId = this.#full.model?.unk_token_id;
    this.#forbiddenIds = new Set([...this.specialTokenIds].filter((id) => id !== this.unknownTokenId));
    const contents = [...specialTokens.keys()].filter((content) => content.length > 0);
    // Longest first so that `<|eos|>x` is not split at a shorter special token that prefixes it.
    contents.sort((a, b) => b.length - a.length);
    this.#specialTokenPattern =
      contents.length === 0 ? undefined : new RegExp(`(${contents.map(escapeRegExp).join('|')})`, 'u');

    let maxId = -1;
    for (const id of this.#full.get_vocab(true).values()) maxId = Math.max(maxId, id);
    for (const id of this.specialTokenIds) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
  }

  /**
   * Builds a tokenizer from parsed `tokenizer.json` content.
   * @param config parsed `tokenizer_config.json`, if the model has one.
   * @throws TokenizerLoadError when the library cannot build a tokenizer from it.
   */
  static fromJson(json: unknown, config: Record<string, unknown> = {}, source = 'tokenizer.json'): Tokenizer {
    if (!isTokenizerJson(json)) {
      throw new TokenizerLoadError(
        source,
        `${source} is not a Hugging Face tokenizer.json object (expected { model, added_tokens, ... })`,
      );
    }
    try {
      return new Tokenizer(json, config);
    } catch (error) {
      throw new TokenizerLoadError(
        source,
        `${source} cannot be loaded by @huggingface/tokenizers: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Reads a Hugging Face `tokenizer.json`, plus `tokenizer_config.json` from the same directory
   * when it exists (it carries options such as `additional_special_tokens`).
   * @throws TokenizerLoadError when the file is missing, not JSON, or not loadable.
   */
  static async fromFile(tokenizerPath: string): Promise<Tokenizer> {
    const json = await readJsonFile(tokenizerPath);
    const configPath = join(dirname(tokenizerPath), 'tokenizer_config.json');
    let config: Record<string, unknown> = {};
    if (await exists(configPath)) {
      const parsed = await readJsonFile(configPath);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new TokenizerLoadError(configPath, `${configPath} must be a JSON object`);
      }
      config = parsed as Record<string, unknown>;
    }
    return Tokenizer.fromJson(json, config, tokenizerPath);
  }

  /**
   * Encodes text as plain text: no bos/eos added, and text that spells a special token
   * (`<|eos|>`) encodes to its characters, never to the special id.
   * @throws SpecialTokenInTextError only for a tokenizer whose special token is one ordinary character.
   */
  encode(text: string): number[] {
    const ids = this.#encodePlain(text);
    if (!this.#containsForbiddenId(ids)) return ids;
    // The model itself mapped a special token's text to its id (e.g. a BPE with ignore_merges
    // whose vocab lists the special token): encode those spans one character at a time.
    const pieces = this.#specialTokenPattern === undefined ? [text] : text.split(this.#specialTokenPattern);
    const fallback: number[] = [];
    for (const [index, piece] of pieces.entries()) {
      if (piece.length === 0) continue;
      // split() with one capture group puts the matched special-token strings at odd indices.
      if (index % 2 === 1) {
        for (const character of piece) fallback.push(...this.#encodePlain(character));
      } else {
        fallback.push(...this.#encodePlain(piece));
      }
    }
    if (this.#containsForbiddenId(fallback)) {
      throw new SpecialTokenInTextError(
        'text encodes to a special-token id even one character at a time; the tokenizer maps an ordinary character to a special token, fix its tokenizer.json',
      );
    }
    return fallback;
  }

  /** Decodes ids to text, dropping special tokens and ids outside the tokenizer's vocabulary. */
  decode(ids: ArrayLike<number>): string {
    const kept: number[] = [];
    for (let index = 0; index < ids.length; index++) {
      const id = ids[index]!;
      if (this.specialTokenIds.has(id) || this.#full.id_to_token(id) === undefined) continue;
      kept.push(id);
    }
    if (kept.length === 0) return '';
    // Clean-up of tokenization spaces is a transformers (not tokenizers) post-step that rewrites
    // " ." to "." and the like: wrong for code, so never applied.
    return this.#full.decode(kept, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  tokenToId(token: string): number | undefined {
    return this.#full.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.#full.id_to_token(id);
  }

  #encodePlain(text: string): number[] {
    if (text.length === 0) return [];
    return this.#plainText.encode(text, { add_special_tokens: false }).ids;
  }

  #containsForbiddenId(ids: readonly number[]): boolean {
    return ids.some((id) => this.#forbiddenIds.has(id));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new TokenizerLoadError(path, `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TokenizerLoadError(path, `${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
