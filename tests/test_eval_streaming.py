"""Streaming evaluation (vrft_rewards/cocoeval/streaming.py): update per batch, merge across
evaluators / processes, compute at the end.

Contract: ``compute()`` equals ``evaluate_coco`` / ``evaluate_lvis`` on the concatenated batches
with ``np.array_equal`` on every array and stat (and the merged native state equals the one-shot
state array for array), whatever the batch sizes, the order of the images, how updates are split
across evaluators merged together (in process, through pickles, torch.distributed with gloo, Ray);
all of an image's detections arrive in one update, and breaking that rule raises.
"""

from __future__ import annotations

import pathlib
import pickle
import socket
import sys

import numpy as np
import pytest

import vrft_rewards.cocoeval.coco as coco_mod
import vrft_rewards.cocoeval.lvis as lvis_mod
from vrft_rewards.cocoeval.engine import evaluate_columns
from vrft_rewards.eval import GroundTruth, StreamingEvaluator, evaluate_coco, evaluate_lvis, gather_evaluator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _eval_synth import make_dataset  # noqa: E402


class Spy:
    def __init__(self):
        self.states = []

    def __call__(self, *args):
        self.states.append(evaluate_columns(*args))
        return self.states[-1]


def one_shot(monkeypatch, protocol, gt, results, **kwargs):
    """The one-shot result and its native state."""
    spy = Spy()
    module, evaluate = (coco_mod, evaluate_coco) if protocol == "coco" else (lvis_mod, evaluate_lvis)
    monkeypatch.setattr(module, "matcher_for", lambda ray, num_shards: spy)
    res = evaluate(gt, results, ray=True, **kwargs)
    monkeypatch.undo()
    return res, spy.states[0]


def assert_same_result(a, b) -> None:
    for key in ("precision", "recall", "scores", "stats"):
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), key
    assert a.lines == b.lines
    assert a.results == b.results
    assert a.per_category == b.per_category
    for k, v in a.params.items():
        assert np.array_equal(np.asarray(v), np.asarray(b.params[k])), k


DT_INDEX = 11  # position of dt_index in EvalState.__getstate__()


def assert_same_state(a, b, *, dt_rows=True) -> None:
    """Every array of the two states equal.  ``dt_rows=False`` leaves out the detection row of each
    slot: with ``use_cats=False`` the one-shot evaluation numbers detections after sorting all of
    them by category, which a stream cannot know in advance (no number depends on it)."""
    for i, (x, y) in enumerate(zip(a.__getstate__(), b.__getstate__(), strict=True)):
        if i == DT_INDEX and not dt_rows:
            continue
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y)
        else:
            assert x == y


def batches_of(results, rng, max_images=6, shuffle=True):
    """The results grouped by image, images in random order, cut into batches of 1..max_images."""
    by_image: dict = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    images = list(by_image)
    if shuffle:
        rng.shuffle(images)
    out, i = [], 0
    while i < len(images):
        k = int(rng.integers(1, max_images + 1))
        chunk = images[i : i + k]
        out.append((chunk, [r for img in chunk for r in by_image[img]]))
        i += k
    return out


def stream(gt, batches, protocol, **kwargs):
    ev = StreamingEvaluator(gt, protocol=protocol, **kwargs)
    for _, dets in batches:
        ev.update(dets)
    return ev


COCO_VARIANTS = [
    {},
    {"max_dets": (1, 3, 5)},
    {"use_cats": False},
    {"iou_thrs": [0.3, 0.5, 0.9], "rec_thrs": [0.0, 0.25, 0.5, 1.0]},
    {"area_ranges": [[0, 1e10], [0, 500.0], [500.0, 1e10]], "area_labels": ["all", "s", "l"]},
]


@pytest.mark.parametrize("seed", range(30))
def test_coco_stream_equals_one_shot(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    gt, results = make_dataset(seed, id_zero=seed % 9 == 0)
    kwargs = dict(COCO_VARIANTS[seed % len(COCO_VARIANTS)])
    if seed % 7 == 3:
        kwargs["img_ids"] = sorted(im["id"] for im in gt["images"])[::2]
        kwargs["cat_ids"] = sorted(c["id"] for c in gt["categories"])[1:] or None
    batches = batches_of(results, rng)
    concatenated = [r for _, dets in batches for r in dets]
    ref, ref_state = one_shot(monkeypatch, "coco", gt, concatenated, **kwargs)
    ev = stream(gt, batches, "coco", **kwargs)
    assert_same_result(ev.compute(), ref)
    assert_same_state(ev._final_state(), ref_state, dt_rows=kwargs.get("use_cats", True))
    assert_same_result(ev.compute(), ref)  # compute does not consume anything


@pytest.mark.parametrize("seed", range(20))
def test_lvis_stream_equals_one_shot(monkeypatch, seed):
    rng = np.random.default_rng(100 + seed)
    gt, results = make_dataset(10_000 + seed, lvis=True)
    kwargs = {"max_dets": 4} if seed % 2 else {}
    batches = batches_of(results, rng)
    concatenated = [r for _, dets in batches for r in dets]
    ref, ref_state = one_shot(monkeypatch, "lvis", gt, concatenated, **kwargs)
    ev = stream(gt, batches, "lvis", **kwargs)
    assert_same_result(ev.compute(), ref)
    assert_same_state(ev._final_state(), ref_state)


@pytest.mark.parametrize("protocol", ["coco", "lvis"])
def test_larger_streams_in_batches_of_16_images(monkeypatch, protocol):
    gt, results = make_dataset(77, n_images=200, n_cats=15, lvis=protocol == "lvis")
    rng = np.random.default_rng(0)
    batches = batches_of(results, rng, max_images=16)
    ref, _ = one_shot(monkeypatch, protocol, gt, [r for _, d in batches for r in d])
    index = GroundTruth(gt)
    assert_same_result(stream(index, batches, protocol).compute(), ref)


def test_merged_evaluators_equal_one_shot_in_any_order(monkeypatch):
    gt, results = make_dataset(5, n_images=40, n_cats=6)
    rng = np.random.default_rng(5)
    batches = batches_of(results, rng, max_images=3)
    ref, ref_state = one_shot(monkeypatch, "coco", gt, [r for _, d in batches for r in d])
    index = GroundTruth(gt)
    parts = [stream(index, batches[i::3], "coco") for i in range(3)]
    order = [parts[0], parts[1], parts[2]]
    merged = order[0].empty_copy().merge(*order)
    assert_same_result(merged.compute(), ref)
    # The state equals the one-shot state of the batches concatenated in merge order.
    ref2, ref2_state = one_shot(monkeypatch, "coco", gt, [r for i in range(3) for _, d in batches[i::3] for r in d])
    assert_same_state(merged._final_state(), ref2_state)
    # Through pickles (how processes exchange them), and in another order: the same numbers.
    states = [pickle.loads(pickle.dumps(p.state())) for p in (parts[2], parts[0], parts[1])]
    again = StreamingEvaluator(index).merge(*states)
    assert_same_result(again.compute(), ref)
    assert again.running == merged.running
    whole = pickle.loads(pickle.dumps(parts[1]))
    assert_same_result(whole.merge(parts[0], parts[2]).compute(), ref)


def test_running_counts_are_the_one_shot_counts_at_iou_half(monkeypatch):
    gt, results = make_dataset(12, n_images=30, n_cats=4)
    rng = np.random.default_rng(1)
    batches = batches_of(results, rng, max_images=4)
    _, ref_state = one_shot(monkeypatch, "coco", gt, [r for _, d in batches for r in d])
    ev = StreamingEvaluator(gt)
    totals = [ev.update(d) for _, d in batches]
    A, T = 4, 10
    states = ref_state.dt_state.reshape(-1, A, T)[:, 0, 0]
    assert ev.running.true_positives == int((states == 1).sum()) == sum(b.true_positives for b in totals)
    assert ev.running.false_positives == int((states == 0).sum())
    seen = {img for chunk, _ in batches for img in chunk}
    ids = np.array(sorted(im["id"] for im in gt["images"]))
    group_seen = np.isin(ids[ref_state.group_image], list(seen))
    assert ev.running.positives == int(ref_state.num_positive_gt.reshape(-1, A)[group_seen, 0].sum())
    cats = {c["id"] for c in gt["categories"]}
    assert ev.running.detections == sum(r["category_id"] in cats for r in results)  # the evaluated ones
    assert ev.running.images == len(seen)


def test_a_perfect_batch_has_precision_and_recall_one():
    gt, _ = make_dataset(2, n_images=10, n_cats=3, crowd_p=0.0)
    perfect = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
        for a in gt["annotations"]
    ]
    stats = StreamingEvaluator(gt).update(perfect)
    assert (stats.precision, stats.recall) == (1.0, 1.0)
    assert stats.false_positives == 0 and stats.true_positives == stats.positives == len(perfect)


def test_images_without_detections_and_torchvision_style_batches(monkeypatch):
    torch = pytest.importorskip("torch")
    gt, results = make_dataset(21, n_images=12, n_cats=4)
    images = sorted(im["id"] for im in gt["images"])
    ev = StreamingEvaluator(gt)
    converted = []
    for chunk in (images[:5], images[5:]):
        per_image = []
        for img in chunk:
            mine = [r for r in results if r["image_id"] == img]
            xywh = np.array([r["bbox"] for r in mine], dtype=np.float64).reshape(-1, 4)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            per_image.append(
                {
                    "boxes": torch.tensor(xyxy),
                    "scores": torch.tensor([r["score"] for r in mine], dtype=torch.float64),
                    "labels": torch.tensor([r["category_id"] for r in mine], dtype=torch.int64),
                }
            )
            back = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)  # what we evaluate
            converted += [dict(r, bbox=b.tolist()) for r, b in zip(mine, back)]
        ev.update(per_image, image_ids=chunk)  # some images have no detection at all
    assert ev.running.images == len(images)
    ref, _ = one_shot(monkeypatch, "coco", gt, converted)
    assert_same_result(ev.compute(), ref)


def test_the_one_update_per_image_rule_is_enforced():
    gt, results = make_dataset(4, n_images=10, n_cats=3)
    img = results[0]["image_id"]
    mine = [r for r in results if r["image_id"] == img]
    ev = StreamingEvaluator(gt)
    ev.update(mine[:1])
    with pytest.raises(ValueError, match=f"image {img} was already evaluated"):
        ev.update(mine[1:])
    other = StreamingEvaluator(gt)
    other.update(mine)
    with pytest.raises(ValueError, match=f"image {img} was evaluated by both"):
        ev.merge(other)
    with pytest.raises(ValueError, match="is not one of image_ids"):
        StreamingEvaluator(gt).update(mine, image_ids=[img + 1])
    with pytest.raises(ValueError, match="is not an image of the ground truth"):
        StreamingEvaluator(gt).update([dict(mine[0], image_id=10**9)])
    with pytest.raises(ValueError, match="different ground truths or parameters"):
        StreamingEvaluator(gt, max_dets=(1, 2, 3)).merge(other)
    with pytest.raises(TypeError, match="merge"):
        StreamingEvaluator(gt).merge(["not a state"])
    with pytest.raises(ValueError, match="protocol"):
        StreamingEvaluator(gt, protocol="voc")
    with pytest.raises(NotImplementedError):
        StreamingEvaluator(gt, iou_type="segm")


def test_an_empty_stream_is_the_evaluation_of_no_detections():
    gt, _ = make_dataset(6, n_images=8, n_cats=3)
    ref = evaluate_coco(gt, [])
    assert_same_result(StreamingEvaluator(gt).compute(), ref)
    ev = StreamingEvaluator(gt)
    ev.update([])
    assert ev.running.images == 0
    assert_same_result(ev.compute(), ref)


# ---- across processes --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gloo_worker(rank: int, world: int, port: int, gt: dict, batches: list, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        ev = StreamingEvaluator(gt)
        for _, dets in batches[rank::world]:
            ev.update(dets)
        merged = gather_evaluator(ev)
        res = merged.compute()
        np.savez(f"{out}.{rank}.npz", precision=res.precision, recall=res.recall, scores=res.scores, stats=res.stats)
    finally:
        dist.destroy_process_group()


def test_gather_over_a_gloo_process_group_of_two(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import torch.multiprocessing as mp

    gt, results = make_dataset(31, n_images=60, n_cats=5)
    batches = batches_of(results, np.random.default_rng(3), max_images=5)
    ref, _ = one_shot(monkeypatch, "coco", gt, results)
    out = str(tmp_path / "res")
    mp.spawn(_gloo_worker, args=(2, _free_port(), gt, batches, out), nprocs=2, join=True)
    for rank in range(2):  # every rank holds the whole evaluation
        got = np.load(f"{out}.{rank}.npz")
        for key in ("precision", "recall", "scores", "stats"):
            assert np.array_equal(got[key], getattr(ref, key)), (rank, key)
    assert torch.distributed.is_available()


def test_gather_without_a_process_group_copies_the_updates():
    gt, results = make_dataset(8, n_images=10, n_cats=3)
    ev = stream(gt, batches_of(results, np.random.default_rng(0)), "coco")
    assert_same_result(gather_evaluator(ev).compute(), ev.compute())


def _ray_shard(gt_index, batches, protocol):
    ev = StreamingEvaluator(gt_index, protocol=protocol)
    for _, dets in batches:
        ev.update(dets)
    return ev.state()


@pytest.mark.parametrize("protocol", ["coco", "lvis"])
def test_ray_tasks_merge_into_the_one_shot_result(ray_session, monkeypatch, protocol):
    ray = ray_session
    gt, results = make_dataset(44, n_images=50, n_cats=6, lvis=protocol == "lvis")
    batches = batches_of(results, np.random.default_rng(4), max_images=4)
    ref, _ = one_shot(monkeypatch, protocol, gt, results)
    index = GroundTruth(gt)
    task = ray.remote(_ray_shard)
    gt_ref = ray.put(index)
    refs = [task.remote(gt_ref, batches[i::3], protocol) for i in range(3)]
    merged = StreamingEvaluator(index, protocol=protocol).merge(*refs)  # ObjectRefs directly
    assert_same_result(merged.compute(), ref)
