"""Completion parser: hand-written table, contracts, property tests, parity with Visual-RFT's
rules and json.loads (see docs/parsing.md for the rules)."""

from __future__ import annotations

import importlib.util
import json
import math
import pathlib
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vrft_rewards as vr
from vrft_rewards.parsing import FORMAT_NAMES, STATUS_NAMES


def _load_table():
    path = pathlib.Path(__file__).parent / "data" / "parsing_table.py"
    spec = importlib.util.spec_from_file_location("parsing_table", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["parsing_table"] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


TABLE = _load_table()
CASES = TABLE.CASES


def _nan_list(xs):
    return [math.nan if x is None else float(x) for x in xs]


def _same_floats(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got, want)
    both_nan = np.isnan(got) & np.isnan(want)
    assert np.all(both_nan | (got == want)), (got, want)


def _check_case(case, p, i):
    assert STATUS_NAMES[p.status[i]] == case.status, (case.id, p.status_names[i])
    assert FORMAT_NAMES[p.format[i]] == case.fmt, (case.id, p.format_names[i])
    lo, hi = p.offsets[i], p.offsets[i + 1]
    _same_floats(p.boxes[lo:hi].reshape(-1, 4), np.asarray(case.boxes, dtype=np.float64).reshape(-1, 4))
    if case.conf is not TABLE._MISSING:
        _same_floats(p.confidences[lo:hi], _nan_list(case.conf))
    if case.labels is not TABLE._MISSING:
        assert p.labels[lo:hi] == case.labels, case.id
    if case.answer is not TABLE._MISSING:
        assert p.answer_text[i] == case.answer, case.id
    _same_floats([p.numbers[i]], _nan_list([case.number]))
    assert p.choice_letters[i] == case.choice, case.id
    assert p.n_dropped[i] == case.dropped, case.id
    for name, want in case.facts.items():
        assert getattr(p, name)[i] == want, (case.id, name)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_table_case_parses_as_written(case):
    p = vr.parse_completions([case.text], **case.kw)
    _check_case(case, p, 0)


def test_table_has_at_least_100_cases_with_unique_ids():
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_table_as_one_batch_equals_case_by_case(threads):
    # One call over the whole table (split across the pool) must give each case's own parse.
    groups = {}
    for c in CASES:
        groups.setdefault(json.dumps(c.kw, sort_keys=True), []).append(c)
    try:
        vr.set_num_threads(threads)
        for kw_json, cases in groups.items():
            texts = [c.text for c in cases] * 40  # > one 64-completion chunk
            p = vr.parse_completions(texts, **json.loads(kw_json))
            for i, c in enumerate(cases * 40):
                _check_case(c, p, i)
    finally:
        vr.set_num_threads(0)
