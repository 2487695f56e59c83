"""Small bidirectional transformer for masked diffusion (no causal mask).

Positions are absolute from 0 (learned table of MAX_POSITIONS rows); padding is handled only by
the key-padding mask built from attention_mask, so a row's logits do not depend on how far the
batch is padded. Everything is written with shape-agnostic ops so the ONNX export keeps B and L
dynamic.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_POSITIONS = 160


def rope_tables(input_ids: torch.Tensor, head_dim: int, offset: torch.Tensor | None = None):
    """cos/sin [B, 1, L, head_dim/2] for positions 0..L-1 (offset [B, 1] + 0..L-1 when given), built
    from the input so L stays dynamic."""
    pos = torch.cumsum(torch.ones_like(input_ids), dim=1) - 1
    if offset is not None:
        pos = pos + offset
    pos = pos.to(torch.float32)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = (pos.unsqueeze(-1) * inv_freq).unsqueeze(1)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: torch.Tensor, rope) -> torch.Tensor:
    cos, sin = rope
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, mlp_mult: int = 4):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, mlp_mult * d_model)
        self.fc2 = nn.Linear(mlp_mult * d_model, d_model)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor, rope) -> torch.Tensor:
        return self.forward_with_kv(x, key_bias, rope)[0]

    def forward_with_kv(self, x: torch.Tensor, key_bias: torch.Tensor, rope, past=None):
        """The block, and its own keys (after RoPE) and values [B, H, L, D]. With `past` = (keys,
        values) [B, H, P, D] of cached positions, x attends to those first, then to itself;
        key_bias then covers P + L keys."""
        b, l, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q = q.reshape(b, l, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.reshape(b, l, self.n_heads, self.head_dim).transpose(1, 2)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        v = v.reshape(b, l, self.n_heads, self.head_dim).transpose(1, 2)
        keys, values = (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))
        scores = torch.matmul(q, keys.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim)) + key_bias
        att = torch.matmul(torch.softmax(scores, dim=-1), values)
        x = x + self.proj(att.transpose(1, 2).reshape(b, l, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)))), k, v


class MaskedDiffusionLM(nn.Module):
    def __init__(self, vocab_size: int, d_model: int = 256, n_layers: int = 6, n_heads: int = 8, rope: bool = False):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads, rope=rope)
        self.rope = rope
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.zeros(MAX_POSITIONS, d_model))
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.tok.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        x = self.tok(input_ids)
        # rotary positions make "k chars after the answer start" the same pattern at any prompt length
        rope = rope_tables(input_ids, self.blocks[0].head_dim) if self.rope else None
        if not self.rope:
            x = x + self.pos[:seq_len].unsqueeze(0)
        # [B, 1, 1, L]: -1e9 on padded keys, 0 elsewhere
        key_bias = ((1.0 - attention_mask.to(x.dtype)) * -1e9).unsqueeze(1).unsqueeze(2)
        for block in self.blocks:
            x = block(x, key_bias, rope)
        return self.head(self.ln_f(x))

    def forward_cached(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, past_key: torch.Tensor,
                       past_value: torch.Tensor, past_mask: torch.Tensor):
        """The prefix-cache form (packages/model/src/prefix-cache-contract.ts): the window input_ids
        [B, S] after a row's sum(past_mask) cached positions, whose keys/values past_key/past_value
        [N, B, H, P, D] hold (right-padded, past_mask 0 on padding; P may be 0). Returns the
        window's logits [B, S, V] and its own keys/values [N, B, H, S, D]."""
        if not self.rope:
            raise ValueError("the prefix-cache form needs the rotary model: a learned table would need the offset gathered")
        x = self.tok(input_ids)
        rope = rope_tables(input_ids, self.blocks[0].head_dim, offset=past_mask.sum(dim=1, keepdim=True))
        keys_mask = torch.cat([past_mask, attention_mask], dim=1).to(x.dtype)
        key_bias = ((1.0 - keys_mask) * -1e9).unsqueeze(1).unsqueeze(2)
        present_keys, present_values = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block.forward_with_kv(x, key_bias, rope, (past_key[layer], past_value[layer]))
            present_keys.append(k)
            present_values.append(v)
        return self.head(self.ln_f(x)), torch.stack(present_keys), torch.stack(present_values)
