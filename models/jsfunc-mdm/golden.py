"""Golden fixture: greedy_decode's tokens on the shipped model.onnx, for dfleet's decoder to match.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 golden.py \
        --out ../../packages/model/test/fixtures/jsfunc-mdm-greedy.json

Rebuilds the torch model from model.onnx (recover_checkpoint.map_initializers), decodes the first
N held-out prompts one at a time with common.greedy_decode_ids (LLaDA low-confidence remasking,
steps = block = ANSWER_LENGTH, temperature 0) and writes {prompt, token ids} per prompt. For each
step it also records the smallest gap between the two most confident masked positions, so a
mismatch with the TypeScript decoder can be told apart from a near-tie.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import onnx
import torch

import tokenizer as tk
from common import HERE, greedy_decode_ids, load_heldout, prompt_ids
from data import ANSWER_LENGTH
from model import MaskedDiffusionLM
from recover_checkpoint import map_initializers


def model_from_onnx(path: str) -> MaskedDiffusionLM:
    torch.manual_seed(0)  # as train.py: the (unused with rope) position table
    model = MaskedDiffusionLM(tk.VOCAB_SIZE, 192, 4, 6, rope=True)
    state = model.state_dict()
    mapped, _ = map_initializers(onnx.load(path), state)
    model.load_state_dict({n: torch.from_numpy(np.array(mapped[n], dtype=np.float32)) if n in mapped else t
                           for n, t in state.items()})
    return model.eval()


@torch.no_grad()
def smallest_top2_gap(model: MaskedDiffusionLM, prompt: str) -> float:
    """Replays one greedy decode and returns the smallest top-2 confidence gap over its steps."""
    p = prompt_ids(prompt)
    ids = torch.tensor([p + [tk.MASK] * ANSWER_LENGTH])
    attn = torch.ones_like(ids)
    banned = [tk.PAD, tk.BOS, tk.MASK, tk.UNK]
    smallest = float("inf")
    for _ in range(ANSWER_LENGTH):
        logits = model(ids, attn).double()[0]
        probs = torch.softmax(logits, dim=-1)
        logits[:, banned] = float("-inf")
        pred = logits.argmax(dim=-1)
        conf = probs.gather(-1, pred.unsqueeze(-1)).squeeze(-1)
        conf[ids[0] != tk.MASK] = -1.0
        top = torch.topk(conf, 2).values if int((ids[0] == tk.MASK).sum()) > 1 else None
        if top is not None:
            smallest = min(smallest, float(top[0] - top[1]))
        pos = int(conf.argmax())
        ids[0, pos] = pred[pos]
    return smallest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", default=os.path.join(HERE, "model.onnx"))
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    model = model_from_onnx(args.onnx)
    prompts = [r["prompt"] for r in load_heldout()[: args.n]]
    answers = greedy_decode_ids(model, prompts, batch_size=1)
    cases = []
    for prompt, answer in zip(prompts, answers):
        gap = smallest_top2_gap(model, prompt)
        cases.append(dict(prompt=prompt, tokenIds=answer, smallestTop2Gap=float(f"{gap:.3g}")))
    fixture = dict(
        model="jsfunc-mdm",
        source="models/jsfunc-mdm/golden.py: common.greedy_decode_ids on model.onnx rebuilt in torch",
        decode=dict(strategy="reference", steps=ANSWER_LENGTH, maxNewTokens=ANSWER_LENGTH,
                    blockLength=ANSWER_LENGTH, temperature=0),
        cases=cases,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    gaps = sorted(c["smallestTop2Gap"] for c in cases)
    print(f"wrote {args.out}: {len(cases)} prompts; smallest top-2 confidence gaps {gaps[:5]}")


if __name__ == "__main__":
    main()
