import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelManifest, Tokenizer, type ModelManifest } from '../src/index.ts';
import { MODEL_DIR } from './model-directory.ts';

const CODE = '// returns the larger of a and b\nfunction max2(a, b) {\n\treturn a > b ? a : b;\n}';

describe('Tokenizer on the default model', () => {
  let tokenizer: Tokenizer;
  let manifest: ModelManifest;
  beforeAll(async () => {
    manifest = await loadModelManifest(MODEL_DIR);
    tokenizer = await Tokenizer.fromFile(join(MODEL_DIR, manifest.files.tokenizer));
  });

  it('round-trips source code', () => {
    const ids = tokenizer.encode(CODE);
    expect(ids.length).toBeGreaterThan(0);
    expect(tokenizer.decode(ids)).toBe(CODE);
  });

  it('marks the manifest special ids as the tokenizer special tokens', () => {
    for (const id of Object.values(manifest.specialTokens)) expect(tokenizer.specialTokenIds.has(id)).toBe(true);
    expect(tokenizer.vocabSize).toBe(manifest.vocabSize);
  });

  it('encodes text that spells a special token as plain characters, never as the special id', () => {
    for (const [content, id] of tokenizer.specialTokens) {
      const text = `x = "${content}";${content}${content}`;
      const ids = tokenizer.encode(text);
      expect(ids).not.toContain(id);
      for (const special of tokenizer.specialTokenIds) expect(ids).not.toContain(special);
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('needs that guard: the library alone matches special tokens inside the text', async () => {
    const json: unknown = JSON.parse(await readFile(join(MODEL_DIR, manifest.files.tokenizer), 'utf8'));
    const library = new HfTokenizer(json as object, {});
    const eos = manifest.specialTokens.eos;
    const eosText = tokenizer.idToToken(eos)!;
    expect(library.encode(`a${eosText}b`, { add_special_tokens: false }).ids).toContain(eos);
    expect(tokenizer.encode(`a${eosText}b`)).not.toContain(eos);
  });

  it('encodes each character outside the vocabulary as the unknown token, which decoding drops', () => {
    expect(tokenizer.unknownTokenId).toBeDefined();
    const unknown = tokenizer.unknownTokenId!;
    const ids = tokenizer.encode('aé😀b');
    expect(ids.filter((id) => id === unknown)).toHaveLength(2);
    expect(tokenizer.decode(ids)).toBe('ab');
  });

  it('decodes while skipping special tokens and ids the tokenizer does not know', () => {
    const { bos, eos, mask, pad } = manifest.specialTokens;
    const ids = [bos, ...tokenizer.encode('ok'), mask, eos, pad, tokenizer.vocabSize + 5, -1];
    expect(tokenizer.decode(ids)).toBe('ok');
    expect(tokenizer.decode([])).toBe('');
    expect(tokenizer.decode(new Int32Array([eos, eos]))).toBe('');
  });
});

/**
 * A BPE with `ignore_merges` and a whitespace pre-tokenizer whose vocabulary lists the special
 * token: the model itself maps the word `<|eos|>` to the special id, so the guard must fall back
 * to encoding that span one character at a time.
 */
function ignoreMergesTokenizerJson(): object {
  const vocab: Record<string, number> = { '<|eos|>': 0, '<|unk|>': 1 };
  for (const character of 'abcdeos<|> ') vocab[character] ??= Object.keys(vocab).length;
  vocab['ab'] = Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: [
      { id: 0, content: '<|eos|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
      { id: 1, content: '<|unk|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'BPE', unk_token: '<|unk|>', ignore_merges: true, vocab, merges: [['a', 'b']] },
  };
}

describe('Tokenizer special-token guard', () => {
  it('falls back to characters when the model maps a special token word to its id', () => {
    const tokenizer = Tokenizer.fromJson(ignoreMergesTokenizerJson());
    const ids = tokenizer.encode('ab <|eos|>');
    expect(ids).not.toContain(0);
    expect(ids.map((id) => tokenizer.idToToken(id))).toEqual(['ab', '<', '|', 'e', 'o', 's', '|', '>']);
  });

  it('rejects JSON that is not a tokenizer with a load error naming the source', () => {
    expect(() => Tokenizer.fromJson([], {}, 'bad.json')).toThrow(
      expect.objectContaining({ code: 'tokenizer_load_failed' }),
    );
    expect(() => Tokenizer.fromJson({ model: { type: 'Nope' } }, {}, 'bad.json')).toThrow(/bad\.json cannot be loaded/);
  });

  it('reports a missing tokenizer file with a load error', async () => {
    await expect(Tokenizer.fromFile(join(MODEL_DIR, 'no-such-tokenizer.json'))).rejects.toMatchObject({
      code: 'tokenizer_load_failed',
    });
  });
});
