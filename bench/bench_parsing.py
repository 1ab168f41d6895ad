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

_WORDS = ("the", "image", "shows", "a", "dog", "near", "car", "left", "right", "object", "box",
          "small", "large", "street", "I", "see", "two", "cats", "so", "answer", "is", "under")


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
            items = ", ".join(f"{{'Position': [{x1}, {y1}, {x2}, {y2}], 'Confidence': {cf}}}"
                              for (x1, y1, x2, y2), cf in zip(b.tolist(), c.tolist()))
        else:
            items = ", ".join(f'{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "dog", "score": {cf}}}'
                              for (x1, y1, x2, y2), cf in zip(b.tolist(), c.tolist()))
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


def anchor_re_json(texts, kind):
    """re.search + json.loads per completion, flat numpy arrays built at the end."""
    box_key, conf_key = _KEYS[kind]
    single = kind == "visual_rft"
    boxes, confs, counts = [], [], []
    for t in texts:
        n = 0
        m = _ANSWER_RE.search(t)
        if m:
            s = m.group(1)
            if single:
                s = s.replace("'", '"')
            try:
                items = json.loads(s)
            except ValueError:
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


def anchor_find_orjson(texts, kind):
    """str.rfind/find + orjson.loads per completion, flat numpy arrays built at the end."""
    box_key, conf_key = _KEYS[kind]
    single = kind == "visual_rft"
    loads = orjson.loads
    boxes, confs, counts = [], [], []
    for t in texts:
        n = 0
        i = t.rfind("<answer>")
        j = t.find("</answer>", i)
        if i >= 0 and j >= 0:
            s = t[i + 8:j]
            if single:
                s = s.replace("'", '"')
            try:
                items = loads(s)
            except orjson.JSONDecodeError:
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
