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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
from visual_rft_reference import extract_bbox, read_answer_items  # noqa: E402


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


def _assert_same_batch(a, b):
    """Every public array, span and derived string of two ParsedBatch objects is equal."""
    for name in a._ROW_FIELDS + a._BOX_FIELDS + ("offsets",):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert a.answer_text == b.answer_text and a.labels == b.labels
    assert a.normalized_answers() == b.normalized_answers()
    assert a.choice_letters == b.choice_letters


@pytest.mark.parametrize("seed", range(5))
def test_take_equals_parsing_the_selected_texts(seed):
    rng = np.random.default_rng(seed)
    texts = [c.text for c in CASES if not c.kw]
    parsed = vr.parse_completions(texts)
    index = rng.integers(-len(texts), len(texts), size=300)
    _assert_same_batch(parsed.take(index), vr.parse_completions([texts[i] for i in index]))
    _assert_same_batch(parsed.take([]), vr.parse_completions([]))
    # a ParsedBatch has no other state than what take() gathers
    assert set(parsed.__slots__) == set(parsed._ROW_FIELDS + parsed._BOX_FIELDS) | {
        "offsets",
        "_sources",
        "_answer_bytes",
        "_label_bytes",
        "_answer_text",
        "_labels",
    }


def test_take_out_of_range_raises():
    with pytest.raises(IndexError, match="out of range"):
        vr.parse_completions(["a", "b"]).take([2])


@pytest.mark.parametrize("threads", [1, 2])
def test_consecutive_repeats_parse_like_distinct_texts(threads):
    # Each text repeated 1-9 times in a row (equal but distinct str objects, and the same object),
    # across chunk boundaries: every row must equal the parse of that text on its own.
    texts = [c.text for c in CASES if not c.kw and isinstance(c.text, str)]
    rng = np.random.default_rng(3)
    rows = []
    for i in rng.integers(0, len(texts), 120):
        k = int(rng.integers(1, 10))
        rows += [texts[i] if rng.random() < 0.5 else (texts[i] + " ")[:-1] for _ in range(k)]
    try:
        vr.set_num_threads(threads)
        got = vr.parse_completions(rows)
    finally:
        vr.set_num_threads(0)
    singles = {t: vr.parse_completions([t]) for t in set(rows)}
    for name in got._ROW_FIELDS:
        want = np.concatenate([getattr(singles[t], name) for t in rows])
        assert np.array_equal(getattr(got, name), want, equal_nan=want.dtype.kind == "f"), name
    for name in got._BOX_FIELDS:
        want = np.concatenate([getattr(singles[t], name) for t in rows])
        assert np.array_equal(getattr(got, name), want, equal_nan=want.dtype.kind == "f"), name
    assert got.labels == [lab for t in rows for lab in singles[t].labels]
    assert got.answer_text == [singles[t].answer_text[0] for t in rows]


# ---------------------------------------------------------------------------------------------
# Contracts: bad arguments, input forms, spans
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, kind", [(None, "NoneType"), (b"<answer>x</answer>", "bytes"), (3, "int")])
def test_non_text_entry_raises_type_error_naming_the_index(bad, kind):
    with pytest.raises(TypeError, match=rf"completions\[1\] must be a str or a list of chat messages, got {kind}"):
        vr.parse_completions(["<answer>a</answer>", bad])


def test_invalid_empty_reads_non_text_entries_as_empty():
    p = vr.parse_completions(["<answer>a</answer>", None, b"x"], invalid="empty")
    assert p.status_names.tolist() == ["ok", "no_answer", "no_answer"]
    p = vr.parse_completions([None], invalid="empty", require_tags=False)
    assert p.status_names.tolist() == ["empty"]


def test_chat_without_assistant_message_raises():
    with pytest.raises(TypeError, match=r"completions\[0\] must be a list of chat messages with an assistant"):
        vr.parse_completions([[{"role": "user", "content": "hi"}]])


def test_chat_message_that_is_not_a_dict_raises():
    with pytest.raises(TypeError, match=r"completions\[0\] must be a chat message that is a dict, got str"):
        vr.parse_completions([["<answer>x</answer>"]])


def test_single_string_instead_of_list_raises():
    with pytest.raises(TypeError, match="got a single str"):
        vr.parse_completions("<answer>x</answer>")


def test_non_iterable_completions_raises():
    with pytest.raises(TypeError, match="completions must be a list"):
        vr.parse_completions(3)


def test_generator_input_is_accepted():
    p = vr.parse_completions(f"<answer>{i}</answer>" for i in range(3))
    assert p.numbers.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"schema": "json"}, "schema must be one of"),
        ({"answer": "middle"}, "answer must be one of 'last', 'first'"),
        ({"invalid": "skip"}, "invalid must be one of 'raise', 'empty'"),
    ],
)
def test_unknown_option_raises_value_error(kw, match):
    with pytest.raises(ValueError, match=match):
        vr.parse_completions(["x"], **kw)


def test_empty_batch_gives_empty_arrays():
    p = vr.parse_completions([])
    assert len(p) == 0 and p.offsets.tolist() == [0]
    assert p.boxes.shape == (0, 4) and p.boxes.dtype == np.float64
    assert p.answer_text == [] and p.labels == []


def test_array_dtypes_and_shapes():
    p = vr.parse_completions(["<answer>[1, 2, 3, 4]</answer>", "<answer>(1,2),(3,4)</answer>"])
    assert p.status.dtype == np.int8 and p.format.dtype == np.int8 and p.choices.dtype == np.int8
    assert p.has_think.dtype == np.bool_ and p.strict_format.dtype == np.bool_
    assert p.offsets.dtype == np.int64 and p.offsets.shape == (3,)
    assert p.boxes.dtype == np.float64 and p.boxes.shape == (2, 4)
    assert p.confidences.shape == (2,) and p.label_start.dtype == np.int64
    assert p.n_dropped.dtype == np.int32 and p.numbers.dtype == np.float64
    assert p.counts.tolist() == [1, 1] and p.box_owner.tolist() == [0, 1]
    assert p.boxes_of(1).tolist() == [[1, 2, 3, 4]]
    assert "ParsedBatch(B=2, boxes=2, ok=2)" == repr(p)


def test_status_codes_match_names():
    assert STATUS_NAMES[vr.ParsedBatch.OK] == "ok"
    assert STATUS_NAMES[vr.ParsedBatch.MALFORMED] == "malformed"
    assert STATUS_NAMES[vr.ParsedBatch.NO_OBJECTS] == "no_objects"


def test_spans_are_python_string_indices_on_unicode_text():
    texts = [
        "<think>ça 🐕 va</think><answer>  chien 🐕 </answer>",
        "🙂" * 5 + '<answer>[{"bbox_2d": [1, 2, 3, 4], "label": "猫🐈"}]</answer>',
        "<answer>ca\ud800t</answer>",
        "<answer><|object_ref_start|>é<|object_ref_end|>(1,2),(3,4)</answer>",
    ]
    p = vr.parse_completions(texts)
    for i, s in enumerate(texts):
        assert s[p.answer_start[i] : p.answer_end[i]] == p.answer_text[i]
    owner = p.box_owner
    for k in range(p.boxes.shape[0]):
        s = texts[owner[k]]
        assert s[p.label_start[k] : p.label_end[k]] == p.labels[k]
    assert p.labels == ["猫🐈", "é"]


def test_normalized_answers_match_a_python_reference():
    import string

    def ref(t, lower, punctuation, underscores, whitespace):
        if underscores == "space":
            t = t.replace("_", " ")
        elif underscores == "drop":
            t = t.replace("_", "")
        if punctuation:
            t = "".join(ch for ch in t if ch == "_" or ch not in string.punctuation)
        if whitespace == "collapse":
            t = " ".join(t.split())
        elif whitespace == "drop":
            t = "".join(t.split())
        else:
            t = "".join(" " if ch.isspace() else ch for ch in t)
        return t.lower() if lower else t

    texts = [
        "<answer> Boeing_737-200 </answer>",
        "<answer>ÉCOLE  (Maternelle)!\u3000ok</answer>",
        "<answer>a _ b</answer>",
        "no tags",
        "<answer>\t__x__\n</answer>",
        "<answer>A.B,C</answer>",
    ]
    p = vr.parse_completions(texts)
    for lower in (True, False):
        for punctuation in (True, False):
            for underscores in ("space", "drop", "keep"):
                for whitespace in ("collapse", "drop", "keep"):
                    got = p.normalized_answers(
                        lower=lower, punctuation=punctuation, underscores=underscores, whitespace=whitespace
                    )
                    want = [ref(t or "", lower, punctuation, underscores, whitespace) for t in p.answer_text]
                    assert got == want, (lower, punctuation, underscores, whitespace)


def test_normalized_answers_rejects_unknown_modes():
    p = vr.parse_completions(["<answer>x</answer>"])
    with pytest.raises(ValueError, match="underscores must be"):
        p.normalized_answers(underscores="x")
    with pytest.raises(ValueError, match="whitespace must be"):
        p.normalized_answers(whitespace="x")


def test_caller_mutating_the_list_after_the_call_does_not_change_results():
    texts = ["<answer>cat</answer>", "<answer>dog</answer>"]
    p = vr.parse_completions(texts)
    texts[0] = "something else"
    assert p.answer_text == ["cat", "dog"]


# ---------------------------------------------------------------------------------------------
# Frame conversion
# ---------------------------------------------------------------------------------------------


def _ref_to_pixels(boxes, offsets, sizes, frame, model_sizes=None):
    out = []
    for i in range(len(offsets) - 1):
        w, h = (float(v) for v in sizes[i])
        for b in boxes[offsets[i] : offsets[i + 1]]:
            x1, y1, x2, y2 = (float(v) for v in b)
            if frame == "norm1000":
                out.append([x1 / 1000 * w, y1 / 1000 * h, x2 / 1000 * w, y2 / 1000 * h])
            elif frame == "norm1":
                out.append([x1 * w, y1 * h, x2 * w, y2 * h])
            elif model_sizes is None:
                out.append([x1, y1, x2, y2])
            else:
                mw, mh = (float(v) for v in model_sizes[i])
                out.append([x1 / mw * w, y1 / mh * h, x2 / mw * w, y2 / mh * h])
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


@pytest.mark.parametrize("frame", ["norm1000", "norm1", "abs", "abs_model"])
def test_boxes_to_pixels_matches_a_loop_bit_for_bit(frame):
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 5, 50)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    boxes = rng.integers(0, 1001, (offsets[-1], 4)).astype(np.float64)
    if frame == "norm1":
        boxes = boxes / 1000.0
    sizes = rng.integers(1, 4000, (50, 2))
    model = rng.integers(28, 2000, (50, 2)) if frame == "abs_model" else None
    f = "abs" if frame == "abs_model" else frame
    got = vr.boxes_to_pixels(boxes, offsets, sizes, f, model_sizes=model)
    want = _ref_to_pixels(boxes, offsets, sizes, f, model)
    assert got.dtype == np.float64 and np.array_equal(got, want)


def test_boxes_to_pixels_on_parsed_batch():
    p = vr.parse_completions(
        [
            "<answer>[{'Position': [100, 200, 500, 1000], 'Confidence': 1}]</answer>",
            "<answer>No Objects</answer>",
            "<answer>[0, 0, 1000, 1000]</answer>",
        ]
    )
    px = vr.boxes_to_pixels(p.boxes, p.offsets, [[640, 480], [10, 10], [33, 17]])
    assert px.tolist() == [[64.0, 96.0, 320.0, 480.0], [0.0, 0.0, 33.0, 17.0]]


@pytest.mark.parametrize(
    "args, match",
    [
        (([[1, 2, 3]], [0, 1], [[1, 1]]), r"boxes must have shape \(total, 4\)"),
        (([[1, 2, 3, 4]], [0, 2], [[1, 1]]), "offsets must start at 0"),
        (([[1, 2, 3, 4]], [1, 1], [[1, 1]]), "offsets must start at 0"),
        (([[1, 2, 3, 4]], [0.0, 1.0], [[1, 1]]), "offsets must be a 1-D integer array"),
        (([[1, 2, 3, 4]], [0, 1], [[1, 1], [1, 1]]), r"image_sizes must have shape \(1, 2\)"),
        (([[1, 2, 3, 4]], [0, 1], [[0, 1]]), "image_sizes must be finite and positive"),
    ],
)
def test_boxes_to_pixels_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        vr.boxes_to_pixels(*args)


def test_boxes_to_pixels_rejects_unknown_frame():
    with pytest.raises(ValueError, match="frame must be one of"):
        vr.boxes_to_pixels(np.zeros((0, 4)), [0], np.zeros((0, 2)), "pixels")


# ---------------------------------------------------------------------------------------------
# Parity with Visual-RFT's rules (shared/research/visual_rft.md §2), through the rule-for-rule
# re-implementation in bench/visual_rft_reference.py: regex + rewrap + replacements, extract_bbox.
# ---------------------------------------------------------------------------------------------


def ref_reward_boxes(content):
    """Boxes and confidences as Visual-RFT's accuracy rewards read them (None = reward 0)."""
    items = read_answer_items(content)
    if items is None:
        return None
    return [[float(v) for v in it["Position"]] for it in items], [float(it["Confidence"]) for it in items]


_coord = st.one_of(st.integers(0, 1000), st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 3)))
_conf = st.one_of(st.floats(0, 1, allow_nan=False), st.integers(0, 1))
_ws = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def vrft_answer(draw, min_items=1, newlines=False):
    n = draw(st.integers(min_items, 6))
    q = draw(st.sampled_from(["'", '"']))
    ws = (lambda: draw(st.sampled_from(["", " ", "\n", "\n  "]))) if newlines else (lambda: draw(_ws))
    items, want_boxes, want_conf = [], [], []
    for _ in range(n):
        box = [draw(_coord) for _ in range(4)]
        c = draw(_conf)
        pos = f"{q}Position{q}:{ws()}[{ws()}" + f",{ws()}".join(repr(v) for v in box) + f"{ws()}]"
        conf = f"{q}Confidence{q}:{ws()}{c!r}"
        fields = [pos, conf] if draw(st.booleans()) else [conf, pos]
        items.append("{" + ws() + f",{ws()}".join(fields) + ws() + "}")
        want_boxes.append([float(v) for v in box])
        want_conf.append(float(c))
    return "[" + ws() + f",{ws()}".join(items) + ws() + "]", want_boxes, want_conf


_think = st.text(st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)), max_size=60)


@given(ans=vrft_answer(), think=_think)
@settings(max_examples=300)
def test_parity_with_visual_rft_rules_on_well_formed_answers(ans, think):
    payload, boxes, conf = ans
    text = f"<think>{think}</think><answer>{payload}</answer>"
    ref = ref_reward_boxes(text)
    assert ref is not None
    p = vr.parse_completions([text])
    assert p.status_names[0] == "ok" and p.format_names[0] == "visual_rft"
    assert p.boxes.tolist() == ref[0] == boxes
    assert p.confidences.tolist() == ref[1] == conf


@given(ans=vrft_answer(min_items=2), data=st.data())
@settings(max_examples=300)
def test_truncation_repair_matches_extract_bbox_except_after_a_closing_bracket(ans, data):
    # We keep every complete item.  extract_bbox keeps the items before the last "}," -- the same
    # ones -- except when the text was cut right after an item's "}" (it drops that item) or right
    # after a "]" inside an item (the text then "ends with ]", is not repaired, and fails).
    payload, boxes, _ = ans
    cut = data.draw(st.integers(payload.index("}") + 1, len(payload) - 1))
    truncated = payload[:cut]
    p = vr.parse_completions(["<answer>" + truncated])
    n_complete = truncated.count("}")  # the generator nests no braces
    assert p.boxes.tolist() == boxes[:n_complete]
    assert p.status_names[0] == "repaired"
    ref = extract_bbox("<answer>" + truncated)
    want = None if ref is None else [[float(v) for v in it["Position"]] for it in ref]
    if truncated.endswith("]"):
        assert want is None
    elif truncated.rstrip().endswith("}"):
        assert (want or []) == boxes[: n_complete - 1]
    else:
        assert want == boxes[:n_complete]


@given(ans=vrft_answer(newlines=True))
@settings(max_examples=100)
def test_newline_inside_answer_is_read_where_visual_rft_scores_zero(ans):
    payload, boxes, conf = ans
    text = f"<think>x</think><answer>\n{payload}\n</answer>"
    assert ref_reward_boxes(text) is None  # upstream's regex has no DOTALL
    p = vr.parse_completions([text])
    assert p.boxes.tolist() == boxes and p.confidences.tolist() == conf


def test_lisa_parser_pairs_corners_wrongly_we_pair_them_in_order():
    # Visual-RFT's grpo_lisa collects all top-left corners, then all bottom-right ones.
    text = "<answer>(10,20),(30,40),(50,60),(70,80)</answer>"
    pat = r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)"
    ref = [[float(v) for v in m] for m in re.findall(pat, text)]
    p = vr.parse_completions([text])
    assert p.boxes.tolist() == ref == [[10, 20, 30, 40], [50, 60, 70, 80]]


_label = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
# Box coordinates the parser keeps: finite and within the geometry's overflow guard (2**510).
_box_float = st.floats(-(2.0**510), 2.0**510)
_num = st.one_of(st.integers(-(10**6), 10**6), _box_float)


@given(
    items=st.lists(
        st.fixed_dictionaries(
            {"bbox_2d": st.lists(_num, min_size=4, max_size=4)}, optional={"label": _label, "score": st.floats(0, 1)}
        ),
        max_size=6,
    ),
    indent=st.sampled_from([None, 1, 2, "\t"]),
    ascii_=st.booleans(),
    fence=st.booleans(),
)
@settings(max_examples=300)
def test_parity_with_json_loads_on_qwen_json(items, indent, ascii_, fence):
    doc = json.dumps(items, indent=indent, ensure_ascii=ascii_)
    text = f"```json\n{doc}\n```" if fence else doc
    p = vr.parse_completions([text], require_tags=False)
    ref = json.loads(doc)
    if not ref:
        assert p.status_names[0] == "no_objects"
        return
    assert p.status_names[0] == "ok" and p.format_names[0] == "qwen_json"
    assert p.boxes.tolist() == [[float(v) for v in it["bbox_2d"]] for it in ref]
    _same_floats(p.confidences, [float(it.get("score", math.nan)) for it in ref])
    assert p.labels == [it.get("label") for it in ref]


# ---------------------------------------------------------------------------------------------
# Property tests: exact round trip, never crash, always a status
# ---------------------------------------------------------------------------------------------

_any_float = st.floats(allow_nan=False, allow_infinity=False)


@given(values=st.lists(st.one_of(_box_float, st.integers(-(10**30), 10**30)), min_size=4, max_size=4), conf=_any_float)
@settings(max_examples=500)
def test_numbers_round_trip_exactly_through_repr(values, conf):
    text = "<answer>[{'Position': [" + ", ".join(repr(v) for v in values) + f"], 'Confidence': {conf!r}}}]</answer>"
    p = vr.parse_completions([text])
    got = p.boxes[0]
    want = np.array([float(v) for v in values])
    # Bitwise equal, sign of zero included (integer 0 is +0.0, as float(int) gives).
    assert got.tobytes() == want.tobytes()
    assert np.float64(conf).tobytes() == p.confidences[:1].tobytes()


@given(x=st.one_of(_any_float, st.integers(-(10**30), 10**30)))
@settings(max_examples=300)
def test_number_answers_round_trip_exactly(x):
    p = vr.parse_completions([f"<answer>{x!r}</answer>"])
    assert p.format_names[0] == "number"
    assert p.numbers[:1].tobytes() == np.float64(float(x)).tobytes()


@given(e=st.integers(-400, 400), m=st.integers(1, 10**17))
def test_extreme_exponents_match_python_float(e, m):
    tok = f"{m}e{e}"
    p = vr.parse_completions([f"<answer>{tok}</answer>"])
    assert p.numbers[:1].tobytes() == np.float64(float(tok)).tobytes()


def _check_invariants(texts, p):
    assert len(p) == len(texts)
    assert set(np.unique(p.status)) <= set(range(len(STATUS_NAMES)))
    assert set(np.unique(p.format)) <= set(range(len(FORMAT_NAMES)))
    assert p.offsets[0] == 0 and np.all(np.diff(p.offsets) >= 0)
    assert p.offsets[-1] == p.boxes.shape[0] == p.confidences.shape[0]
    assert np.all(np.isfinite(p.boxes))
    has_boxes = p.counts > 0
    assert np.all(np.isin(p.status[has_boxes], [vr.ParsedBatch.OK, vr.ParsedBatch.REPAIRED]))
    assert np.all(p.counts[p.status == vr.ParsedBatch.NO_OBJECTS] == 0)
    for i, s in enumerate(texts):
        a, b = p.answer_start[i], p.answer_end[i]
        if a < 0:
            assert p.answer_text[i] is None and p.status[i] == vr.ParsedBatch.NO_ANSWER
        else:
            assert 0 <= a <= b <= len(s) and s[a:b] == p.answer_text[i]
    owner = p.box_owner
    for k in range(p.boxes.shape[0]):
        if p.label_start[k] >= 0:
            assert 0 <= p.label_start[k] <= p.label_end[k] <= len(texts[owner[k]])


_all_chars = st.characters(blacklist_categories=())  # surrogates included
_token_alphabet = list("[]{}(),:'\" .-+e0123456789\n") + [
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    "'Position'",
    "'Confidence'",
    '"bbox_2d"',
    '"label"',
    "<|box_start|>",
    "<|box_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "```json",
    "```",
    "...",
    "NaN",
    "1e999",
    "No Objects",
    "é",
    "🐕",
    "\u3000",
]


@given(texts=st.lists(st.text(_all_chars, max_size=200), max_size=8))
@settings(max_examples=300)
def test_random_text_never_raises_and_always_gets_a_status(texts):
    for kw in ({}, {"require_tags": False}, {"schema": "boxes", "answer": "first"}):
        _check_invariants(texts, vr.parse_completions(texts, **kw))


@given(data=st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_decoded_leniently_never_raise(data):
    texts = [data.decode("utf-8", "surrogateescape"), data.decode("latin-1")]
    _check_invariants(texts, vr.parse_completions(texts, require_tags=False))


@given(
    ans=vrft_answer(),
    ops=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2), st.sampled_from(_token_alphabet)), max_size=8),
    schema=st.sampled_from(["auto", "visual_rft", "qwen_json", "qwen_tuple", "boxes", "text", "number"]),
)
@settings(max_examples=500)
def test_mutated_valid_answers_never_raise(ans, ops, schema):
    text = f"<think>ok</think><answer>{ans[0]}</answer>"
    for pos, op, tok in ops:
        pos %= len(text) + 1
        if op == 0:
            text = text[:pos] + tok + text[pos:]
        elif op == 1:
            text = text[:pos] + text[pos + len(tok) :]
        else:
            text = text[:pos] + tok + text[pos + len(tok) :]
    for kw in ({"schema": schema}, {"schema": schema, "require_tags": False}):
        _check_invariants([text], vr.parse_completions([text], **kw))


@pytest.mark.parametrize(
    "unit",
    [
        "[",
        "{",
        "(",
        "<answer>",
        "</answer>",
        "[1,",
        "{'Position': [",
        "(1,",
        "'",
        '"',
        "`",
        "```",
        "<|object_ref_start|>",
        "1e",
        "-",
        ".",
    ],
)
def test_pathological_repetition_is_linear_and_safe(unit):
    # 200k-character inputs: a quadratic scan would take minutes here, a recursive one would
    # overflow the stack.
    body = unit * (200_000 // len(unit))
    texts = ["<answer>" + body, "<answer>" + body + "</answer>", body]
    for schema in ("auto", "boxes", "qwen_tuple", "number"):
        p = vr.parse_completions(texts, schema=schema, require_tags=False)
        _check_invariants(texts, p)


@pytest.mark.slow
def test_structure_aware_fuzz_briefly():
    # bench/fuzz_parsing.py runs the same for minutes (see docs/parsing.md); here a short run.
    spec = importlib.util.spec_from_file_location(
        "fuzz_parsing", pathlib.Path(__file__).parent.parent / "bench" / "fuzz_parsing.py"
    )
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    assert fuzz.run(seconds=5, verbose=False) > 0


def test_chat_messages_as_tuples_and_dict_subclasses():
    from collections import OrderedDict

    msgs = (
        OrderedDict(role="assistant", content="<answer>[1, 2, 3, 4]</answer>"),
        {"role": "tool", "content": "ignored"},
    )
    p = vr.parse_completions((msgs, "<answer>cat</answer>"))
    assert p.boxes.tolist() == [[1, 2, 3, 4]] and p.answer_text == ["[1, 2, 3, 4]", "cat"]


_tag_soup = st.lists(
    st.sampled_from(
        ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\u3000", "\x1c", "x", "é", "<", ">", "/"]
    ),
    max_size=14,
).map("".join)
_VRFT_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


@given(texts=st.lists(_tag_soup, min_size=1, max_size=20))
@settings(max_examples=500)
def test_format_facts_match_regex_and_str_count(texts):
    p = vr.parse_completions(texts)
    for i, s in enumerate(texts):
        assert p.strict_format[i] == (_VRFT_FORMAT.fullmatch(s) is not None), repr(s)
        assert p.n_think_open[i] == s.count("<think>") and p.n_think_close[i] == s.count("</think>")
        assert p.n_answer_open[i] == s.count("<answer>") and p.n_answer_close[i] == s.count("</answer>")
        first = s.find("<think>")
        assert p.think_closed[i] == (first >= 0 and s.find("</think>", first) >= 0)


def ref_answer(s, answer="last", require_tags=True):
    """Slow reference of docs/parsing.md §2: the answer text (stripped) or None."""
    tags = [(m.start(), m.group()) for m in re.finditer(r"<think>|</think>|<answer>|</answer>", s)]
    base = max((pos + 8 for pos, t in tags if t == "</think>"), default=0)
    blocks, pending = [], None
    for pos, t in tags:
        if pos < base:
            continue
        if t == "<answer>":
            pending = pos
        elif t == "</answer>" and pending is not None:
            blocks.append((pending + 8, pos))
            pending = None
    if blocks:
        lo, hi = blocks[-1] if answer == "last" else blocks[0]
        return s[lo:hi].strip()
    if pending is not None:
        return s[pending + 8 :].strip()
    return None if require_tags else s[base:].strip()


_soup_with_text = st.lists(
    st.sampled_from(
        ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\u3000", "cat", "dög", "[1, 2, 3, 4]", "<", "🐕"]
    ),
    max_size=14,
).map("".join)


@given(
    texts=st.lists(_soup_with_text, min_size=1, max_size=20),
    answer=st.sampled_from(["last", "first"]),
    require_tags=st.booleans(),
)
@settings(max_examples=500)
def test_answer_location_matches_a_slow_reference(texts, answer, require_tags):
    p = vr.parse_completions(texts, answer=answer, require_tags=require_tags, schema="text")
    assert p.answer_text == [ref_answer(s, answer, require_tags) for s in texts]


def test_concurrent_calls_from_python_threads_agree_with_serial():
    # The GIL is released during parsing; calls from several threads share the pool.
    from concurrent.futures import ThreadPoolExecutor

    texts = [c.text for c in CASES if isinstance(c.text, str)] * 20
    want = vr.parse_completions(texts)
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: vr.parse_completions(texts), range(8)))
    for got in results:
        assert got.status.tobytes() == want.status.tobytes()
        assert got.boxes.tobytes() == want.boxes.tobytes()
        assert got.offsets.tobytes() == want.offsets.tobytes()
        assert got.answer_text == want.answer_text


def test_parsed_batch_pickles():
    import pickle

    p = vr.parse_completions(['<answer>[{"bbox_2d": [1, 2, 3, 4], "label": "dög"}]</answer>', "x"])
    q = pickle.loads(pickle.dumps(p))
    assert q.boxes.tolist() == [[1, 2, 3, 4]] and q.labels == ["dög"]
    assert q.status_names.tolist() == ["ok", "no_answer"] and q.answer_text == p.answer_text


@given(
    answer=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), max_size=30).filter(
        lambda t: all(ch == " " or not ch.isspace() for ch in t)
    )
)
@settings(max_examples=300)
def test_normalisation_reproduces_visual_rft_classification_rule(answer):
    # grpo_classification.py: answer.replace(' ', '').replace('_', '').lower() (visual_rft.md §3),
    # on text whose only whitespace is ' ' (Visual-RFT keeps tabs and newlines, we drop them too).
    p = vr.parse_completions([f"<answer>{answer}</answer>"])
    want = answer.strip().replace(" ", "").replace("_", "").lower()
    got = p.normalized_answers(punctuation=False, underscores="drop", whitespace="drop")
    assert got == [want]


# ---------------------------------------------------------------------------------------------
# Chat completions as trainers hand them over: reasoning apart, content as parts (issue 11 item 5)
# ---------------------------------------------------------------------------------------------
STRICT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)  # Visual-RFT's format rule
ANSWER = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.9}]</answer>"


def _chat(**message):
    return [{"role": "user", "content": "find it"}, {"role": "assistant", **message}]


@pytest.mark.parametrize("key", ["reasoning_content", "thinking"])
def test_reasoning_kept_apart_is_read_as_a_think_block(key):
    # TRL's parse_response moves <think>...</think> into reasoning_content (tools / response
    # schema); the format rules must see the completion the model wrote.
    apart = vr.parse_completions([_chat(**{key: "one box", "content": "\n\n" + ANSWER})])
    joined = vr.parse_completions(["<think>one box</think>\n\n" + ANSWER])
    assert apart.strict_format.tolist() == joined.strict_format.tolist() == [True]
    assert apart.has_think.tolist() == [True] and apart.think_closed.tolist() == [True]
    assert apart.boxes.tolist() == joined.boxes.tolist() == [[5, 5, 30, 30]]
    assert apart.answer_text == joined.answer_text
    assert bool(STRICT.fullmatch("<think>one box</think>\n\n" + ANSWER))


@pytest.mark.parametrize("reasoning", ["", None, 3, ["x"]])
def test_empty_or_non_str_reasoning_is_ignored(reasoning):
    p = vr.parse_completions([_chat(reasoning_content=reasoning, content=ANSWER)])
    assert p.has_think.tolist() == [False] and p.strict_format.tolist() == [False]
    assert p.boxes.tolist() == [[5, 5, 30, 30]]


def test_content_parts_are_joined_text_parts_only():
    parts = [
        {"type": "text", "text": "<think>a</think>"},
        {"type": "image", "image": "ignored.png"},
        {"text": "<answer>"},  # a part without "type" but with text counts as text
        {"type": "image_url", "text": "not text"},  # a non-text part, even with a "text" key
        "bare str parts are not parts",
        {"type": "text", "text": "cat</answer>"},
        {"type": "text", "text": None},
    ]
    p = vr.parse_completions([_chat(content=parts), _chat(content=tuple(parts))])
    assert p.answer_text == ["cat", "cat"] and p.strict_format.tolist() == [True, True]
    # parts and reasoning together
    p = vr.parse_completions([_chat(reasoning_content="r", content=[{"type": "text", "text": "<answer>cat</answer>"}])])
    assert p.strict_format.tolist() == [True] and p.answer_text == ["cat"]


@pytest.mark.parametrize(
    "message",
    [
        {"content": None, "tool_calls": [{"type": "function", "function": {"name": "zoom", "arguments": "{}"}}]},
        {},  # no content at all
        {"content": 5},
        {"content": {"type": "text", "text": "<answer>x</answer>"}},
        {"content": [{"type": "image"}]},  # parts without text
        {"content": []},
    ],
)
def test_assistant_message_without_usable_text_is_data_not_an_error(message):
    # Model output (a tool call with no text, an odd content) gets a status, never an exception.
    p = vr.parse_completions([_chat(**message), "<answer>ok</answer>"])
    assert p.status_names.tolist() == ["no_answer", "ok"]
    assert vr.parse_completions([_chat(**message)], require_tags=False).status_names.tolist() == ["empty"]


def test_reasoning_and_parts_reach_the_rewards():
    from vrft_rewards.rewards import format_reward

    completions = [
        _chat(reasoning_content="r", content=ANSWER),
        _chat(content=[{"type": "text", "text": "<think>r</think>"}, {"type": "text", "text": ANSWER}]),
        _chat(content=ANSWER),
        _chat(content=None),
    ]
    assert format_reward(completions) == [1.0, 1.0, 0.0, 0.0]
