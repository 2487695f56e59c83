"""Batching and greedy LLaDA decoding shared by train.py, evaluate.py and export.py."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile

import torch

import tokenizer as tk
from data import ANSWER_LENGTH

HERE = os.path.dirname(os.path.abspath(__file__))


def prompt_ids(prompt: str) -> list[int]:
    return [tk.BOS] + tk.encode(prompt)


def training_batch(tasks) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows [bos] + prompt + body + eos fill to ANSWER_LENGTH, right-padded with pad.

    Returns input_ids, attention_mask and answer_mask (1 on the ANSWER_LENGTH answer positions).
    """
    rows = []
    for t in tasks:
        body = tk.encode(t.completion)
        answer = body + [tk.EOS] * (ANSWER_LENGTH - len(body))
        rows.append((prompt_ids(t.prompt), answer))
    width = max(len(p) + ANSWER_LENGTH for p, _ in rows)
    ids = torch.full((len(rows), width), tk.PAD, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    ans = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (p, a) in enumerate(rows):
        n = len(p) + len(a)
        ids[i, :n] = torch.tensor(p + a)
        attn[i, :n] = 1
        ans[i, len(p):n] = True
    return ids, attn, ans


@torch.no_grad()
def greedy_decode_ids(model, prompts: list[str], batch_size: int = 128) -> list[list[int]]:
    """LLaDA low-confidence remasking with one token per step (steps = ANSWER_LENGTH).

    Each step commits the single masked position whose predicted token is most probable, the
    leftmost on a tie. As in LLaDA's generate.py and Fast-dLLM: the confidence is the predicted
    token's probability under the FULL softmax; the banned special tokens (all but eos) are left
    out of the argmax only, so they are never predicted but their mass still lowers the
    confidence. Softmax in float64, as dfleet's decoder computes it, so float32 rounding does not
    make ties of its own. Returns each answer's token ids, cut at the first eos.
    """
    model.eval()
    out = []
    banned = torch.tensor([tk.PAD, tk.BOS, tk.MASK, tk.UNK])
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        plist = [prompt_ids(p) for p in chunk]
        width = max(len(p) for p in plist) + ANSWER_LENGTH
        ids = torch.full((len(chunk), width), tk.PAD, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, p in enumerate(plist):
            ids[i, :len(p)] = torch.tensor(p)
            ids[i, len(p):len(p) + ANSWER_LENGTH] = tk.MASK
            attn[i, :len(p) + ANSWER_LENGTH] = 1
        for _ in range(ANSWER_LENGTH):
            logits = model(ids, attn).double()
            probs = torch.softmax(logits, dim=-1)
            allowed = logits.clone()
            allowed[:, :, banned] = float("-inf")
            pred = allowed.argmax(dim=-1)
            conf = probs.gather(-1, pred.unsqueeze(-1)).squeeze(-1)
            masked = ids == tk.MASK
            conf = torch.where(masked, conf, torch.full_like(conf, -1.0))
            pos = conf.argmax(dim=1)
            rows = torch.arange(len(chunk))
            ids[rows, pos] = torch.where(masked[rows, pos], pred[rows, pos], ids[rows, pos])
        for i, p in enumerate(plist):
            answer = ids[i, len(p):len(p) + ANSWER_LENGTH].tolist()
            if tk.EOS in answer:
                answer = answer[:answer.index(tk.EOS)]
            out.append(answer)
    model.train()
    return out


def greedy_decode(model, prompts: list[str], batch_size: int = 128) -> list[str]:
    """greedy_decode_ids, as text."""
    return [tk.decode(answer) for answer in greedy_decode_ids(model, prompts, batch_size)]


RUNNER = r"""
const fs = require('fs');
const items = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const results = items.map((t) => {
  try {
    const fn = new Function(t.prompt + t.completion + t.suffix + '\nreturn ' + t.entry + ';')();
    return t.tests.every((c) => JSON.stringify(fn(...c.args)) === JSON.stringify(c.expected));
  } catch (e) { return false; }
});
process.stdout.write(JSON.stringify(results));
"""


def run_tests(records: list[dict], completions: list[str]) -> list[bool]:
    """Executes prompt + completion + suffix in node (one process, each program in new Function)."""
    items = [dict(prompt=r["prompt"], completion=c, suffix=r["suffix"], entry=r["entry"], tests=r["tests"])
             for r, c in zip(records, completions)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "items.json")
        runner = os.path.join(d, "runner.cjs")
        with open(path, "w") as f:
            json.dump(items, f)
        with open(runner, "w") as f:
            f.write(RUNNER)
        res = subprocess.run(["node", runner, path], capture_output=True, text=True, timeout=120)
    return json.loads(res.stdout)


def load_heldout() -> list[dict]:
    with open(os.path.join(HERE, "eval", "heldout.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(model, records: list[dict]) -> dict:
    completions = greedy_decode(model, [r["prompt"] for r in records])
    passed = run_tests(records, completions)
    exact = [c == r["solution"] for c, r in zip(completions, records)]
    by_family = {}
    for r, p in zip(records, passed):
        f = by_family.setdefault(r["family"], [0, 0])
        f[0] += int(p)
        f[1] += 1
    return dict(n=len(records), pass_at_1=sum(passed) / len(records), exact=sum(exact) / len(records),
                by_family={k: f"{a}/{b}" for k, (a, b) in sorted(by_family.items())},
                completions=completions, passed=passed)
