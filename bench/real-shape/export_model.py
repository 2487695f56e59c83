"""Export a random-weight model shaped like LLaDA-8B's vocabulary and attention to the dfleet v1 contract.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/real-shape/export_model.py OUT_DIR [--layers 2] [--d-model 256] [--prefix-cache]

Writes OUT_DIR/model.onnx (input_ids, attention_mask int64 [B, L] -> logits float32 [B, L, V], dynamic B
and L, opset 17), with --prefix-cache also OUT_DIR/model.prefix-cache.onnx (the prefix-cache form of the same
weights, packages/model/src/prefix-cache-contract.ts, named in the manifest's prefixCache block), OUT_DIR/dfleet-model.json, OUT_DIR/tokenizer.json and OUT_DIR/tokenizer_config.json.
The weights are random (seeded): the model exists to measure the cost of a 126,464-token vocabulary, not to generate text, so it is made
shallow and narrow enough for 2 CPU cores and kept out of git.

Taken from LLaDA-8B's config: vocabulary 126,464; head dim 128; RMSNorm (eps 1e-5); SwiGLU MLP with a
hidden size of 3 x d_model (12,288 / 4,096); RoPE with theta 500,000; no biases; untied input embedding
and LM head; bidirectional attention; special ids bos 126080, eos = pad 126081, mask 126336.
Scaled down: d_model (default 256, so 2 heads of 128 instead of 32) and the layer count (default 2).
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os

import onnx
import torch
from torch import nn

VOCAB_SIZE = 126_464
HEAD_DIM = 128
ROPE_THETA = 500_000.0
RMS_EPS = 1e-5
BOS, EOS, MASK = 126_080, 126_081, 126_336
# LLaDA-8B's context is 4,096; bench:prefix-cache runs 4,096-token prompts plus a 256 canvas, and
# RoPE has no table, so the benchmark model allows twice that.
MAX_SEQUENCE_LENGTH = 8192
PREFIX_CACHE_FILE = "model.prefix-cache.onnx"
SPECIAL_TOKENS = {BOS: "<|startoftext|>", EOS: "<|endoftext|>", MASK: "<|mdm_mask|>"}


class RMSNorm(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * self.weight


def rope_tables(input_ids: torch.Tensor, offset: torch.Tensor | None = None):
    """cos/sin [B, 1, L, HEAD_DIM/2] of positions 0..L-1 (offset [B, 1] + 0..L-1 when given), built
    from the input so that L stays a dynamic axis."""
    pos = torch.cumsum(torch.ones_like(input_ids), dim=1) - 1
    if offset is not None:
        pos = pos + offset
    pos = pos.to(torch.float32)
    inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    angles = (pos.unsqueeze(-1) * inv_freq).unsqueeze(1)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = HEAD_DIM // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.n_heads = d_model // HEAD_DIM
        self.attn_norm = RMSNorm(d_model)
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.attn_out = nn.Linear(d_model, d_model, bias=False)
        self.ff_norm = RMSNorm(d_model)
        self.ff_gate = nn.Linear(d_model, 3 * d_model, bias=False)
        self.ff_up = nn.Linear(d_model, 3 * d_model, bias=False)
        self.ff_down = nn.Linear(3 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, past=None):
        """The block, and its own keys (after RoPE) and values [B, H, L, D]; with `past` = (keys,
        values) [B, H, P, D] of cached positions, x attends to those first (key_bias covers P + L)."""
        b, l, d = x.shape
        h = self.attn_norm(x)
        q, k, v = (proj(h).reshape(b, l, self.n_heads, HEAD_DIM).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        keys, values = (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))
        scores = torch.matmul(q, keys.transpose(-1, -2)) * (1.0 / math.sqrt(HEAD_DIM)) + key_bias
        attended = torch.matmul(torch.softmax(scores, dim=-1), values).transpose(1, 2).reshape(b, l, d)
        x = x + self.attn_out(attended)
        h = self.ff_norm(x)
        return x + self.ff_down(nn.functional.silu(self.ff_gate(h)) * self.ff_up(h)), k, v


class RealShapeLM(nn.Module):
    def __init__(self, d_model: int, n_layers: int):
        super().__init__()
        self.wte = nn.Embedding(VOCAB_SIZE, d_model)
        self.blocks = nn.ModuleList(Block(d_model) for _ in range(n_layers))
        self.ln_f = RMSNorm(d_model)
        self.ff_out = nn.Linear(d_model, VOCAB_SIZE, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.wte(input_ids)
        cos, sin = rope_tables(input_ids)
        key_bias = ((1.0 - attention_mask.to(x.dtype)) * -1e9).unsqueeze(1).unsqueeze(2)
        for block in self.blocks:
            x = block(x, key_bias, cos, sin)[0]
        return self.ff_out(self.ln_f(x))


class PrefixCacheLM(nn.Module):
    """The prefix-cache form of the same weights (packages/model/src/prefix-cache-contract.ts)."""

    def __init__(self, model: RealShapeLM):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, past_key, past_value, past_mask):
        m = self.model
        x = m.wte(input_ids)
        cos, sin = rope_tables(input_ids, offset=past_mask.sum(dim=1, keepdim=True))
        keys_mask = torch.cat([past_mask, attention_mask], dim=1).to(x.dtype)
        key_bias = ((1.0 - keys_mask) * -1e9).unsqueeze(1).unsqueeze(2)
        present_keys, present_values = [], []
        for layer, block in enumerate(m.blocks):
            x, k, v = block(x, key_bias, cos, sin, (past_key[layer], past_value[layer]))
            present_keys.append(k)
            present_values.append(v)
        return m.ff_out(m.ln_f(x)), torch.stack(present_keys), torch.stack(present_values)


def tokenizer_json() -> dict:
    """A BPE without merges: printable ASCII as single characters, placeholders for every other id."""
    vocab = {}
    for token_id in range(VOCAB_SIZE):
        if token_id in SPECIAL_TOKENS:
            vocab[SPECIAL_TOKENS[token_id]] = token_id
        elif token_id < 95:
            vocab[chr(32 + token_id)] = token_id
        else:
            vocab[f"<|t{token_id}|>"] = token_id
    added = [dict(id=i, content=c, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
             for i, c in sorted(SPECIAL_TOKENS.items())]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=256, help="a multiple of the head dim, 128")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix-cache", action="store_true",
                        help=f"also write {PREFIX_CACHE_FILE}, the prefix-cache form of the same weights")
    args = parser.parse_args()
    if args.d_model % HEAD_DIM != 0:
        parser.error(f"--d-model must be a multiple of {HEAD_DIM}")
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(args.seed)
    model = RealShapeLM(args.d_model, args.layers).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.02)

    ids = torch.full((2, 24), MASK, dtype=torch.int64)
    ids[:, 0] = BOS
    ids[:, 1:8] = torch.randint(95, 126_000, (2, 7))
    attn = torch.ones_like(ids)
    attn[1, 20:] = 0
    onnx_path = os.path.join(args.out_dir, "model.onnx")
    axes = {0: "batch", 1: "sequence"}
    # torch >= 2.9 defaults to the dynamo exporter, which needs onnxscript (a GPU host may lack it)
    # and takes other arguments: ask for the TorchScript exporter wherever the keyword exists.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, attn), onnx_path, input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
            opset_version=17, do_constant_folding=True, **legacy)
    onnx.checker.check_model(onnx_path)
    if args.prefix_cache:
        n_heads = args.d_model // HEAD_DIM
        window = ids[:, 8:]
        past = torch.randn(args.layers, 2, n_heads, 8, HEAD_DIM)
        names = ["input_ids", "attention_mask", "past_key", "past_value", "past_mask"]
        cache_axes = {"input_ids": {0: "batch", 1: "window"}, "attention_mask": {0: "batch", 1: "window"},
                      "past_key": {1: "batch", 3: "past"}, "past_value": {1: "batch", 3: "past"},
                      "past_mask": {0: "batch", 1: "past"}, "logits": {0: "batch", 1: "window"},
                      "present_key": {1: "batch", 3: "window"}, "present_value": {1: "batch", 3: "window"}}
        cached_path = os.path.join(args.out_dir, PREFIX_CACHE_FILE)
        with torch.no_grad():
            torch.onnx.export(
                PrefixCacheLM(model), (window, attn[:, 8:], past, past, torch.ones(2, 8, dtype=torch.int64)),
                cached_path, input_names=names, output_names=["logits", "present_key", "present_value"],
                dynamic_axes=cache_axes, opset_version=17, do_constant_folding=True, **legacy)
        onnx.checker.check_model(cached_path)

    manifest = {
        "name": f"real-shape-llada-v{VOCAB_SIZE}-d{args.d_model}-l{args.layers}",
        "vocabSize": VOCAB_SIZE,
        "maxSequenceLength": MAX_SEQUENCE_LENGTH,
        "specialTokens": {"mask": MASK, "eos": EOS, "pad": EOS, "bos": BOS},
        "files": {"onnx": "model.onnx", "tokenizer": "tokenizer.json"},
        "defaults": {"maxNewTokens": 256, "blockLength": 32},
    }
    if args.prefix_cache:
        manifest["prefixCache"] = {"onnx": PREFIX_CACHE_FILE, "layers": args.layers,
                                   "kvHeads": args.d_model // HEAD_DIM, "headDim": HEAD_DIM}
    with open(os.path.join(args.out_dir, "dfleet-model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f)
    with open(os.path.join(args.out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": SPECIAL_TOKENS[BOS], "eos_token": SPECIAL_TOKENS[EOS], "pad_token": SPECIAL_TOKENS[EOS],
                   "mask_token": SPECIAL_TOKENS[MASK]}, f, indent=2)
        f.write("\n")
    size = os.path.getsize(onnx_path)
    print(f"wrote {onnx_path} ({size / 1e6:.1f} MB, d_model {args.d_model}, {args.layers} layers)")


if __name__ == "__main__":
    main()
