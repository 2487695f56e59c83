"""Export a jsfunc-mdm checkpoint to model.onnx and write dfleet-model.json + tokenizer files.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 python3 export.py checkpoints/full/best.pt

Checks: onnx.checker, and the ONNX logits equal the torch logits on a right-padded batch of 2
(run with Python onnxruntime when installed, else the repo's onnxruntime-node) at a sequence
length different from the one used for tracing, so the dynamic axes are exercised.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch

import tokenizer as tk
from common import HERE, prompt_ids
from data import ANSWER_LENGTH
from model import MAX_POSITIONS, MaskedDiffusionLM


def padded_pair(short: str, long: str):
    rows = [prompt_ids(short) + [tk.MASK] * ANSWER_LENGTH, prompt_ids(long) + [tk.MASK] * ANSWER_LENGTH]
    width = max(map(len, rows))
    ids = np.full((2, width), tk.PAD, dtype=np.int64)
    attn = np.zeros((2, width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        attn[i, :len(r)] = 1
    return ids, attn


ORT_NODE_SCRIPT = r"""
const ort = require(process.argv[2]);
const fs = require('fs');
(async () => {
  const { feeds, outputs } = JSON.parse(fs.readFileSync(process.argv[4], 'utf8'));
  const session = await ort.InferenceSession.create(process.argv[3]);
  const tensors = {};
  for (const [name, { type, data, shape }] of Object.entries(feeds)) {
    tensors[name] = new ort.Tensor(type, type === 'int64' ? BigInt64Array.from(data.map(BigInt)) : Float32Array.from(data), shape);
  }
  const out = await session.run(tensors, outputs);
  const result = {};
  for (const name of outputs) result[name] = { dims: out[name].dims, type: out[name].type, data: Array.from(out[name].data) };
  process.stdout.write(JSON.stringify(result));
})();
"""


def run_onnx_outputs(path: str, feeds: dict, outputs: list) -> list:
    """Runs the ONNX file on int64/float32 numpy feeds with onnxruntime (Python if installed, else
    the repo's onnxruntime-node) and returns the named float32 outputs."""
    try:
        import onnxruntime as ort  # not packaged in Debian
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return sess.run(outputs, feeds)
    except ImportError:
        pass
    ort_node = os.path.join(HERE, "..", "..", "node_modules", "onnxruntime-node")
    encoded = {name: dict(type="int64" if a.dtype == np.int64 else "float32", data=a.ravel().tolist(), shape=list(a.shape))
               for name, a in feeds.items()}
    with tempfile.TemporaryDirectory() as d:
        script, data = os.path.join(d, "run.cjs"), os.path.join(d, "in.json")
        with open(script, "w") as f:
            f.write(ORT_NODE_SCRIPT)
        with open(data, "w") as f:
            json.dump(dict(feeds=encoded, outputs=outputs), f)
        res = subprocess.run(["node", script, os.path.abspath(ort_node), path, data], capture_output=True,
                             text=True, check=True, timeout=300)
    out = json.loads(res.stdout)
    for name in outputs:
        assert out[name]["type"] == "float32", (name, out[name]["type"])
    return [np.array(out[name]["data"], dtype=np.float32).reshape(out[name]["dims"]) for name in outputs]


def run_onnx(path: str, ids: np.ndarray, attn: np.ndarray) -> np.ndarray:
    """The logits of a model.onnx-form file."""
    return run_onnx_outputs(path, {"input_ids": ids, "attention_mask": attn}, ["logits"])[0]


def main() -> None:
    ckpt = sys.argv[1]
    ck = torch.load(ckpt)
    model = MaskedDiffusionLM(**ck["config"])
    model.load_state_dict(ck["model"])
    model.eval()
    onnx_path = os.path.join(HERE, "model.onnx")

    trace_ids, trace_attn = padded_pair("// return x plus 1\nfunction f(x) {\n",
                                        "// return the sum of xs times 3\nfunction solve(xs) {\n")
    torch.onnx.export(
        model, (torch.from_numpy(trace_ids), torch.from_numpy(trace_attn)), onnx_path,
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "logits": {0: "batch", 1: "sequence"}},
        opset_version=17, do_constant_folding=True)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    for v in list(m.graph.input) + list(m.graph.output):
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        print(f"  {v.name}: elem_type {v.type.tensor_type.elem_type} dims {dims}")

    # a different length and padding pattern than the trace
    ids, attn = padded_pair("// return s reversed\nfunction g(s) {\n",
                            "// return how many elements of nums are greater than 12\nfunction compute(nums) {\n")
    with torch.no_grad():
        ref = model(torch.from_numpy(ids), torch.from_numpy(attn)).numpy()
    got = run_onnx(onnx_path, ids, attn)
    valid = attn.astype(bool)
    diff = float(np.abs(ref - got)[valid].max())
    print(f"  onnx vs torch max |diff| on valid positions: {diff:.2e} (shape {got.shape})")
    assert got.dtype == np.float32 and got.shape == ref.shape and diff < 1e-3, diff
    # the short row must not change when it is padded
    with torch.no_grad():
        n = int(attn[0].sum())
        alone = model(torch.from_numpy(ids[:1, :n]), torch.from_numpy(attn[:1, :n])).numpy()
    pad_diff = float(np.abs(alone[0] - ref[0, :n]).max())
    print(f"  padded vs unpadded row max |diff|: {pad_diff:.2e}")
    assert pad_diff < 1e-4, pad_diff

    manifest = {
        "name": "jsfunc-mdm",
        "vocabSize": tk.VOCAB_SIZE,
        "maxSequenceLength": MAX_POSITIONS,
        "specialTokens": {"mask": tk.MASK, "eos": tk.EOS, "pad": tk.PAD, "bos": tk.BOS, "unk": tk.UNK},
        "files": {"onnx": "model.onnx", "tokenizer": "tokenizer.json"},
        "defaults": {"maxNewTokens": ANSWER_LENGTH, "blockLength": ANSWER_LENGTH},
    }
    with open(os.path.join(HERE, "dfleet-model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, "tokenizer.json"), "w") as f:
        json.dump(tk.tokenizer_json(), f, indent=1)
    with open(os.path.join(HERE, "tokenizer_config.json"), "w") as f:
        json.dump(tk.tokenizer_config(), f, indent=2)
        f.write("\n")
    size = os.path.getsize(onnx_path)
    print(f"exported {ckpt} (step {ck['step']}) -> {onnx_path} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
