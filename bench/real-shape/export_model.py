"""Export a random-weight model shaped like LLaDA-8B's vocabulary and attention to the dfleet v1 contract.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/real-shape/export_model.py OUT_DIR [--layers 2] [--d-model 256]

Writes OUT_DIR/model.onnx (input_ids, attention_mask int64 [B, L] -> logits float32 [B, L, V], dynamic B
and L, opset 17), OUT_DIR/dfleet-model.json, OUT_DIR/tokenizer.json and OUT_DIR/tokenizer_config.json.
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
MAX_SEQUENCE_LENGTH = 4096
SPECIAL_TOKENS = {BOS: "<|startoftext|>", EOS: "<|endoftext|>", MASK: "<|mdm_mask|>"}


class RMSNorm(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * self.weight


def rope_tables(input_ids: torch.Tensor):
    """cos/sin [B, 1, L, HEAD_DIM/2], built from the input so that L stays a dynamic axis."""
    pos = (torch.cumsum(torch.ones_like(input_ids), dim=1) - 1).to(torch.float32)
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

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        b, l, d = x.shape
        h = self.attn_norm(x)
        q, k, v = (proj(h).reshape(b, l, self.n_heads, HEAD_DIM).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(HEAD_DIM)) + key_bias
        attended = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, l, d)
        x = x + self.attn_out(attended)
        h = self.ff_norm(x)
        return x + self.ff_down(nn.functional.silu(self.ff_gate(h)) * self.ff_up(h))


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
            x = block(x, key_bias, cos, sin)
        return self.ff_out(self.ln_f(x))


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

    manifest = {
        "name": f"real-shape-llada-v{VOCAB_SIZE}-d{args.d_model}-l{args.layers}",
        "vocabSize": VOCAB_SIZE,
        "maxSequenceLength": MAX_SEQUENCE_LENGTH,
        "specialTokens": {"mask": MASK, "eos": EOS, "pad": EOS, "bos": BOS},
        "files": {"onnx": "model.onnx", "tokenizer": "tokenizer.json"},
        "defaults": {"maxNewTokens": 256, "blockLength": 32},
    }
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
