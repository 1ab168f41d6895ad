"""Issue 14, items 2 and 8: native calls never read caller memory after validating it, and every
array binding copes with misaligned and big-endian arrays, malformed RLE and crafted pickled
evaluation states.

Item 2 runs ``_race_driver.py --all`` in a subprocess (a crash must fail the test, not kill the
session): every GIL-releasing native call in turn, for ``VRFT_RACE_SECONDS`` each (default 0.25;
CI's sanitizer step runs longer), while another thread rewrites the inputs.  Before the fix a
plain build segfaulted on most of them; under the sanitizer build (``VRFT_SANITIZE=address,
undefined``, docs/reliability.md) the same runs reported heap-buffer-overflow.

Item 8's misalignment, RLE and signed-overflow tests pass on a plain x86-64 build (undefined
behaviour that happens to work) and fail under the sanitizer build before the fix (UBSan: "load of
misaligned address", "left shift ... cannot be represented", "signed integer overflow" at
csrc/eval/merge.cpp); the big-endian and never-set-state tests failed everywhere.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vrft_rewards as vr
from _reliability_data import ROOT
from vrft_rewards import _C

DRIVER = Path(__file__).resolve().parent / "_race_driver.py"
SECONDS = float(os.environ.get("VRFT_RACE_SECONDS", "0.25"))
SANITIZER_REPORT = ("runtime error:", "AddressSanitizer", "LeakSanitizer")

# Every _C entry point that releases the GIL (csrc/bindings/*.cpp, `gil_scoped_release`), with the
# driver case(s) that race it.  A binding added or renamed must be added here.
GIL_RELEASING = {
    "pairwise_iou_f64": ["pairwise_iou"],
    "paired_iou_f64": ["paired_iou"],
    "convert_boxes_f64": ["convert_boxes"],
    "lsap": ["lsap"],
    "lsap_batch_list": ["lsap_batch_list"],
    "lsap_batch_padded": ["lsap_batch_padded"],
    "match_boxes_f64": ["match_boxes", "match_boxes_hungarian"],
    "parse_completions": ["parse_completions"],
    "normalize_texts": ["normalize_texts"],
    "eval_evaluate": ["eval_evaluate", "eval_evaluate_segm"],
    "eval_accumulate": ["eval_accumulate"],
    "eval_merge": ["eval_merge"],
    "MaskSet": ["mask_set", "mask_set_rle"],
    "MaskSet.box_overlap": ["mask_box_overlap"],
    "segment_sum_sequential": ["segment_sum"],
    "segment_stable_argsort_desc": ["argsort_desc"],
    "select_segment_boxes": ["select_boxes"],
    "completion_ap": ["completion_ap"],
    "eval_positions": ["eval_positions"],
    "eval_select_lvis": ["eval_select_lvis"],
    "score_detection_rows": ["score_detection_rows"],
    "oks_exponents": ["oks_exponents"],
    "oks_reduce": ["oks_reduce"],
    "eval_max_matching_counts": ["max_matching_counts"],
    "eval_tie_range": ["tie_range"],
    "eval_tide": ["tide"],
    "eval_read_shape_results": ["read_shape_results"],
}
# Also releasing, on immutable inputs only (nothing to race): eval_parse_results (bytes),
# eval_read_results (a path; the file is read into the core's own buffers), segm_area_box (a
# SegmArena, which Python cannot change).
CASES = sorted({c for cases in GIL_RELEASING.values() for c in cases})
# `gil_scoped_release` sites per bindings file when GIL_RELEASING was last brought up to date.
RELEASE_SITES = {
    "eval.cpp": 4,
    "eval_metrics.cpp": 3,
    "eval_select.cpp": 2,
    "geometry.cpp": 5,
    "keypoints.cpp": 2,
    "loading.cpp": 2,
    "masks.cpp": 2,
    "match.cpp": 4,
    "parse.cpp": 2,
    "rewards.cpp": 4,
    "rewards_fused.cpp": 1,
    "shapes.cpp": 1,
}


def _child_env():
    """Environment of a child: the package under test importable; sanitizer reports on stderr."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if env.get(var):
            env[var] += ":log_path=stderr"
    return env


def _report(out: str) -> str:
    """The sanitizer report lines (and the top of their stacks) of a child's output, else its tail."""
    lines = out.splitlines()
    keep = [i for i, line in enumerate(lines) if any(r in line for r in SANITIZER_REPORT)]
    if not keep:
        return out[-6000:]
    return "\n".join(lines[j] for i in keep[:3] for j in range(i, min(i + 4, len(lines))))


def test_every_gil_releasing_binding_exists_and_has_a_race_case():
    for name in GIL_RELEASING:
        obj = _C
        for part in name.split("."):
            obj = getattr(obj, part)  # a renamed binding must be renamed here too
    listed = subprocess.run(
        [sys.executable, str(DRIVER), "--list"],
        check=False,
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=120,
    ).stdout.split()
    assert sorted(listed) == CASES


def test_every_gil_release_site_is_known():
    # The checkout these tests come from (ROOT is where the package under test lives: in CI, the
    # installed copy in site-packages, which has no sources).
    bindings = Path(__file__).resolve().parents[1] / "csrc" / "bindings"
    if not bindings.is_dir():
        pytest.skip("needs the source tree (csrc/bindings)")
    found = {p.name: n for p in sorted(bindings.glob("*.cpp")) if (n := p.read_text().count("gil_scoped_release"))}
    assert found == RELEASE_SITES, "a GIL-releasing site was added or removed: race it in _race_driver.py"


def test_native_calls_survive_their_inputs_changing_from_another_thread():
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "--all", str(SECONDS)],
        check=False,
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=SECONDS * len(CASES) * 20 + 300,
    )
    started = re.findall(r"^start (\S+)", proc.stdout, re.M)
    survived = re.findall(r"^ok (\S+) ", proc.stdout, re.M)
    # before: SIGSEGV (-11) for match_boxes (both methods), normalize_texts, eval_evaluate, MaskSet,
    # segment_sum_sequential, segment_stable_argsort_desc, select_segment_boxes, completion_ap
    assert proc.returncode == 0 and not any(r in proc.stderr for r in SANITIZER_REPORT), (
        f"exit {proc.returncode} in case {started[-1] if started else '?'}\n{_report(proc.stderr)}"
    )
    assert sorted(survived) == CASES


# -- item 8: misaligned arrays ---------------------------------------------------------------------------
def misaligned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `a` whose data pointer is 1 byte off alignment (numpy allows it)."""
    buf = bytearray(a.nbytes + 1)
    out = np.frombuffer(buf, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


RNG = np.random.default_rng(14)
A = np.hstack([RNG.uniform(0, 50, (6, 2)), RNG.uniform(60, 100, (6, 2))])
B = np.hstack([RNG.uniform(0, 50, (5, 2)), RNG.uniform(60, 100, (5, 2))])

PUBLIC_CALLS = {
    "box_iou": lambda a, b, o: vr.box_iou(a, b, kind="giou"),
    "paired_box_iou": lambda a, b, o: vr.paired_box_iou(
        a, a[::-1].copy() if a.flags.aligned else misaligned(np.ascontiguousarray(a[::-1]))
    ),
    "convert_boxes": lambda a, b, o: vr.convert_boxes(a, "xyxy", "cxcywh"),
    "match_boxes": lambda a, b, o: vr.match_boxes(a, b, pred_offsets=o[0], gt_offsets=o[1]).iou,
    "match_boxes_greedy": lambda a, b, o: vr.match_boxes(a, b, scores=np.linspace(1, 0, len(a)), method="greedy").iou,
    "linear_sum_assignment": lambda a, b, o: np.concatenate(vr.linear_sum_assignment(vr.box_iou(a, b), maximize=True)),
}


@pytest.mark.parametrize("name", list(PUBLIC_CALLS))
def test_misaligned_arrays_give_the_aligned_result(name):
    offsets = (np.array([0, 3, 6], dtype=np.int64), np.array([0, 2, 5], dtype=np.int64))
    want = PUBLIC_CALLS[name](A, B, offsets)
    got = PUBLIC_CALLS[name](misaligned(A), misaligned(B), tuple(misaligned(o) for o in offsets))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_misaligned_offsets_in_the_native_call_are_copied_or_refused():
    po, go = np.array([0, 3, 6], dtype=np.int64), np.array([0, 2, 5], dtype=np.int64)
    want = _C.match_boxes_f64(A, po, B, go, None, "hungarian", "iou", "xyxy", 0.5, False)
    try:
        got = _C.match_boxes_f64(
            misaligned(A), misaligned(po), misaligned(B), misaligned(go), None, "hungarian", "iou", "xyxy", 0.5, False
        )
    except (TypeError, ValueError) as e:
        assert "align" in str(e)
    else:
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def test_a_misaligned_out_array_is_refused_not_copied():
    out = misaligned(np.zeros((6, 5)))
    with pytest.raises(ValueError, match="aligned"):
        _C.pairwise_iou_f64(A, B, "xyxy", "iou", out, False)
    with pytest.raises(ValueError, match="aligned"):
        vr.box_iou(A, B, out=out)


# -- item 8: RLE counts beyond int64 (csrc/masks/rle.cpp) -------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [b"o" * 12 + b"?", (b"o" * 11 + b"?") * 40, b"a" * 20],
    ids=["13 groups", "running sum past int64", "unterminated 20 groups"],
)
def test_rle_counts_beyond_int64_are_malformed(text):
    # before (sanitizer build): "left shift of 17 by 60 places cannot be represented" (rle.cpp:20),
    # a shift by 65 (rle.cpp:23), signed overflow of the running sum (rle.cpp:26)
    with pytest.raises(ValueError, match="compressed RLE"):
        _C.rle_decode(text)


# -- item 8: big-endian arrays -----------------------------------------------------------------------------
def _same_or_clear_byte_order_error(call, *args):
    native = call(*[np.asarray(x, dtype=np.float64) if isinstance(x, np.ndarray) else x for x in args])
    try:
        got = call(*args)
    except (TypeError, ValueError) as e:
        assert "byte order" in str(e) or "endian" in str(e), str(
            e
        )  # before: "must hold real numbers ... got dtype >f8"
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(native))


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: vr.box_iou(a, b),
        lambda a, b: vr.paired_box_iou(a, a),
        lambda a, b: vr.convert_boxes(a, "xyxy", "xywh"),
    ],
    ids=["box_iou", "paired_box_iou", "convert_boxes"],
)
def test_big_endian_float64_boxes_are_converted_or_named(call):
    _same_or_clear_byte_order_error(call, A.astype(">f8"), B.astype(">f8"))


def test_big_endian_out_array_is_named():
    with pytest.raises((TypeError, ValueError), match="byte order|endian"):
        vr.box_iou(A, B, out=np.empty((6, 5), dtype=">f8"))  # before: "must have dtype float64 ... got >f8"


def test_native_binding_names_the_byte_order_of_a_big_endian_array():
    with pytest.raises(TypeError, match="byte order|endian"):
        _C.pairwise_iou_f64(A.astype(">f8"), B, "xyxy", "iou", np.empty((6, 5)), False)
        # before: "boxes1 must be a C-contiguous float64 numpy array, got <class 'numpy.ndarray'>"


# -- item 8: crafted pickled evaluation states --------------------------------------------------------------
def _state():
    import _race_driver as rd

    gt, dt, n = rd._eval_columns(4, 2)
    return _C.eval_evaluate(gt, dt, n, 1, np.array([0.5]), np.array([[0.0, 1e10]]), 100)


def _with(state, **changes):
    t = list(state.__getstate__())
    fields = {"I": 1, "K": 2, "T": 3, "A": 4, "group_image": 5, "group_category": 6, "category_groups": 7}
    for k, v in changes.items():
        t[fields[k]] = v
    return tuple(t)


def _overflow_states():
    st = _state()
    g = len(st.__getstate__()[5])
    cat = np.array([0] * (g - 1) + [3], dtype=np.int64)
    return {
        # category * num_images overflows int64 (csrc/eval/merge.cpp:54)
        "category_times_images": _with(
            st, I=2**62, K=4, group_category=cat, category_groups=np.array([0, g - 1, g - 1, g - 1, g], dtype=np.int64)
        ),
        "num_categories_plus_one": _with(st, K=2**63 - 1),
        "areas_times_thresholds": _with(st, A=2**62, T=4),
        "negative_sizes": _with(st, I=-1),
    }


@pytest.mark.parametrize("case", list(_overflow_states()))
def test_crafted_pickled_state_with_overflowing_sizes_is_refused(case):
    t = _overflow_states()[case]
    st = _state()
    blob = pickle.dumps(st)
    obj = type(st).__new__(type(st))
    with pytest.raises(ValueError, match="inconsistent evaluation state|size"):
        obj.__setstate__(t)
    # and through pickle itself: the reduce tuple with the crafted state
    reduced = st.__reduce_ex__(2)
    assert pickle.loads(blob).num_groups == st.num_groups
    with pytest.raises(ValueError):
        pickle.loads(pickle.dumps(_Crafted(reduced, t), protocol=1))


class _Crafted:
    """Pickles as the EvalState reduce tuple of `reduced`, with its state replaced by `state`."""

    def __init__(self, reduced, state):
        self.reduced, self.state = reduced, state

    def __reduce__(self):
        r = list(self.reduced)
        r[2] = self.state
        return tuple(r)


def test_an_eval_state_never_given_its_state_is_not_read():
    """A pickle cut before its BUILD opcode (found by test_fuzz_bounded: one byte set to STOP) gives
    ``EvalState.__new__(EvalState)`` without ``__setstate__``: its accessors must refuse (or see an
    empty state), never read through an unset pointer.  Before: num_groups was garbage
    (e.g. 18257630412341633026), __getstate__ asks for 509 PiB, eval_accumulate reads garbage sizes."""
    obj = _C.EvalState.__new__(_C.EvalState)
    refused = (TypeError, ValueError, RuntimeError)
    try:
        n = obj.num_groups
    except refused:
        n = 0
    assert n == 0
    try:
        t = obj.__getstate__()
    except refused:
        t = None
    assert t is None or all(len(x) == 0 for x in t[5:])
    try:
        _C.eval_accumulate(obj, np.linspace(0, 1, 11), np.array([1, 10, 100], np.int64))
    except refused:
        pass
