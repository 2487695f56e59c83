"""Greedy held-out evaluation of a checkpoint (LLaDA low-confidence remasking, one token per step).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 python3 evaluate.py checkpoints/full/best.pt [--n 640]

Completions are run against each task's tests with node (prompt + completion + suffix).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from common import evaluate, load_heldout
from model import MaskedDiffusionLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--n", type=int, default=0, help="first N tasks only (0 = all)")
    ap.add_argument("--dump", default="", help="write per-task completions as JSONL here")
    args = ap.parse_args()
    ck = torch.load(args.checkpoint)
    model = MaskedDiffusionLM(**ck["config"])
    model.load_state_dict(ck["model"])
    records = load_heldout()
    if args.n:
        records = records[:args.n]
    t0 = time.time()
    res = evaluate(model, records)
    print(f"checkpoint {args.checkpoint} step {ck['step']}: held-out greedy pass@1 {res['pass_at_1']:.4f} "
          f"({sum(res['passed'])}/{res['n']}), exact match {res['exact']:.4f}, {time.time() - t0:.0f}s")
    print("by family:", res["by_family"])
    if args.dump:
        with open(args.dump, "w") as f:
            for r, c, p in zip(records, res["completions"], res["passed"]):
                f.write(json.dumps(dict(id=r["id"], family=r["family"], passed=p, completion=c,
                                        solution=r["solution"])) + "\n")


if __name__ == "__main__":
    main()
