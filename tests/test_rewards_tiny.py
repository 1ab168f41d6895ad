"""The tiny-batch path (vrft_rewards/rewards/_tiny.py, csrc/rewards/detection.h) gives the batch
path's values to the bit.

Every box and format reward is called one completion at a time (the tiny path, as verl's Reward
Loop, OpenRLHF and ms-swift call it), in small batches (the tiny path with several rows) and on
the whole list at once (the batch path: more completions than TINY_BATCH), on random and
adversarial completions, under every combination of the options the rewards take; values are
compared bit for bit (``float.hex``, so -0.0 and NaN payloads count), and so are the metrics
passed to ``log_metric`` and RewardSet's matrix and totals.  The memo that lets sibling rewards
share one native call is checked against in-place edits, equal-but-new texts and threads.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from vrft_rewards.rewards import (
    RewardSet,
    _tiny,
    clear_parse_cache,
    get_confidence_reward,
    get_f1_reward,
    get_format_reward,
    get_iou_reward,
    get_preset,
    visual_rft_rewards,
)
from vrft_rewards.rewards._tiny import TINY_BATCH

# ---- completions: random and adversarial --------------------------------------------------------


def _num(v, rng) -> str:
    r = rng.random()
    if r < 0.6 and float(v).is_integer():
        return str(int(v))
    if r < 0.9:
        return repr(float(v))
    return f"{float(v):.3e}"


def _boxes(rng, n, gt=None):
    out = []
    for _ in range(n):
        r = rng.random()
        if gt is not None and len(gt) and r < 0.5:
            b = np.asarray(gt[rng.integers(0, len(gt))], dtype=float) + rng.integers(-30, 30, 4)
        elif r < 0.6 and out:
            b = out[rng.integers(0, len(out))].copy()  # exact duplicate
        elif r < 0.65:
            b = np.array([1e200, 0, 2e200, 10.0])  # beyond the IoU kernels' safe range
        elif r < 0.7:
            b = np.array([5.0, 5.0, 5.0, 5.0])  # zero size
        else:
            xy = rng.integers(-20, 900, 2)
            b = np.concatenate([xy, xy + rng.integers(0, 300, 2)]).astype(float)
        if rng.random() < 0.08:
            b = b[[2, 3, 0, 1]]  # inverted
        out.append(np.asarray(b, dtype=float))
    return out


def _conf(rng):
    r = rng.random()
    if r < 0.1:
        return None  # no confidence
    if r < 0.4:
        return float(rng.choice([0.3, 0.5, 0.9, 1.0]))  # ties
    if r < 0.45:
        return float(rng.choice([1.5, -0.2]))  # out of [0, 1]
    return round(float(rng.random()), 2)


def _answer_payload(rng, boxes):
    style = rng.integers(0, 5)
    if style == 0:  # Visual-RFT
        items = []
        for b in boxes:
            c = _conf(rng)
            pos = "[" + ", ".join(_num(v, rng) for v in b) + "]"
            items.append("{'Position': %s%s}" % (pos, "" if c is None else f", 'Confidence': {c}"))
        return "[" + ", ".join(items) + "]"
    if style == 1:  # Qwen JSON
        items = []
        for b in boxes:
            c = _conf(rng)
            score = "" if c is None else f', "score": {c}'
            items.append('{"bbox_2d": [%s], "label": "dog"%s}' % (", ".join(_num(v, rng) for v in b), score))
        return "[" + ", ".join(items) + "]"
    if style == 2:  # Qwen2-VL tuples
        return "".join(
            f"<|box_start|>({_num(b[0], rng)},{_num(b[1], rng)}),({_num(b[2], rng)},{_num(b[3], rng)})<|box_end|>"
            for b in boxes
        )
    if style == 3:  # bare boxes
        return "[" + ", ".join("[" + ", ".join(_num(v, rng) for v in b) + "]" for b in boxes) + "]"
    return "[" + ", ".join(
        "{'Position': [%s], 'Confidence': 0.5}" % ", ".join(_num(v, rng) for v in b) for b in boxes
    )  # cut


_ODD = [
    "",
    "no tags at all",
    "<answer></answer>",
    "<think>x</think><answer>No Objects</answer>",
    "<think>x</think><answer>[]</answer>",
    "<think>x</think> <answer>[{'Position': [1, 2, 3]}]</answer>",
    "<think>x</think><answer>[{'Position': [nan, 0, 10, 10], 'Confidence': 0.5}]</answer>",
    "<think>x</think><answer>[{'Position': [0, 0, inf, 10], 'Confidence': 0.5}]</answer>",
    "<think>x</think><answer>{'Position': [0, 0, 10, 10]</answer>",
    "<answer>[[0, 0, 10, 10]]</answer> trailing text",
    "<think>unclosed <answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]",
    "<think>a</think><think>b</think><answer>[[0, 0, 10, 10]]</answer><answer>[[0, 0, 5, 5]]</answer>",
    "<think>é ü 日本</think>\n<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>",
    "<think>\ud800 lone surrogate</think><answer>[[0, 0, 10, 10]]</answer>",
    "<answer>a cat</answer>",
    "<answer>42</answer>",
    '```json\n[{"bbox_2d": [0, 0, 10, 10]}]\n```',
]


def _completion(rng, gt):
    r = rng.random()
    if r < 0.12:
        return str(rng.choice(_ODD))
    boxes = _boxes(rng, int(rng.integers(0, 12)), gt)
    body = _answer_payload(rng, boxes)
    think = "<think>" + "step " * int(rng.integers(0, 3)) + "</think>"
    sep = str(rng.choice(["", " ", "\n"]))
    text = think + sep + "<answer>" + body + "</answer>"
    if rng.random() < 0.1:
        text = "<answer>[[1, 1, 2, 2]]</answer>" + text  # a first block before the think block
    if rng.random() < 0.1:
        text += " <answer>[[0, 0, 100, 100]]</answer>"  # a second answer block
    if rng.random() < 0.05:
        text = "Sure. " + text
    return text


def _solution(rng, gt):
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.1:
        return str(rng.choice(["cat", "", "<answer>No Objects</answer>", "[]", "<answer>[[10, 10, 0, 0]]</answer>"]))
    if r < 0.13:
        return "<answer>[[0, 0, 1e200, 10]]</answer>"  # beyond the safe range: unusable
    body = "[" + ", ".join("{'Position': [%s], 'Confidence': 1}" % ", ".join(str(int(v)) for v in b) for b in gt) + "]"
    return body if rng.random() < 0.2 else "<answer>" + body + "</answer>"


def _data_row(rng, gt):
    """The ground truth as data, in one of the shapes _truth.py reads."""
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.1:
        return []
    if r < 0.15 and len(gt):
        bad = gt.astype(float).copy()
        bad[0] = [1e200, 0, 2e200, 1] if rng.random() < 0.5 else bad[0][[2, 3, 0, 1]]  # unusable
        return bad.tolist()
    if r < 0.5:
        return gt.tolist()
    return [{"bbox_2d": b.tolist(), "label": "dog"} for b in gt]


def _case(seed, n=48, data=False):
    rng = np.random.default_rng(seed)
    completions, solutions = [], []
    for _ in range(n // 4):
        k = int(rng.integers(0, 8))
        xy = rng.integers(0, 800, (k, 2))
        gt = np.concatenate([xy, xy + rng.integers(1, 200, (k, 2))], axis=1)
        sol = _data_row(rng, gt) if data else _solution(rng, gt)
        for _ in range(4):
            text = _completion(rng, gt)
            completions.append(text if rng.random() < 0.5 else [{"role": "assistant", "content": text}])
            solutions.append(sol)
    sizes = [(int(w), int(h)) for w, h in rng.integers(30, 3000, (len(completions), 2))]
    return completions, solutions, sizes


def _bits(values):
    return [None if v is None else float(v).hex() for v in values]


# ---- option combinations --------------------------------------------------------------------------

_FRAMES = [
    dict(),
    dict(coord_frame="norm1000", gt_frame="abs"),
    dict(coord_frame="norm1", gt_frame="norm1000"),
    dict(coord_frame="qwen2.5-vl", gt_frame="abs"),
    dict(coord_frame="qwen2.5-vl", gt_frame="abs", max_pixels=28 * 28 * 64),
    dict(coord_frame="abs", gt_frame="qwen3-vl"),
]
_COMBOS = list(
    itertools.product(["hungarian", "greedy"], ["iou", "giou", "diou", "ciou"], [False, True], [False, True])
)


def _rewards(i, method, kind, strict, dedupe):
    opts = dict(
        method=method,
        kind=kind,
        strict=strict,
        dedupe=dedupe,
        iou_threshold=[0.5, 0.0, 0.75, 1.0, 0.3][i % 5],
        empty_score=[1.0, 0.0, 0.25][i % 3],
        answer=["last", "first"][(i // 2) % 2],
        **_FRAMES[i % len(_FRAMES)],
    )
    return [
        get_iou_reward(**opts),
        get_confidence_reward(**opts),
        get_f1_reward(metric="f1", **opts),
        get_f1_reward(metric="precision", **opts),
        get_f1_reward(metric="recall", **opts),
    ]


def _by_paths(reward, completions, columns):
    """(batch path, one per call, in chunks of 5) values and the metrics logged by each."""
    n = len(completions)
    assert n > TINY_BATCH
    clear_parse_cache()
    logs = {"batch": {}, "single": [], "chunks": []}
    batch = reward(completions, log_metric=logs["batch"].__setitem__, **columns)
    single = []
    for i in range(n):
        got = {}
        single += reward(
            completions[i : i + 1], log_metric=got.__setitem__, **{k: v[i : i + 1] for k, v in columns.items()}
        )
        logs["single"].append(got)
    chunks = []
    for i in range(0, n, 3):
        got = {}
        chunks += reward(
            completions[i : i + 3], log_metric=got.__setitem__, **{k: v[i : i + 3] for k, v in columns.items()}
        )
        logs["chunks"].append(got)
    return batch, single, chunks, logs


@pytest.mark.parametrize(
    "i, combo", list(enumerate(_COMBOS)), ids=lambda x: "-".join(map(str, x)) if isinstance(x, tuple) else str(x)
)
def test_tiny_path_equals_batch_path_for_every_option_combination(i, combo):
    completions, solutions, sizes = _case(i)
    _, data, _ = _case(i, data=True)
    # Text solutions, then the ground truth as data: gt_boxes (pixels by default) or a parsed list
    # in the solution column, in turn.
    for columns in (
        dict(solution=solutions, image_size=sizes),
        {("gt_boxes", "solution")[i % 2]: data, "image_size": sizes},
    ):
        for reward in _rewards(i, *combo):
            batch, single, chunks, logs = _by_paths(reward, completions, columns)
            assert _bits(single) == _bits(batch), reward
            assert _bits(chunks) == _bits(batch), reward


@pytest.mark.parametrize("mode", ["strict", "tags", "answer"])
def test_tiny_format_reward_equals_batch_path(mode):
    completions, solutions, _ = _case(100, n=200)
    reward = get_format_reward(mode=mode)
    batch, single, chunks, _ = _by_paths(reward, completions, dict(solution=solutions))
    assert _bits(single) == _bits(batch)
    assert _bits(chunks) == _bits(batch)
    # Without a solution column, and after a detection call with other options.
    _tiny._last = None
    assert _bits(reward(completions[:5])) == _bits(batch[:5])
    get_iou_reward(method="greedy", answer="first")(completions[:5], solution=solutions[:5])
    assert _bits(reward(completions[:5], solution=solutions[:5])) == _bits(batch[:5])


def test_tiny_metrics_equal_the_batch_metrics_on_the_same_rows():
    completions, solutions, _ = _case(7, n=64)
    for reward in visual_rft_rewards("detection") + get_preset("detection") + [get_f1_reward()]:
        for lo in range(0, 64, TINY_BATCH):
            rows = slice(lo, lo + TINY_BATCH)
            clear_parse_cache()
            # The same rows through the batch path: pad with copies past TINY_BATCH, then compare
            # metrics of the tiny call with a batch call of exactly these rows via score().
            tiny_log, batch_log = {}, {}
            reward(completions[rows], solution=solutions[rows], log_metric=tiny_log.__setitem__)
            _, metrics = reward.score(completions[rows], dict(solution=solutions[rows]))
            for k, v in metrics.items():
                batch_log[f"{reward.__name__}/{k}"] = float(v)
            assert {k: v.hex() for k, v in tiny_log.items()} == {k: v.hex() for k, v in batch_log.items()}


def test_reward_set_small_path_equals_batch_path_bit_for_bit():
    completions, solutions, sizes = _case(11, n=40)

    def foreign(completions, **kwargs):  # a user function next to ours: None and NaN skip
        sizes = [len(str(c)) for c in completions]
        return [None if k % 5 == 0 else float("nan") if k % 7 == 0 else 0.1 * (k % 3) for k in sizes]

    sets = [
        RewardSet(get_preset("detection")),
        RewardSet(visual_rft_rewards("detection"), weights=[0.5, -2.0, 1.0]),
        RewardSet(get_preset("detection") + [foreign], weights=[1.0, 1.0, 1.0, 3.0]),
    ]
    for rs in sets:
        clear_parse_cache()
        whole = rs(completions, solution=solutions, image_size=sizes)
        parts = [
            rs(completions[i : i + 1], solution=solutions[i : i + 1], image_size=sizes[i : i + 1]) for i in range(40)
        ]
        for name in ("matrix", "overall"):
            a = getattr(whole, name)
            b = np.concatenate([getattr(p, name) for p in parts])
            assert a.shape == b.shape and a.view(np.int64).tolist() == b.view(np.int64).tolist(), name
        assert not parts[0].matrix.flags.writeable


# ---- the memo ----------------------------------------------------------------------------------------


def test_siblings_share_one_native_call_per_sample(monkeypatch):
    calls = []
    real = _tiny._C.score_detection_rows

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(_tiny._C, "score_detection_rows", counting)
    completions, solutions, _ = _case(3, n=8)
    for preset in (visual_rft_rewards("detection"), get_preset("detection")):
        _tiny._last = None
        calls.clear()
        for c, s in zip(completions, solutions):
            for f in preset:
                f([c], solution=[s])
        # One call per sample; our preset's format reward comes first and scores the row under the
        # options of the previous sample's detection call (the first sample pays a second call).
        assert len(calls) <= len(completions) + 1


def test_memo_is_keyed_by_content_not_identity():
    iou, conf, fmt = visual_rft_rewards("detection")
    sol = ["<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"]
    msgs = [
        {
            "role": "assistant",
            "content": "<think>a</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>",
        }
    ]
    completion = [msgs]
    assert iou(completion, solution=sol) == [1.0]
    # The trainer edits the message in place: same list, same dict, new text.
    msgs[0]["content"] = "<think>a</think><answer>[{'Position': [0, 0, 8, 10], 'Confidence': 0.9}]</answer>"
    assert iou(completion, solution=sol) == [0.8]
    assert fmt(completion, solution=sol) == [1.0]
    msgs[0]["content"] = "no format"
    assert fmt(completion, solution=sol) == [0.0]
    assert conf(completion, solution=sol) == [0.0]
    # The solution changes in place too.
    sol[0] = "<answer>[{'Position': [0, 0, 10, 12.5], 'Confidence': 1}]</answer>"
    msgs[0]["content"] = "<think>a</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"
    assert iou(completion, solution=sol) == [0.8]
    # Equal texts in new objects hit the memo and give the same values.
    assert iou([[dict(msgs[0])]], solution=list(sol)) == [0.8]


def test_memo_under_threads_gives_each_caller_its_own_values():
    completions, solutions, _ = _case(5, n=64)
    clear_parse_cache()
    want = {f.__name__: f(completions, solution=solutions) for f in visual_rft_rewards("detection")}
    got: dict = {}
    errors = []

    def worker(t):
        try:
            out = {f.__name__: [] for f in visual_rft_rewards("detection")}
            for _ in range(3):
                for name in out:
                    out[name].clear()
                for c, s in zip(completions, solutions):
                    for f in visual_rft_rewards("detection"):
                        out[f.__name__] += f([c], solution=[s])
            got[t] = out
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for out in got.values():
        assert {k: _bits(v) for k, v in out.items()} == {k: _bits(v) for k, v in want.items()}


def test_tiny_path_raises_like_the_batch_path():
    iou = get_iou_reward()
    with pytest.raises(TypeError, match=r"completions\[0\] must be"):
        iou([42], solution=["<answer>[[0, 0, 1, 1]]</answer>"])
    with pytest.raises(ValueError, match="solution has 2 rows for 1 completions"):
        iou(["<answer>[[0, 0, 1, 1]]</answer>"], solution=["a", "b"])
    with pytest.raises(ValueError, match="image size"):
        get_iou_reward(coord_frame="norm1000", gt_frame="abs")(["x"], solution=["<answer>[[0, 0, 1, 1]]</answer>"])
