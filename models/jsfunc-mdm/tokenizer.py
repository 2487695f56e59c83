"""Character-level tokenizer for jsfunc-mdm, written in Hugging Face tokenizer.json format.

Ids 0-4 are the special tokens; then one token per printable ASCII char plus "\\n" and "\\t".
Any other char encodes to <|unk|> (id 4), which the model never produces: decoding an unknown
char is lossy by design, and the task data uses only ASCII.

    python3 tokenizer.py     # writes tokenizer.json next to this file
"""
from __future__ import annotations

import json
import os

SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|mask|>", "<|unk|>"]
PAD, BOS, EOS, MASK, UNK = range(5)
CHARS = ["\n", "\t"] + [chr(c) for c in range(32, 127)]
VOCAB = {tok: i for i, tok in enumerate(SPECIALS + CHARS)}
ID_TO_TOKEN = {i: t for t, i in VOCAB.items()}
VOCAB_SIZE = len(VOCAB)


def encode(text: str) -> list[int]:
    return [VOCAB.get(ch, UNK) for ch in text]


def decode(ids) -> str:
    return "".join(ID_TO_TOKEN[i] for i in ids if i >= len(SPECIALS))


def tokenizer_json() -> dict:
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, t in enumerate(SPECIALS)
        ],
        "normalizer": None,
        # no pre-tokenizer and no merges: the BPE model then splits text into single chars
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<|unk|>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": VOCAB,
            "merges": [],
        },
    }


# Hugging Face's chat template (rendered by the gateway with @huggingface/jinja): this model completes
# a function from its spec, so a chat is the LAST user message, used as the prompt (see README.md, "Chat").
CHAT_TEMPLATE = (
    "{#- jsfunc-mdm completes a JavaScript function from its spec, so a chat is one request: the LAST user message. It is the prompt as written (a // comment spec and the function header, e.g. '// return x plus 1\\nfunction f(x) {'), or the spec alone with its header on the next line; a first line without // gets one. System and assistant messages are ignored. -#}\n"
    "{%- set ns = namespace(last=none) -%}\n"
    "{%- for message in messages -%}{%- if message.role == 'user' -%}{%- set ns.last = message.content -%}{%- endif -%}{%- endfor -%}\n"
    "{%- if ns.last is none -%}{{ raise_exception('jsfunc-mdm needs a user message: the comment spec and function header to complete') }}{%- endif -%}\n"
    "{%- set spec = ns.last.strip() -%}\n"
    "{%- if not spec.startswith('//') -%}{%- set spec = '// ' + spec -%}{%- endif -%}\n"
    "{{- spec + '\\n' -}}"
)


def tokenizer_config() -> dict:
    # @huggingface/tokenizers cleans up " ?", " ," etc. on decode unless told not to; code needs
    # exact text, so pass this file as the Tokenizer's config (or the decode option).
    return {"clean_up_tokenization_spaces": False, "bos_token": "<|bos|>", "eos_token": "<|eos|>",
            "pad_token": "<|pad|>", "mask_token": "<|mask|>", "unk_token": "<|unk|>",
            "chat_template": CHAT_TEMPLATE}


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, indent=1)
    with open(os.path.join(here, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config(), f, indent=2)
        f.write("\n")
    print(f"wrote tokenizer.json and tokenizer_config.json ({VOCAB_SIZE} tokens)")
