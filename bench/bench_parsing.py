"""Parsing 4096 completions (~400 characters each) into flat arrays: ours vs the anchors of
issue 3 (shared/research/kernels.md §4d): ``re`` + ``json.loads`` + numpy in a Python loop, and
``str.find`` + orjson + numpy.  Every competitor returns the same flat arrays (boxes (N, 4),
confidences (N,), offsets (B + 1,)) and each result is asserted against the expected values.

Throughput (MB/s of UTF-8 completion text) is stored in each benchmark's ``extra_info``.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import vrft_rewards as vr

orjson = pytest.importorskip("orjson")

_WORDS = (
    "the",
    "image",
    "shows",
    "a",
    "dog",
    "near",
    "car",
    "left",
    "right",
    "object",
    "box",
    "small",
    "large",
    "street",
    "I",
    "see",
    "two",
    "cats",
    "so",
    "answer",
    "is",
    "under",
)


def _workload(kind: str, n: int, seed: int = 0):
    """n completions of ~400 characters: reasoning + an answer with 1-4 boxes."""
    rng = np.random.default_rng(seed)
    texts, boxes, confs, counts = [], [], [], []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        b = rng.integers(0, 1000, (k, 4))
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
        c = np.round(rng.uniform(0.05, 1.0, k), 2)
        if kind == "visual_rft":
            items = ", ".join(
                f"{{'Position': [{x1}, {y1}, {x2}, {y2}], 'Confidence': {cf}}}"
                for (x1, y1, x2, y2), cf in zip(b.tolist(), c.tolist())
            )
        else:
            items = ", ".join(
                f'{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "dog", "score": {cf}}}'
                for (x1, y1, x2, y2), cf in zip(b.tolist(), c.tolist())
            )
        answer = f"<answer>[{items}]</answer>"
        words = []
        while sum(len(w) + 1 for w in words) + len(answer) + 15 < 400:
            words.append(_WORDS[int(rng.integers(len(_WORDS)))])
        texts.append(f"<think>{' '.join(words)}</think>{answer}")
        boxes.append(b.astype(np.float64))
        confs.append(c)
        counts.append(k)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return texts, np.concatenate(boxes), np.concatenate(confs), offsets


_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_KEYS = {"visual_rft": ("Position", "Confidence"), "qwen_json": ("bbox_2d", "score")}


def _anchor(texts, kind, extract, loads, error):
    """The loop both anchors share: per completion, ``extract`` the answer text, fix quotes for
    Visual-RFT, ``loads`` it, keep 4-number boxes; flat numpy arrays built at the end."""
    box_key, conf_key = _KEYS[kind]
    single = kind == "visual_rft"
    boxes, confs, counts = [], [], []
    for t in texts:
        n = 0
        s = extract(t)
        if s is not None:
            if single:
                s = s.replace("'", '"')
            try:
                items = loads(s)
            except error:
                items = None
            for it in items or ():
                b = it.get(box_key)
                if isinstance(b, list) and len(b) == 4:
                    boxes.append(b)
                    confs.append(it.get(conf_key, math.nan))
                    n += 1
        counts.append(n)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(confs, dtype=np.float64), offsets


def _regex_answer(t):
    m = _ANSWER_RE.search(t)
    return m.group(1) if m else None


def _find_answer(t):
    i = t.rfind("<answer>")
    j = t.find("</answer>", i)
    return t[i + 8 : j] if i >= 0 and j >= 0 else None


def anchor_re_json(texts, kind):
    """re.search + json.loads per completion, flat numpy arrays built at the end."""
    return _anchor(texts, kind, _regex_answer, json.loads, ValueError)


def anchor_find_orjson(texts, kind):
    """str.rfind/find + orjson.loads per completion, flat numpy arrays built at the end."""
    return _anchor(texts, kind, _find_answer, orjson.loads, orjson.JSONDecodeError)


def ours(texts, kind):
    p = vr.parse_completions(texts)
    return p.boxes, p.confidences, p.offsets


def ours_one_thread(texts, kind):
    vr.set_num_threads(1)
    try:
        return ours(texts, kind)
    finally:
        vr.set_num_threads(0)


_COMPETITORS = {
    "ours": ours,
    "ours_1thread": ours_one_thread,
    "re_json_numpy": anchor_re_json,
    "find_orjson_numpy": anchor_find_orjson,
}


@pytest.fixture(scope="module", params=["visual_rft", "qwen_json"])
def workload(request, full_size):
    n = 4096 if full_size else 128
    texts, boxes, confs, offsets = _workload(request.param, n)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    return request.param, texts, boxes, confs, offsets, mb


@pytest.mark.parametrize("who", list(_COMPETITORS))
def test_parse_4096_completions(benchmark, workload, who):
    kind, texts, boxes, confs, offsets, mb = workload
    benchmark.group = f"parse-{kind}-{len(texts)}"
    benchmark.extra_info.update({"MB": mb, "completions": len(texts), "boxes": int(offsets[-1])})
    fn = _COMPETITORS[who]
    got_boxes, got_confs, got_offsets = benchmark(fn, texts, kind)
    assert np.array_equal(got_offsets, offsets)
    assert np.array_equal(got_boxes, boxes)
    assert np.array_equal(got_confs, confs)
    if benchmark.stats is not None and benchmark.stats.stats.median > 0:
        benchmark.extra_info["MB_per_s"] = mb / benchmark.stats.stats.median


def _print_table(path: str) -> None:
    """Median times, ratios to ours and throughput from a --benchmark-json file."""
    with open(path) as f:
        data = json.load(f)
    groups: dict = {}
    for b in data["benchmarks"]:
        groups.setdefault(b["group"], []).append(b)
    for group, rows in sorted(groups.items()):
        ours_median = next(r["stats"]["median"] for r in rows if r["name"].endswith("-ours]"))
        print(f"\n{group}  ({rows[0]['extra_info']['MB']:.2f} MB, {rows[0]['extra_info']['boxes']} boxes)")
        print(f"{'competitor':<20}{'median ms':>11}{'min ms':>9}{'x ours':>9}{'MB/s':>9}")
        for r in sorted(rows, key=lambda r: r["stats"]["median"]):
            name = r["name"].split("-", 1)[1].rstrip("]")
            med, mn = r["stats"]["median"], r["stats"]["min"]
            print(
                f"{name:<20}{med * 1e3:>11.2f}{mn * 1e3:>9.2f}{med / ours_median:>9.1f}"
                f"{r['extra_info']['MB'] / med:>9.0f}"
            )


def interleaved(rounds: int = 41) -> None:
    """Round-robin timing: each round times every competitor once, so that the load of a shared
    machine hits all of them alike; prints medians, ratios to ours and throughput."""
    import time

    for kind in ("visual_rft", "qwen_json"):
        texts, boxes, confs, offsets = _workload(kind, 4096)
        mb = sum(len(t.encode()) for t in texts) / 1e6
        times: dict = {name: [] for name in _COMPETITORS}
        for fn in _COMPETITORS.values():  # warm-up + check
            got = fn(texts, kind)
            assert np.array_equal(got[0], boxes) and np.array_equal(got[2], offsets)
        for _ in range(rounds):
            for name, fn in _COMPETITORS.items():
                t0 = time.perf_counter()
                fn(texts, kind)
                times[name].append(time.perf_counter() - t0)
        ours_med = float(np.median(times["ours"]))
        print(f"\ninterleaved {kind}: 4096 completions, {mb:.2f} MB, {rounds} rounds")
        print(f"{'competitor':<20}{'median ms':>11}{'min ms':>9}{'x ours':>9}{'MB/s':>9}")
        for name in sorted(times, key=lambda n: np.median(times[n])):
            med = float(np.median(times[name]))
            print(f"{name:<20}{med * 1e3:>11.2f}{min(times[name]) * 1e3:>9.2f}{med / ours_med:>9.1f}{mb / med:>9.0f}")


if __name__ == "__main__":  # python bench/bench_parsing.py: run timed and print the ratio tables
    import os
    import subprocess
    import sys
    import tempfile

    out = os.path.join(tempfile.mkdtemp(), "bench_parsing.json")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-q",
            "-o",
            "addopts=",
            "--benchmark-only",
            f"--benchmark-json={out}",
        ],
        check=True,
    )
    _print_table(out)
    interleaved()
