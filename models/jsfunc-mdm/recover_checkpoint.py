"""Rebuild a train.py-resumable checkpoint from the shipped model.onnx (when last.pt is lost).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 python3 recover_checkpoint.py \
        --onnx model.onnx --out checkpoints/rope2/last.pt --step 2276 --elapsed-min 62.1 \
        --d-model 192 --layers 4 --heads 6 --rope

Maps the ONNX initializers onto MaskedDiffusionLM's state_dict:
  1. by name, where torch.onnx.export kept the parameter name (LayerNorm weights/biases, Linear
     biases, the token embedding);
  2. a Linear weight that became an anonymous `onnx::MatMul_NNN` initializer (stored transposed,
     [in, out]) is named by the bias its MatMul output is added to (MatMul(x, W) -> Add(., P.bias)
     gives P.weight = W^T);
  3. anything still unmatched falls back to shape + graph order, and the script stops if that is
     ambiguous.
Every parameter the forward pass uses must be filled exactly once. The learned position table
`pos` is unused with --rope (it never gets a gradient, so AdamW leaves it at its seed-0 init);
building the model after torch.manual_seed(seed), as train.py does, restores it exactly.

Then it checks the rebuilt torch model against model.onnx (onnxruntime, via export.run_onnx) on a
right-padded batch and writes OUT in train.py's format: model, opt, step, elapsed (seconds),
best, rng, config, args. The AdamW moments are NOT in the ONNX file: the optimizer state is fresh
(empty), so the resumed run restarts Adam's moment estimates at this step.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper

import tokenizer as tk
from common import HERE
from export import padded_pair, run_onnx
from model import MaskedDiffusionLM


def map_initializers(m: onnx.ModelProto, state: dict[str, torch.Tensor]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out: dict[str, np.ndarray] = {}
    how: dict[str, str] = {}
    used: set[str] = set()

    def take(param: str, init: str, arr: np.ndarray, why: str) -> None:
        assert param not in out, f"{param} mapped twice"
        assert tuple(arr.shape) == tuple(state[param].shape), (param, arr.shape, tuple(state[param].shape))
        out[param] = arr
        how[param] = f"{why} <- {init}"
        used.add(init)

    # 1. by name
    for name in state:
        if name in inits:
            take(name, name, inits[name], "name")

    # 2. MatMul(x, W) whose output feeds Add(., P.bias): W is P.weight transposed
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in m.graph.node:
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)
    matmuls = []  # (weight initializer name) in graph order
    for node in m.graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        w = next((i for i in node.input[1:2] if i in inits), None)
        if w is None or w in used:
            continue
        matmuls.append(w)
        for nxt in consumers.get(node.output[0], []):
            if nxt.op_type != "Add":
                continue
            bias = next((i for i in nxt.input if i in inits and i.endswith(".bias")), None)
            if bias is None:
                continue
            param = bias[: -len(".bias")] + ".weight"
            if param in state and param not in out:
                arr = inits[w].T.copy() if node.op_type == "MatMul" else inits[w]
                take(param, w, arr, "matmul->bias")

    # 3. shape + graph order for whatever is left (weights transposed for MatMul)
    missing = [n for n in state if n not in out]
    left = [w for w in matmuls if w not in used] + [n for n in inits if n not in used and n not in matmuls]
    for name in missing:
        if name == "pos":
            continue
        want = tuple(state[name].shape)
        cands = [w for w in left if w not in used and (inits[w].T.shape == want or inits[w].shape == want)]
        assert cands, f"no initializer for {name} {want}"
        w = cands[0]
        arr = inits[w].T.copy() if inits[w].T.shape == want and inits[w].ndim == 2 else inits[w]
        take(name, w, arr, "shape+order")
    return out, how


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", default=os.path.join(HERE, "model.onnx"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--step", type=int, required=True)
    ap.add_argument("--elapsed-min", type=float, required=True, help="training minutes already done")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--rope", action="store_true")
    ap.add_argument("--lr", type=float, default=1e-3, help="only recorded in the checkpoint's args")
    args = ap.parse_args()

    torch.manual_seed(args.seed)  # as train.py: reproduces the (unused with --rope) pos table
    model = MaskedDiffusionLM(tk.VOCAB_SIZE, args.d_model, args.layers, args.heads, args.rope)
    state = model.state_dict()
    m = onnx.load(args.onnx)
    mapped, how = map_initializers(m, state)
    for name in state:
        print(f"  {name:24s} {str(tuple(state[name].shape)):14s} {how.get(name, 'kept (seed init, unused)' if name == 'pos' and args.rope else 'MISSING')}")
    missing = [n for n in state if n not in mapped and not (n == "pos" and args.rope)]
    assert not missing, f"unmapped parameters: {missing}"
    model.load_state_dict({n: (torch.from_numpy(np.array(mapped[n], dtype=np.float32)) if n in mapped else t)
                           for n, t in state.items()})
    model.eval()

    # verify against the ONNX graph at a length different from the export's trace
    worst = 0.0
    for short, long in [("// return s reversed\nfunction g(s) {\n",
                         "// return how many elements of nums are greater than 12\nfunction compute(nums) {\n"),
                        ("// return x plus 1\nfunction f(x) {\n", "// return the sum of xs times 3\nfunction solve(xs) {\n")]:
        ids, attn = padded_pair(short, long)
        with torch.no_grad():
            ref = model(torch.from_numpy(ids), torch.from_numpy(attn)).numpy()
        got = run_onnx(os.path.abspath(args.onnx), ids, attn)
        diff = float(np.abs(ref - got)[attn.astype(bool)].max())
        worst = max(worst, diff)
        print(f"  torch vs onnx logits max |diff| (shape {got.shape}, |logit| max {np.abs(got).max():.1f}): {diff:.2e}")
    assert worst < 1e-4, worst

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)  # fresh: moments lost
    torch.manual_seed(args.seed * 1_000_003 + args.step)  # the original torch RNG state is lost too
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=args.step, elapsed=args.elapsed_min * 60,
                    best=-1.0, rng=torch.get_rng_state(), config=model.config,
                    args=dict(vars(args), recovered_from=os.path.abspath(args.onnx), fresh_optimizer=True)),
               args.out + ".tmp")
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}: step {args.step}, elapsed {args.elapsed_min:.2f} min, fresh AdamW state, "
          f"max |diff| {worst:.2e}")


if __name__ == "__main__":
    main()
