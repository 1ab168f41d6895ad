"""Bounded fuzzing in the test suite (issue 14): hypothesis drives the parser and the pickled
evaluation state with grammar-aware and corrupted inputs.  ``VRFT_FUZZ_EXAMPLES`` sets the number
of examples per test (default 150: seconds; CI's sanitizer step raises it).  The default run draws
the same examples every time (a red CI names a finding, not a dice roll); ``VRFT_FUZZ_RANDOM=1``
draws new ones.  The long runs use the libFuzzer harnesses of ``fuzz/`` (docs/reliability.md)."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vrft_rewards as vr
from vrft_rewards import _C

EXAMPLES = int(os.environ.get("VRFT_FUZZ_EXAMPLES", "150"))
RANDOM = os.environ.get("VRFT_FUZZ_RANDOM") == "1"
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not RANDOM, database=None
)

TOKENS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    " ",
    "\n",
    "'Position'",
    "'Confidence'",
    '"bbox_2d"',
    '"label"',
    '"score"',
    "'",
    '"',
    "No Objects",
    "<|box_start|>",
    "<|box_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "```json",
    "```",
    "0",
    "1",
    "10",
    "-5",
    "0.5",
    "1e200",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "1e-400",
    "3.4e153",
    "2e153",
    "9" * 30,
    "0x10",
    "1_0",
    "+3",
    ".5",
    "5.",
    "é",
    "\u00a0",
    "\ud800",
    "\x00",
    "A",
    "B",
]


@st.composite
def completion(draw):
    parts = draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=60))
    return "".join(parts)


@FUZZ
@given(
    st.lists(completion(), min_size=1, max_size=6),
    st.sampled_from(["auto", "visual_rft", "qwen_json", "qwen_tuple", "boxes", "text", "number"]),
)
def test_parser_never_crashes_and_keeps_its_invariants(texts, schema):
    p = vr.parse_completions(texts, schema=schema)
    off = np.asarray(p.offsets)
    assert len(off) == len(texts) + 1 and off[0] == 0 and (np.diff(off) >= 0).all()
    assert off[-1] == len(np.asarray(p.boxes))
    assert (np.abs(np.asarray(p.boxes)) <= 2.0**510).all()  # finite and within the geometry's guard


# -- pickled evaluation state ---------------------------------------------------------------------
def _state():
    rng = np.random.default_rng(0)
    n, per = 6, 3
    img = np.repeat(np.arange(n, dtype=np.int64), per)
    xy = rng.uniform(0, 50, (n * per, 2))
    box = np.ascontiguousarray(np.hstack([xy, rng.uniform(5, 30, (n * per, 2))]))
    gt = {
        "image": img,
        "category": (img % 2).astype(np.int64),
        "box": box,
        "area": box[:, 2] * box[:, 3],
        "ignore": np.zeros(n * per, np.uint8),
        "crowd": np.zeros(n * per, np.uint8),
        "id_nonzero": np.ones(n * per, np.uint8),
    }
    dt = {
        "image": img.copy(),
        "category": (img % 2).astype(np.int64),
        "box": np.ascontiguousarray(box + 1.0),
        "area": box[:, 2] * box[:, 3],
        "score": rng.uniform(0, 1, n * per),
        "id_positive": np.ones(n * per, np.uint8),
    }
    return _C.eval_evaluate(
        gt,
        dt,
        n,
        2,
        np.linspace(0.5, 0.95, 10),
        np.array([[0, 1e10], [0, 1024], [1024, 9216], [9216, 1e10]], dtype=np.float64),
        100,
    )


STATE = _state()
BLOB = pickle.dumps(STATE)
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("copyreg", "__newobj__"),
    ("copyreg", "_reconstructor"),
    ("vrft_rewards._C", "EvalState"),
    ("builtins", "object"),
}


class _OnlyStateUnpickler(pickle.Unpickler):
    """Fuzzed pickles may name any callable: only those an EvalState pickle uses are allowed."""

    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"not allowed: {module}.{name}")
        return super().find_class(module, name)


EXPECTED = (
    ValueError,
    TypeError,
    pickle.UnpicklingError,
    EOFError,
    IndexError,
    KeyError,
    AttributeError,
    OverflowError,
    MemoryError,
    UnicodeDecodeError,
    RecursionError,
    SystemError,
    __import__("struct").error,
)


def _use(state):
    """An accepted state must accumulate and merge without crashing."""
    rec, md = np.linspace(0, 1, 11), np.array([1, 10, 100], np.int64)
    if getattr(state, "num_groups", 0) < 10_000:
        _C.eval_accumulate(state, rec, md)
        _C.eval_merge([state], [None], [None])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(BLOB) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_pickle_bytes_never_crash(edits):
    data = bytearray(BLOB)
    for at, value in edits:
        data[at] = value
    try:
        state = _OnlyStateUnpickler(io.BytesIO(bytes(data))).load()
    except EXPECTED:
        return
    if isinstance(state, type(STATE)):
        try:
            _use(state)
        except EXPECTED:
            pass


EXTREME = st.sampled_from([0, 1, -1, 2, 3, 2**31, 2**62, 2**63 - 1, -(2**63), 10**6])


@st.composite
def mutated_field(draw, value):
    if isinstance(value, int):
        return draw(st.one_of(EXTREME, st.integers(-5, 50)))
    arr = np.array(value)
    kind = draw(st.integers(0, 5))
    if kind == 0 and arr.size:
        arr = arr.copy()
        arr[draw(st.integers(0, arr.size - 1))] = (
            draw(EXTREME)
            if arr.dtype.kind == "i"
            else draw(st.sampled_from([np.nan, np.inf, -1.0, 1e308]) if arr.dtype.kind == "f" else st.integers(0, 255))
        )
    elif kind == 1:
        arr = arr[: draw(st.integers(0, arr.size))].copy()
    elif kind == 2:
        arr = np.concatenate([arr, arr[: draw(st.integers(0, arr.size))]])
    elif kind == 3:
        arr = arr[::-1].copy()
    elif kind == 4:
        with np.errstate(invalid="ignore"):  # NaN / inf cast to int64: any value, on purpose
            arr = arr.astype(np.float64 if arr.dtype.kind != "f" else np.int64)
    return arr


@FUZZ
@given(st.data())
def test_mutated_state_fields_are_refused_or_safe(data):
    t = list(STATE.__getstate__())
    for i in data.draw(st.lists(st.integers(1, len(t) - 1), min_size=1, max_size=4)):
        t[i] = data.draw(mutated_field(t[i]))
    obj = type(STATE).__new__(type(STATE))
    try:
        obj.__setstate__(tuple(t))
    except EXPECTED:
        return
    try:
        _use(obj)
    except EXPECTED:
        pass
