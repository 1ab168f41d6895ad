"""Sharded per-image matching (vrft_rewards/cocoeval/sharding.py, csrc/eval/merge.cpp).

Contract: evaluating ranges of images separately and merging the states gives the one-process
evaluation state array for array, hence bit-identical precision / recall / scores / stats for
COCO and LVIS; states survive pickling (the Ray transport) and a corrupt or overlapping state is
refused with a ValueError instead of being read out of bounds.
"""

from __future__ import annotations

import pathlib
import pickle
import sys

import numpy as np
import pytest

import vrft_rewards.cocoeval.coco as coco_mod
import vrft_rewards.cocoeval.lvis as lvis_mod
from vrft_rewards import _C
from vrft_rewards.cocoeval.engine import evaluate_columns
from vrft_rewards.cocoeval.sharding import ShardedMatcher, split_rows_by_image
from vrft_rewards.eval import evaluate_coco, evaluate_lvis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _eval_synth import make_dataset  # noqa: E402


class Spy:
    """A matcher that records the states it returns (and the jobs a map ran)."""

    def __init__(self, inner):
        self.inner, self.states = inner, []

    def __call__(self, *args):
        state = self.inner(*args)
        self.states.append(state)
        return state


def state_arrays(state) -> list:
    return list(state.__getstate__())


def assert_same_state(a, b) -> None:
    for x, y in zip(state_arrays(a), state_arrays(b), strict=True):
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y)
        else:
            assert x == y


def run_with(monkeypatch, module, evaluate, gt, results, matcher, **kwargs):
    monkeypatch.setattr(module, "matcher_for", lambda ray, num_shards: matcher)
    return evaluate(gt, results, ray=True, **kwargs)


def counting_map(log):
    def map_fn(fn, jobs):
        jobs = list(jobs)
        log.append(len(jobs))
        return [fn(job) for job in jobs]

    return map_fn


def assert_same_result(a, b) -> None:
    assert np.array_equal(a.precision, b.precision)
    assert np.array_equal(a.recall, b.recall)
    assert np.array_equal(a.scores, b.scores)
    assert a.stats.tolist() == b.stats.tolist()


@pytest.mark.parametrize("seed", range(40))
def test_coco_sharded_state_and_metrics_equal_one_process(monkeypatch, seed):
    gt, results = make_dataset(seed, id_zero=(seed % 7 == 0))
    kwargs = {"use_cats": seed % 5 != 4, "max_dets": (1, 3, 10) if seed % 3 == 0 else (1, 10, 100)}
    one = Spy(evaluate_columns)
    ref = run_with(monkeypatch, coco_mod, evaluate_coco, gt, results, one, **kwargs)
    assert_same_result(ref, evaluate_coco(gt, results, **kwargs))  # the spy changes nothing
    for shards in (2, 3, 7, 50):
        jobs: list = []
        many = Spy(ShardedMatcher(shards, map_fn=counting_map(jobs)))
        got = run_with(monkeypatch, coco_mod, evaluate_coco, gt, results, many, **kwargs)
        assert_same_state(many.states[0], one.states[0])
        assert_same_result(got, ref)
        assert not jobs or 1 < jobs[0] <= shards


@pytest.mark.parametrize("seed", range(25))
def test_lvis_sharded_state_and_metrics_equal_one_process(monkeypatch, seed):
    gt, results = make_dataset(10_000 + seed, lvis=True)
    one = Spy(evaluate_columns)
    ref = run_with(monkeypatch, lvis_mod, evaluate_lvis, gt, results, one, max_dets=4 if seed % 2 else 300)
    for shards in (2, 5):
        many = Spy(ShardedMatcher(shards))
        got = run_with(monkeypatch, lvis_mod, evaluate_lvis, gt, results, many, max_dets=4 if seed % 2 else 300)
        assert_same_state(many.states[0], one.states[0])
        assert_same_result(got, ref)
        assert got.results == ref.results


@pytest.mark.parametrize("seed", range(8))
def test_larger_sharded_evaluation_with_subsets(monkeypatch, seed):
    gt, results = make_dataset(20_000 + seed, n_images=120, n_cats=12)
    img_ids = sorted(im["id"] for im in gt["images"])[::2]
    cat_ids = sorted(c["id"] for c in gt["categories"])[1:]
    ref = evaluate_coco(gt, results, img_ids=img_ids, cat_ids=cat_ids)
    got = run_with(
        monkeypatch, coco_mod, evaluate_coco, gt, results, ShardedMatcher(4), img_ids=img_ids, cat_ids=cat_ids
    )
    assert_same_result(got, ref)


def test_split_rows_by_image_partitions_in_order():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_img = int(rng.integers(1, 30))
        gi = rng.integers(0, n_img, size=int(rng.integers(0, 60)))
        di = rng.integers(0, n_img, size=int(rng.integers(0, 90)))
        shards = int(rng.integers(1, 9))
        parts = split_rows_by_image(gi, di, n_img, shards)
        assert 0 < len(parts) <= shards or len(gi) + len(di) == 0
        for rows, all_rows, _image in ((0, gi, gi), (1, di, di)):
            got = np.concatenate([p[rows] for p in parts]) if parts else np.zeros(0, np.int64)
            assert np.array_equal(np.sort(got), np.arange(len(all_rows)))  # every row once
            for p in parts:
                assert np.all(np.diff(p[rows]) > 0)  # order kept inside a shard
        # contiguous, disjoint image ranges in shard order
        spans = []
        for g, d in parts:
            imgs = np.concatenate([gi[g], di[d]])
            assert len(imgs)
            spans.append((imgs.min(), imgs.max()))
        assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))


def test_split_rows_by_image_refuses_zero_shards():
    with pytest.raises(ValueError, match="num_shards"):
        split_rows_by_image(np.zeros(1, np.int64), np.zeros(1, np.int64), 1, 0)
    with pytest.raises(ValueError, match="num_shards"):
        ShardedMatcher(0)


def _columns(seed):
    """Prepared engine columns of a random dataset, captured from a COCO run."""
    gt, results = make_dataset(seed)
    captured = {}

    def capture(*args):
        captured["args"] = args
        return evaluate_columns(*args)

    from vrft_rewards.cocoeval.detections import as_detections
    from vrft_rewards.cocoeval.engine import run_coco
    from vrft_rewards.cocoeval.ground_truth import as_ground_truth

    g = as_ground_truth(gt)
    run_coco(
        g,
        as_detections(results),
        img_ids=np.unique(g.image_ids),
        cat_ids=np.unique(g.cat_ids),
        iou_thrs=np.linspace(0.5, 0.95, 10),
        rec_thrs=None,
        max_dets=[1, 10, 100],
        area_rng=np.array([[0, 1e10], [0, 1024], [1024, 9216], [9216, 1e10]]),
        use_cats=True,
        matcher=capture,
    )
    return captured["args"]


def test_state_pickles_round_trip_and_accumulates_identically():
    args = _columns(3)
    state = evaluate_columns(*args)
    back = pickle.loads(pickle.dumps(state))
    assert_same_state(back, state)
    rec, md = np.linspace(0, 1, 101), np.array([1, 10, 100], np.int64)
    for x, y in zip(_C.eval_accumulate(state, rec, md), _C.eval_accumulate(back, rec, md)):
        assert np.array_equal(x, y)


@pytest.mark.parametrize(
    "field, change",
    [
        (8, lambda a: a[::-1].copy()),  # gt_offsets not increasing
        (10, lambda a: np.append(a, a[-1])),  # dt_offsets of another length
        (13, lambda a: np.full_like(a, 7)),  # dt_state values that are no DetState
        (5, lambda a: a + 10_000),  # group_image out of range
        (11, lambda a: a[:-1].copy()),  # dt_index shorter than the slots
        (15, lambda a: a[:-1].copy()),  # num_positive_gt length
    ],
)
def test_corrupt_state_is_refused(field, change):
    state = evaluate_columns(*_columns(5))
    t = list(state.__getstate__())
    if len(t[field]) == 0:
        pytest.skip("empty field in this dataset")
    t[field] = change(t[field])
    with pytest.raises(ValueError, match="inconsistent evaluation state"):
        type(state).__new__(type(state)).__setstate__(tuple(t))


def test_foreign_pickle_version_is_refused():
    state = evaluate_columns(*_columns(5))
    t = list(state.__getstate__())
    t[0] = 99
    with pytest.raises(ValueError, match="version"):
        type(state).__new__(type(state)).__setstate__(tuple(t))


def test_merge_refuses_overlapping_and_mismatched_shards():
    args = _columns(6)
    state = evaluate_columns(*args)
    with pytest.raises(ValueError, match="disjoint images"):
        _C.eval_merge([state, state], [None, None], [None, None])
    other = evaluate_columns(*args[:4], args[4][:3], *args[5:])  # 3 IoU thresholds, not 10
    with pytest.raises(ValueError, match="other"):
        _C.eval_merge([state, other], [None, None], [None, None])
    n_gt = len(args[0]["image"])
    if n_gt > 1:
        with pytest.raises(ValueError, match="outside its row map"):
            _C.eval_merge([state], [np.arange(n_gt - 1, dtype=np.int64)], [None])
    with pytest.raises(ValueError, match="same length"):
        _C.eval_merge([state], [], [None])
    with pytest.raises(ValueError, match="at least one"):
        _C.eval_merge([], [], [])
    with pytest.raises(TypeError, match=r"gt_rows\[0\]"):
        _C.eval_merge([state], [np.arange(n_gt, dtype=np.int32)], [None])
    with pytest.raises(ValueError, match=r"dt_rows\[0\] must be 1-D"):
        _C.eval_merge([state], [None], [np.zeros((2, 2), np.int64)])


def test_one_shard_merge_is_the_identity():
    state = evaluate_columns(*_columns(8))
    assert_same_state(_C.eval_merge([state], [None], [None]), state)


def test_num_shards_without_ray_is_an_error():
    gt, results = make_dataset(1)
    with pytest.raises(ValueError, match="num_shards needs ray=True"):
        evaluate_coco(gt, results, num_shards=2)


# -- on a real local Ray cluster -------------------------------------------------------------------
@pytest.mark.slow
def test_ray_sharded_matching_is_bit_identical(ray_session):
    for seed, lvis in ((1, False), (2, False), (3, True)):
        gt, results = make_dataset(30_000 + seed, n_images=60, lvis=lvis)
        evaluate = evaluate_lvis if lvis else evaluate_coco
        ref = evaluate(gt, results)
        for shards in (2, 3):
            got = evaluate(gt, results, ray=True, num_shards=shards)
            assert_same_result(got, ref)


@pytest.mark.slow
def test_ray_tasks_size_their_native_pool_to_their_cpus(ray_session):
    from vrft_rewards._ray import map_tasks as _ray_map

    def threads_in_task(_job):
        import vrft_rewards

        return vrft_rewards.get_num_threads()

    assert _ray_map(threads_in_task, [0, 1]) == [1, 1]  # Ray gives a task 1 CPU by default


def test_task_cpu_sizing_is_a_no_op_outside_ray_tasks():
    import vrft_rewards
    from vrft_rewards._ray import use_task_cpus as use_ray_task_cpus

    before = vrft_rewards.get_num_threads()
    use_ray_task_cpus()
    assert vrft_rewards.get_num_threads() == before
