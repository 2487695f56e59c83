"""Seeded generator of JavaScript function-completion tasks for jsfunc-mdm.

A task is a one-line comment spec plus a function header (the prompt), a reference body (the
completion) and 3-5 executable tests. Tests are computed from Python reference semantics that are
kept inside the subset where Python and JavaScript agree: integers only (no division, no floats),
`%` only on non-negative left operands, non-empty arrays for max/min, ASCII lowercase strings.

Held-out split (never seen in training):
  * every task that uses one of HELDOUT_VALUES as a constant;
  * every (template, first constant) pair whose stable hash falls in the held-out bucket.

    python3 data.py              # writes eval/heldout.jsonl (HELDOUT_COUNT tasks, seed 1234)
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from dataclasses import dataclass, field

HELDOUT_VALUES = frozenset({13, 37, 58, 74, 96})
HELDOUT_PAIR_BUCKETS = 7  # 1 in 7 (template, constant) pairs is held out
HELDOUT_COUNT = 640
EVAL_SEED = 1234
ANSWER_LENGTH = 48  # body chars must be < ANSWER_LENGTH so at least one eos follows

NUM_NAMES = ["x", "n", "y"]
PAIR_NAMES = [("a", "b"), ("x", "y"), ("m", "n")]
STR_NAMES = ["s", "str", "t"]
ARR_NAMES = ["xs", "arr", "nums"]
FUNC_NAMES = ["f", "g", "solve", "calc", "compute"]
SUM = "reduce((a, b) => a + b, 0)"


@dataclass
class Task:
    family: str
    template: str
    spec: str
    entry: str
    params: list
    body: str
    tests: list = field(default_factory=list)
    consts: tuple = ()

    @property
    def prompt(self) -> str:
        return f"// {self.spec}\nfunction {self.entry}({', '.join(self.params)}) {{\n"

    @property
    def completion(self) -> str:
        return "  " + self.body

    @property
    def program(self) -> str:
        return self.prompt + self.completion + "\n}"


# --- argument generators -------------------------------------------------------------------
def int_arg(r):
    return r.randint(-20, 50)


def nat_arg(r):
    return r.randint(0, 200)


def str_arg(r):
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(1, 6)))


def arr_arg(r):
    return [r.randint(-9, 20) for _ in range(r.randint(1, 6))]


def c99(r):
    return r.randint(1, 99)


def word(r):
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(1, 3)))


# --- templates ------------------------------------------------------------------------------
# Each template: (family, name, kind, const sampler, spec fn, body fn, python fn, arg gen)
# kind: 'num' (one number), 'pair' (two numbers), 'str', 'arr'.
T = []


def tpl(family, name, kind, consts, spec, body, fn, arg=None):
    T.append(dict(family=family, name=name, kind=kind, consts=consts, spec=spec, body=body, fn=fn, arg=arg))


def sorted_pair(r):
    a, b = sorted(r.sample(range(1, 100), 2))
    return (a, b)


# arithmetic with constants
tpl("arith", "mul_add", "num", lambda r: (c99(r), c99(r)),
    lambda p, A, B: f"return {p} times {A} plus {B}", lambda p, A, B: f"return {p} * {A} + {B};",
    lambda x, A, B: x * A + B)
tpl("arith", "sub", "num", lambda r: (c99(r),),
    lambda p, A: f"return {p} minus {A}", lambda p, A: f"return {p} - {A};", lambda x, A: x - A)
tpl("arith", "square_add", "num", lambda r: (c99(r),),
    lambda p, A: f"return {p} squared plus {A}", lambda p, A: f"return {p} * {p} + {A};", lambda x, A: x * x + A)
tpl("arith", "const_sub_mul", "num", lambda r: (c99(r), c99(r)),
    lambda p, A, B: f"return {A} minus {p} times {B}", lambda p, A, B: f"return {A} - {p} * {B};",
    lambda x, A, B: A - x * B)
tpl("arith", "add_mul", "num", lambda r: (c99(r), c99(r)),
    lambda p, A, B: f"return {p} plus {A}, times {B}", lambda p, A, B: f"return ({p} + {A}) * {B};",
    lambda x, A, B: (x + A) * B)

# two-argument arithmetic
tpl("arith2", "prod_add", "pair", lambda r: (c99(r),),
    lambda p, A: f"return {p[0]} times {p[1]} plus {A}", lambda p, A: f"return {p[0]} * {p[1]} + {A};",
    lambda a, b, A: a * b + A)
tpl("arith2", "sum_mul", "pair", lambda r: (c99(r),),
    lambda p, A: f"return the sum of {p[0]} and {p[1]} times {A}", lambda p, A: f"return ({p[0]} + {p[1]}) * {A};",
    lambda a, b, A: (a + b) * A)
tpl("arith2", "diff_add", "pair", lambda r: (c99(r),),
    lambda p, A: f"return {p[0]} minus {p[1]} plus {A}", lambda p, A: f"return {p[0]} - {p[1]} + {A};",
    lambda a, b, A: a - b + A)
tpl("arith2", "max_add", "pair", lambda r: (c99(r),),
    lambda p, A: f"return the larger of {p[0]} and {p[1]} plus {A}", lambda p, A: f"return Math.max({p[0]}, {p[1]}) + {A};",
    lambda a, b, A: max(a, b) + A)

# modular arithmetic (non-negative inputs only: JS and Python % agree there)
tpl("modulo", "mod", "nat", lambda r: (r.randint(2, 99),),
    lambda p, A: f"return {p} modulo {A}", lambda p, A: f"return {p} % {A};", lambda x, A: x % A)
tpl("modulo", "divisible", "nat", lambda r: (r.randint(2, 99),),
    lambda p, A: f"return true if {p} is divisible by {A}", lambda p, A: f"return {p} % {A} === 0;",
    lambda x, A: x % A == 0, lambda r, A: r.randint(0, 30) * A if r.random() < 0.5 else r.randint(0, 200))
tpl("modulo", "mod_add", "nat", lambda r: (r.randint(2, 99), c99(r)),
    lambda p, A, B: f"return {p} modulo {A} plus {B}", lambda p, A, B: f"return {p} % {A} + {B};",
    lambda x, A, B: x % A + B)

# string operations
tpl("string", "repeat", "str", lambda r: (r.randint(2, 5),),
    lambda p, A: f"return {p} repeated {A} times", lambda p, A: f"return {p}.repeat({A});", lambda s, A: s * A)
tpl("string", "upper", "str", lambda r: (),
    lambda p: f"return {p} in upper case", lambda p: f"return {p}.toUpperCase();", lambda s: s.upper())
tpl("string", "prefix", "str", lambda r: (r.randint(1, 6),),
    lambda p, A: f"return the first {A} characters of {p}", lambda p, A: f"return {p}.slice(0, {A});",
    lambda s, A: s[:A])
tpl("string", "reverse", "str", lambda r: (),
    lambda p: f"return {p} reversed", lambda p: f'return {p}.split("").reverse().join("");', lambda s: s[::-1])
tpl("string", "append", "str", lambda r: (word(r),),
    lambda p, W: f'return {p} followed by "{W}"', lambda p, W: f'return {p} + "{W}";', lambda s, W: s + W)
tpl("string", "len_mul", "str", lambda r: (c99(r),),
    lambda p, A: f"return the length of {p} times {A}", lambda p, A: f"return {p}.length * {A};",
    lambda s, A: len(s) * A)

# array reductions
tpl("reduce", "sum", "arr", lambda r: (),
    lambda p: f"return the sum of {p}", lambda p: f"return {p}.{SUM};", lambda xs: sum(xs))
tpl("reduce", "sum_from", "arr", lambda r: (c99(r),),
    lambda p, A: f"return the sum of {p} plus {A}", lambda p, A: f"return {p}.reduce((a, b) => a + b, {A});",
    lambda xs, A: sum(xs) + A)
tpl("reduce", "product", "arr", lambda r: (),
    lambda p: f"return the product of {p}", lambda p: f"return {p}.reduce((a, b) => a * b, 1);",
    lambda xs: __import__("math").prod(xs))
tpl("reduce", "max", "arr", lambda r: (),
    lambda p: f"return the largest element of {p}", lambda p: f"return Math.max(...{p});", lambda xs: max(xs))
tpl("reduce", "min", "arr", lambda r: (),
    lambda p: f"return the smallest element of {p}", lambda p: f"return Math.min(...{p});", lambda xs: min(xs))

# filters
tpl("filter", "greater", "arr", lambda r: (r.randint(0, 20),),
    lambda p, A: f"return the elements of {p} greater than {A}", lambda p, A: f"return {p}.filter((v) => v > {A});",
    lambda xs, A: [v for v in xs if v > A])
tpl("filter", "less", "arr", lambda r: (r.randint(0, 20),),
    lambda p, A: f"return the elements of {p} less than {A}", lambda p, A: f"return {p}.filter((v) => v < {A});",
    lambda xs, A: [v for v in xs if v < A])
tpl("filter", "even", "arr", lambda r: (),
    lambda p: f"return the even elements of {p}", lambda p: f"return {p}.filter((v) => v % 2 === 0);",
    lambda xs: [v for v in xs if v % 2 == 0])
tpl("filter", "count_greater", "arr", lambda r: (r.randint(0, 20),),
    lambda p, A: f"return how many elements of {p} are greater than {A}",
    lambda p, A: f"return {p}.filter((v) => v > {A}).length;", lambda xs, A: sum(1 for v in xs if v > A))

# maps
tpl("map", "times", "arr", lambda r: (c99(r),),
    lambda p, A: f"return each element of {p} times {A}", lambda p, A: f"return {p}.map((v) => v * {A});",
    lambda xs, A: [v * A for v in xs])
tpl("map", "plus", "arr", lambda r: (c99(r),),
    lambda p, A: f"return each element of {p} plus {A}", lambda p, A: f"return {p}.map((v) => v + {A});",
    lambda xs, A: [v + A for v in xs])
tpl("map", "minus", "arr", lambda r: (c99(r),),
    lambda p, A: f"return each element of {p} minus {A}", lambda p, A: f"return {p}.map((v) => v - {A});",
    lambda xs, A: [v - A for v in xs])
tpl("map", "square", "arr", lambda r: (),
    lambda p: f"return each element of {p} squared", lambda p: f"return {p}.map((v) => v * v);",
    lambda xs: [v * v for v in xs])

# conditionals / clamping
tpl("cond", "clamp", "num", sorted_pair,
    lambda p, A, B: f"return {p} clamped between {A} and {B}",
    lambda p, A, B: f"return Math.min(Math.max({p}, {A}), {B});", lambda x, A, B: min(max(x, A), B),
    lambda r, A, B: r.randint(0, 110))
tpl("cond", "even_choice", "num", lambda r: (c99(r), c99(r)),
    lambda p, A, B: f"return {A} if {p} is even, else {B}",
    lambda p, A, B: f"return {p} % 2 === 0 ? {A} : {B};", lambda x, A, B: A if x % 2 == 0 else B)
tpl("cond", "cap", "num", lambda r: (c99(r), c99(r)),
    lambda p, A, B: f"return {A} if {p} is greater than {B}, else {p}",
    lambda p, A, B: f"return {p} > {B} ? {A} : {p};", lambda x, A, B: A if x > B else x,
    lambda r, A, B: r.randint(0, 110))
tpl("cond", "abs_diff", "num", lambda r: (c99(r),),
    lambda p, A: f"return the distance between {p} and {A}", lambda p, A: f"return Math.abs({p} - {A});",
    lambda x, A: abs(x - A))
tpl("cond", "between", "num", sorted_pair,
    lambda p, A, B: f"return true if {p} is between {A} and {B}",
    lambda p, A, B: f"return {p} >= {A} && {p} <= {B};", lambda x, A, B: A <= x <= B,
    lambda r, A, B: r.randint(max(0, A - 10), B + 10))

# compositions
tpl("compose", "sum_times", "arr", lambda r: (c99(r),),
    lambda p, A: f"return the sum of {p} times {A}", lambda p, A: f"return {p}.{SUM} * {A};",
    lambda xs, A: sum(xs) * A)
tpl("compose", "max_plus", "arr", lambda r: (c99(r),),
    lambda p, A: f"return the largest element of {p} plus {A}", lambda p, A: f"return Math.max(...{p}) + {A};",
    lambda xs, A: max(xs) + A)
tpl("compose", "upper_repeat", "str", lambda r: (r.randint(2, 4),),
    lambda p, A: f"return {p} in upper case repeated {A} times", lambda p, A: f"return {p}.toUpperCase().repeat({A});",
    lambda s, A: s.upper() * A)
tpl("compose", "len_plus", "str", lambda r: (c99(r),),
    lambda p, A: f"return the length of {p} plus {A}", lambda p, A: f"return {p}.length + {A};",
    lambda s, A: len(s) + A)
tpl("compose", "capped_mul", "num", lambda r: (c99(r), c99(r)),
    lambda p, A, B: f"return {p} times {A}, at most {B}", lambda p, A, B: f"return Math.min({p} * {A}, {B});",
    lambda x, A, B: min(x * A, B))
tpl("compose", "map_rev", "arr", lambda r: (c99(r),),
    lambda p, A: f"return each element of {p} plus {A}, reversed",
    lambda p, A: f"return {p}.map((v) => v + {A}).reverse();", lambda xs, A: [v + A for v in xs][::-1])

FAMILIES = sorted({t["family"] for t in T})


def is_heldout(tmpl_name: str, consts: tuple, params: list, entry: str) -> bool:
    nums = [c for c in consts if isinstance(c, int)]
    if any(c in HELDOUT_VALUES for c in nums):
        return True
    # templates without constants hold out (parameter name, function name) combinations instead
    detail = consts[0] if consts else f"{','.join(params)}/{entry}"
    key = f"{tmpl_name}:{detail}".encode()
    return int(hashlib.sha256(key).hexdigest(), 16) % HELDOUT_PAIR_BUCKETS == 0


DEFAULT_ARG = {"num": lambda r, *c: int_arg(r), "nat": lambda r, *c: nat_arg(r),
               "str": lambda r, *c: str_arg(r), "arr": lambda r, *c: arr_arg(r)}


def make_task(r: random.Random, tmpl: dict) -> Task:
    consts = tmpl["consts"](r)
    kind = tmpl["kind"]
    if kind == "pair":
        params = list(r.choice(PAIR_NAMES))
        p = params
    else:
        pool = {"num": NUM_NAMES, "nat": NUM_NAMES, "str": STR_NAMES, "arr": ARR_NAMES}[kind]
        params = [r.choice(pool)]
        p = params[0]
    spec = tmpl["spec"](p, *consts)
    body = tmpl["body"](p, *consts)
    task = Task(tmpl["family"], tmpl["name"], spec, r.choice(FUNC_NAMES), params, body, consts=consts)
    ntests = r.randint(3, 5)
    seen = set()
    tries = 0
    while len(task.tests) < ntests and tries < 100:
        tries += 1
        if kind == "pair":
            args = [int_arg(r), int_arg(r)]
        else:
            gen = tmpl["arg"] or DEFAULT_ARG[kind]
            args = [gen(r, *consts)]
        key = json.dumps(args)
        if key in seen:
            continue
        seen.add(key)
        expected = tmpl["fn"](*args, *consts)
        task.tests.append({"args": args, "expected": expected})
    return task


def sample_task(r: random.Random, heldout: bool) -> Task:
    """Draw tasks until one falls on the requested side of the split."""
    while True:
        tmpl = r.choice(T)
        task = make_task(r, tmpl)
        if is_heldout(tmpl["name"], task.consts, task.params, task.entry) == heldout:
            assert len(task.completion) < ANSWER_LENGTH, task.completion
            return task


def training_tasks(seed: int):
    """Endless stream of training tasks (never a held-out one)."""
    r = random.Random(seed)
    while True:
        yield sample_task(r, heldout=False)


def heldout_tasks(count: int = HELDOUT_COUNT, seed: int = EVAL_SEED) -> list:
    r = random.Random(seed)
    out, prompts = [], set()
    while len(out) < count:
        t = sample_task(r, heldout=True)
        if t.prompt in prompts:
            continue
        prompts.add(t.prompt)
        out.append(t)
    return out


def to_record(i: int, t: Task) -> dict:
    return {"id": f"heldout-{i:04d}", "family": t.family, "prompt": t.prompt, "suffix": "\n}",
            "entry": t.entry, "tests": t.tests, "solution": t.completion}


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "eval", "heldout.jsonl")
    tasks = heldout_tasks()
    with open(path, "w") as f:
        for i, t in enumerate(tasks):
            f.write(json.dumps(to_record(i, t)) + "\n")
    fams = {}
    for t in tasks:
        fams[t.family] = fams.get(t.family, 0) + 1
    print(f"wrote {len(tasks)} held-out tasks to {path}: {fams}", file=sys.stderr)
    if "--train-sample" in sys.argv:
        n = int(sys.argv[sys.argv.index("--train-sample") + 1])
        g = training_tasks(0)
        with open("/tmp/train-sample.jsonl", "w") as f:
            for i in range(n):
                f.write(json.dumps(to_record(i, next(g))) + "\n")


if __name__ == "__main__":
    main()
