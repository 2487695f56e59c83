"""Masked-diffusion training for jsfunc-mdm on a fixed wall-clock budget.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 python3 train.py --minutes 60 --out checkpoints/full

Objective (LLaDA SFT): t ~ U(eps, 1) per row (stratified over the batch); every answer position is
masked with probability t, the prompt never; loss = sum over masked positions of CE / t, divided
by (batch * ANSWER_LENGTH). The learning rate follows warmup + cosine over the *time* budget, so
the run ends on schedule whatever the machine's speed. Resumes from OUT/last.pt when restarted;
keeps OUT/best.pt (best quick held-out pass@1).
"""
from __future__ import annotations

import argparse
import math
import os
import random
import time

import torch
import torch.nn.functional as F

import tokenizer as tk
from common import evaluate, load_heldout, training_batch
from data import ANSWER_LENGTH, sample_task
from model import MaskedDiffusionLM

EPS = 1e-3


def batch_for_step(seed: int, step: int, batch_size: int):
    r = random.Random(seed * 1_000_003 + step)
    return training_batch([sample_task(r, heldout=False) for _ in range(batch_size)]), r.random()


def lr_at(frac: float, peak: float, warmup_frac: float) -> float:
    if frac < warmup_frac:
        return peak * frac / warmup_frac
    p = min(1.0, (frac - warmup_frac) / max(1e-9, 1 - warmup_frac))
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, required=True, help="training wall-clock budget")
    ap.add_argument("--out", default="checkpoints/full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--rope", action="store_true", help="rotary positions instead of a learned table")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup-frac", type=float, default=0.04)
    ap.add_argument("--eval-every-min", type=float, default=8.0)
    ap.add_argument("--eval-n", type=int, default=64)
    ap.add_argument("--max-steps", type=int, default=0, help="stop early after this many steps (pilot)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    last_path, best_path = os.path.join(args.out, "last.pt"), os.path.join(args.out, "best.pt")
    model = MaskedDiffusionLM(tk.VOCAB_SIZE, args.d_model, args.layers, args.heads, args.rope)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    step, elapsed, best = 0, 0.0, -1.0
    if os.path.exists(last_path):
        ck = torch.load(last_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, best = ck["step"], ck["elapsed"], ck["best"]
        torch.set_rng_state(ck["rng"])
        print(f"resumed from {last_path} at step {step}, {elapsed / 60:.1f} min done", flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params {nparams / 1e6:.2f}M config {model.config} batch {args.batch} lr {args.lr}", flush=True)

    heldout = load_heldout()
    quick = random.Random(7).sample(heldout, args.eval_n)
    budget = args.minutes * 60
    t0 = time.time() - elapsed
    last_eval = elapsed
    last_save = time.time()
    ema = None

    def save(path):
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=time.time() - t0,
                        best=best, rng=torch.get_rng_state(), config=model.config, args=vars(args)), path + ".tmp")
        os.replace(path + ".tmp", path)

    def quick_eval():
        nonlocal best
        res = evaluate(model, quick)
        print(f"eval step {step} quick pass@1 {res['pass_at_1']:.3f} exact {res['exact']:.3f} {res['by_family']}",
              flush=True)
        if res["pass_at_1"] >= best:
            best = res["pass_at_1"]
            save(best_path)

    model.train()
    while True:
        now = time.time() - t0
        if now >= budget or (args.max_steps and step >= args.max_steps):
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(now / budget, args.lr, args.warmup_frac)
        (ids, attn, ans), u = batch_for_step(args.seed, step, args.batch)
        b = ids.shape[0]
        # stratified t in (EPS, 1): lower-variance loss than iid draws
        t = ((torch.arange(b) + u) / b) * (1 - EPS) + EPS
        t = t[torch.randperm(b)]
        masked = (torch.rand(ids.shape) < t[:, None]) & ans
        noisy = torch.where(masked, torch.full_like(ids, tk.MASK), ids)
        logits = model(noisy, attn)
        ce = F.cross_entropy(logits[masked], ids[masked], reduction="none")
        loss = (ce / t[:, None].expand_as(ids)[masked]).sum() / (b * ANSWER_LENGTH)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 25 == 0:
            print(f"step {step} loss {ema:.4f} lr {opt.param_groups[0]['lr']:.2e} elapsed {now / 60:.1f}m "
                  f"{now / step:.2f}s/step", flush=True)
        if time.time() - last_save > 120:
            save(last_path)
            last_save = time.time()
        if (time.time() - t0) - last_eval > args.eval_every_min * 60:
            quick_eval()
            last_eval = time.time() - t0
    quick_eval()
    save(last_path)
    print(f"done: {step} steps in {(time.time() - t0) / 60:.1f} min; best quick pass@1 {best:.3f}", flush=True)


if __name__ == "__main__":
    main()
