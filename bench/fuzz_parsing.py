"""Structure-aware fuzzing of vr.parse_completions.

Generates completions from a seeded RNG -- valid answers in every format, then mutated with
insertions / deletions / replacements of format tokens, random code points (surrogates
included), long repetitions of brackets and quotes -- and checks, for every completion:

* the call never raises, crashes or hangs (the batch's seed is printed before it is parsed, so a
  crash can be replayed with ``--seed``),
* every status / format code is known, offsets are consistent, all boxes are finite,
* answer and label spans are valid Python indices into the text,
* the batch parse equals the completion-by-completion parse and does not depend on the thread
  count.

Run:  python bench/fuzz_parsing.py --seconds 300        (tests/test_parsing.py runs it briefly)
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

import vrft_rewards as vr
from vrft_rewards.parsing import FORMAT_NAMES, STATUS_NAMES

TOKENS = list("[]{}(),:'\" .-+e0123456789\n\t") + [
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    "'Position'",
    "'Confidence'",
    '"bbox_2d"',
    '"label"',
    '"score"',
    "<|box_start|>",
    "<|box_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "```json",
    "```",
    "...",
    "…",
    "NaN",
    "Infinity",
    "1e999",
    "1e-400",
    "No Objects",
    "é",
    "🐕",
    "\u3000",
    "\u00a0",
    "\\",
    '\\"',
    "\x00",
    "\ud800",
    "(A)",
    "B.",
]
SCHEMAS = ["auto", "visual_rft", "qwen_json", "qwen_tuple", "boxes", "text", "number"]


def _num(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return str(rng.randint(-10, 1200))
    if r < 0.8:
        return repr(rng.uniform(-1e3, 1e3))
    return repr(rng.choice([0.0, -0.0, 1e-310, 1.7976931348623157e308, 5e-324, 2.5e15, 123456789012345678]))


def _valid(rng: random.Random) -> str:
    kind = rng.randrange(7)
    k = rng.randint(0, 4)
    q = rng.choice(["'", '"'])
    if kind == 0:
        body = (
            "["
            + ", ".join(
                f"{{{q}Position{q}: [{', '.join(_num(rng) for _ in range(4))}], {q}Confidence{q}: {_num(rng)}}}"
                for _ in range(k)
            )
            + "]"
        )
    elif kind == 1:
        body = (
            "```json\n["
            + ",\n".join(
                f'{{"bbox_2d": [{", ".join(_num(rng) for _ in range(4))}], "label": "obj{i}é"}}' for i in range(k)
            )
            + "]\n```"
        )
    elif kind == 2:
        body = "".join(
            f"<|object_ref_start|>o{i}<|object_ref_end|><|box_start|>({_num(rng)},{_num(rng)}),"
            f"({_num(rng)},{_num(rng)})<|box_end|>"
            for i in range(k)
        )
    elif kind == 3:
        body = "[" + ", ".join("[" + ", ".join(_num(rng) for _ in range(4)) + "]" for _ in range(k)) + "]"
    elif kind == 4:
        body = rng.choice(["Boeing 737-200", "(B) a cat", "golden_retriever", "No Objects", ""])
    elif kind == 5:
        body = _num(rng)
    else:
        body = "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 30)))
    think = "".join(rng.choice("abc déf\n🙂<>") for _ in range(rng.randint(0, 40)))
    return rng.choice(["", f"<think>{think}</think>"]) + rng.choice(["", " ", "\n"]) + f"<answer>{body}</answer>"


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 6)):
        pos = rng.randint(0, len(text))
        op = rng.randrange(5)
        if op == 0:
            text = text[:pos] + rng.choice(TOKENS) + text[pos:]
        elif op == 1:
            text = text[:pos] + text[pos + rng.randint(1, 8) :]
        elif op == 2:
            text = text[:pos] + chr(rng.randrange(0x110000)) + text[pos:]
        elif op == 3:
            text = text[:pos]  # truncation, as with max_completion_length
        else:
            text = text[:pos] + rng.choice(TOKENS) * rng.randint(1, 2000) + text[pos:]
    return text


def _check(texts, p) -> None:
    assert len(p) == len(texts)
    assert p.status.min(initial=0) >= 0 and p.status.max(initial=0) < len(STATUS_NAMES)
    assert p.format.min(initial=0) >= 0 and p.format.max(initial=0) < len(FORMAT_NAMES)
    assert p.offsets[0] == 0 and np.all(np.diff(p.offsets) >= 0) and p.offsets[-1] == len(p.boxes)
    assert np.all(np.isfinite(p.boxes))
    answers = p.answer_text
    for i, s in enumerate(texts):
        a, b = int(p.answer_start[i]), int(p.answer_end[i])
        if a < 0:
            assert answers[i] is None
        else:
            assert 0 <= a <= b <= len(s) and s[a:b] == answers[i]
    owner = p.box_owner
    for k in np.flatnonzero(p.label_start >= 0):
        s = texts[owner[k]]
        assert 0 <= p.label_start[k] <= p.label_end[k] <= len(s)


_FIELDS = (
    "status",
    "format",
    "offsets",
    "boxes",
    "confidences",
    "n_dropped",
    "answer_start",
    "answer_end",
    "label_start",
    "label_end",
    "choices",
    "strict_format",
    "text_outside",
)


def _same(p, q) -> None:
    for f in _FIELDS:
        a, b = getattr(p, f), getattr(q, f)
        assert a.tobytes() == b.tobytes(), f
    assert np.array_equal(p.numbers, q.numbers, equal_nan=True)


def run(seconds: float, seed: int | None = None, batch: int = 64, verbose: bool = True) -> int:
    """Fuzz for `seconds` (or one batch when `seed` is given); returns the number of completions."""
    start = time.monotonic()
    count = 0
    rounds = 0
    base = seed if seed is not None else 0
    while True:
        s = base + rounds
        if verbose:
            print(f"seed {s}", flush=True)
        rng = random.Random(s)
        texts = [_mutate(rng, _valid(rng)) for _ in range(batch)]
        kw = {
            "schema": rng.choice(SCHEMAS),
            "answer": rng.choice(["last", "first"]),
            "require_tags": rng.random() < 0.5,
        }
        vr.set_num_threads(rng.choice([1, 2, 4]))
        try:
            p = vr.parse_completions(texts, **kw)
            _check(texts, p)
            if rounds % 4 == 0:  # batch == one by one, and thread-count independence
                vr.set_num_threads(1)
                q = vr.parse_completions(texts, **kw)
                _same(p, q)
                one = vr.parse_completions(texts[:1], **kw)
                assert one.status[0] == p.status[0] and one.boxes.tobytes() == p.boxes_of(0).tobytes()
        finally:
            vr.set_num_threads(0)
        count += len(texts)
        rounds += 1
        if seed is not None or time.monotonic() - start > seconds:
            return count


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=None, help="replay one batch")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    n = run(args.seconds, args.seed, verbose=not args.quiet)
    print(f"fuzzed {n} completions in {time.monotonic() - t0:.0f} s: no failure", file=sys.stderr)


if __name__ == "__main__":
    main()
