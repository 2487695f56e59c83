"""Export the prefix-cache form of a jsfunc-mdm checkpoint: model.prefix-cache.onnx, and the
manifest's prefixCache block (packages/model/src/prefix-cache-contract.ts).

    OMP_NUM_THREADS=1 /usr/bin/python3 recover_checkpoint.py --out /tmp/shipped.pt --step 2978 --elapsed-min 90 --rope
    OMP_NUM_THREADS=1 /usr/bin/python3 export_prefix_cache.py /tmp/shipped.pt

Checks, through onnxruntime (Python if installed, else the repo's onnxruntime-node), at lengths
other than the trace's: (a) with no cache (P = 0) the graph gives model.onnx's logits; (b) the
keys/values of positions [0, C) kept from a full pass, then a cached pass over the rest of the same
canvas, give the full pass's logits there; (c) two rows of different cache and window lengths,
both padded, give each row's logits as alone.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import torch

import tokenizer as tk
from common import HERE, prompt_ids
from data import ANSWER_LENGTH
from export import run_onnx, run_onnx_outputs
from model import MaskedDiffusionLM

ONNX_FILE = "model.prefix-cache.onnx"
INPUTS = ["input_ids", "attention_mask", "past_key", "past_value", "past_mask"]
OUTPUTS = ["logits", "present_key", "present_value"]


class PrefixCacheGraph(torch.nn.Module):
    def __init__(self, model: MaskedDiffusionLM):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, past_key, past_value, past_mask):
        return self.model.forward_cached(input_ids, attention_mask, past_key, past_value, past_mask)


def canvas(prompt: str, committed: int) -> np.ndarray:
    """bos + prompt + an answer whose first `committed` positions hold ordinary tokens, the rest masks."""
    row = prompt_ids(prompt) + [tk.MASK] * ANSWER_LENGTH
    answer_start = len(row) - ANSWER_LENGTH
    for i in range(committed):
        row[answer_start + i] = tk.VOCAB[" "] if i % 2 else tk.VOCAB["x"]
    return np.array(row, dtype=np.int64)


def feeds(windows, pasts, shape):
    """A padded batch of windows with their caches ([N, H, C, D] keys/values per row)."""
    n, h, d = shape
    width = max(len(w) for w in windows)
    plen = max(p[0].shape[2] for p in pasts)
    ids = np.full((len(windows), width), tk.PAD, dtype=np.int64)
    attn = np.zeros((len(windows), width), dtype=np.int64)
    past_key = np.zeros((n, len(windows), h, plen, d), dtype=np.float32)
    past_value = np.zeros_like(past_key)
    past_mask = np.zeros((len(windows), plen), dtype=np.int64)
    for r, (window, (keys, values)) in enumerate(zip(windows, pasts)):
        ids[r, :len(window)] = window
        attn[r, :len(window)] = 1
        c = keys.shape[2]
        past_key[:, r, :, :c] = keys
        past_value[:, r, :, :c] = values
        past_mask[r, :c] = 1
    return dict(input_ids=ids, attention_mask=attn, past_key=past_key, past_value=past_value, past_mask=past_mask)


def main() -> None:
    ck = torch.load(sys.argv[1])
    model = MaskedDiffusionLM(**ck["config"])
    model.load_state_dict(ck["model"])
    model.eval()
    n, h, d = len(model.blocks), model.blocks[0].n_heads, model.blocks[0].head_dim
    empty = np.zeros((n, h, 0, d), dtype=np.float32)
    onnx_path = os.path.join(HERE, ONNX_FILE)

    trace = feeds([canvas("// return x plus 1\nfunction f(x) {\n", 0)[:9]],
                  [(np.random.default_rng(0).standard_normal((n, h, 5, d)).astype(np.float32),) * 2], (n, h, d))
    axes = {"input_ids": {0: "batch", 1: "window"}, "attention_mask": {0: "batch", 1: "window"},
            "past_key": {1: "batch", 3: "past"}, "past_value": {1: "batch", 3: "past"},
            "past_mask": {0: "batch", 1: "past"}, "logits": {0: "batch", 1: "window"},
            "present_key": {1: "batch", 3: "window"}, "present_value": {1: "batch", 3: "window"}}
    with torch.no_grad():
        torch.onnx.export(PrefixCacheGraph(model), tuple(torch.from_numpy(trace[k]) for k in INPUTS), onnx_path,
                          input_names=INPUTS, output_names=OUTPUTS, dynamic_axes=axes, opset_version=17,
                          do_constant_folding=True)
    onnx.checker.check_model(onnx.load(onnx_path))

    def cached_pass(batch):
        return run_onnx_outputs(onnx_path, batch, OUTPUTS)

    plain_path = os.path.join(HERE, "model.onnx")
    rows = [canvas("// return s reversed\nfunction g(s) {\n", 12),
            canvas("// return how many elements of nums are greater than 12\nfunction compute(nums) {\n", 30)]
    worst = {}
    for row in rows:
        full = run_onnx(plain_path, row[None], np.ones((1, len(row)), dtype=np.int64))[0]
        none = feeds([row], [(empty, empty)], (n, h, d))
        logits, keys, values = cached_pass(none)
        worst["a"] = max(worst.get("a", 0.0), float(np.abs(logits[0] - full).max()))
        c = len(row) - ANSWER_LENGTH + 8
        window = feeds([row[c:]], [(keys[:, 0, :, :c], values[:, 0, :, :c])], (n, h, d))
        worst["b"] = max(worst.get("b", 0.0), float(np.abs(cached_pass(window)[0][0] - full[c:]).max()))
    # (c): the two rows with caches of different lengths and windows of different lengths, batched
    caches, windows, alone = [], [], []
    for row, c in zip(rows, (len(rows[0]) - ANSWER_LENGTH, len(rows[1]) - ANSWER_LENGTH + 16)):
        _, keys, values = cached_pass(feeds([row], [(empty, empty)], (n, h, d)))
        caches.append((keys[:, 0, :, :c], values[:, 0, :, :c]))
        windows.append(row[c:])
        alone.append(cached_pass(feeds([row[c:]], [caches[-1]], (n, h, d)))[0][0])
    batched = cached_pass(feeds(windows, caches, (n, h, d)))[0]
    worst["c"] = max(float(np.abs(batched[r, :len(w)] - alone[r]).max()) for r, w in enumerate(windows))
    print(f"  (a) no cache vs model.onnx max |diff|: {worst['a']:.2e}")
    print(f"  (b) cached window vs full pass max |diff|: {worst['b']:.2e}")
    print(f"  (c) batched vs alone max |diff|: {worst['c']:.2e}")
    assert max(worst.values()) < 1e-4, worst

    manifest_path = os.path.join(HERE, "dfleet-model.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    manifest["prefixCache"] = {"onnx": ONNX_FILE, "layers": n, "kvHeads": h, "headDim": d}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"exported {sys.argv[1]} -> {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB); {manifest_path} names it")


if __name__ == "__main__":
    main()
