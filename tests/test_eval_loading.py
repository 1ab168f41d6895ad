"""Loading evaluation data into columns: the native readers give exactly the general loader's
values, and every input off their fast path goes to that loader (which names a bad record).

- ``_C.records_columns`` (fields of a list of dicts in one pass, used by ``GroundTruth`` and
  ``Detections``) against the numpy conversion of ``vrft_rewards/cocoeval/columns.py`` on
  adversarial values, one field at a time and several at once;
- ``_C.eval_read_results`` (a results file read in blocks into the final arrays) against
  ``json.loads`` + ``Detections.from_records``, with blocks small enough to cut records, strings
  and numbers at every place.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrft_rewards import _C
from vrft_rewards.cocoeval import columns
from vrft_rewards.cocoeval.detections import Detections, load_results_file

# ---- record lists ----------------------------------------------------------------------------------


def python_path(fn, records, key, *args):
    """The column as the numpy conversion makes it (the native reader switched off)."""
    saved = columns._read_native
    columns._read_native = lambda records, specs: [None] * len(specs)
    try:
        return fn(records, key, "recs", *args)
    except (ValueError, TypeError) as exc:
        return type(exc), str(exc)
    finally:
        columns._read_native = saved


def both_paths(fn, records, key, *args):
    try:
        native = fn(records, key, "recs", *args)
    except (ValueError, TypeError) as exc:
        native = (type(exc), str(exc))
    return native, python_path(fn, records, key, *args)


def assert_same(native, python) -> None:
    if isinstance(python, tuple):
        assert native == python
    else:
        assert isinstance(native, np.ndarray)
        assert native.dtype == python.dtype and native.shape == python.shape
        assert np.array_equal(native, python, equal_nan=native.dtype.kind == "f")


INT_VALUES = [0, 1, -1, 7, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 3.0, -2.0, 1e15]
ODD_IDS = [True, 2**63, 2**64 + 5, 3.5, float("nan"), float("inf"), None, "4", np.int64(5), np.float64(2.0), [1]]
FLOATS = [0.0, -0.0, 1.5, 1e-320, 1e308, 2**53 + 1, 2**63 + 11, 10**30 + 1, -(10**25) - 3, 7, float("nan")]
ODD_FLOATS = [True, None, "1.5", np.float32(0.1), 10**400, [1.0]]


@given(st.lists(st.sampled_from(INT_VALUES + ODD_IDS), max_size=6), st.booleans())
def test_int_column_native_equals_numpy(values, drop_one):
    recs = [{"id": v} for v in values]
    if drop_one and recs:
        del recs[len(recs) // 2]["id"]
    assert_same(*both_paths(columns.int_column, recs, "id"))


@given(st.lists(st.sampled_from(FLOATS + ODD_FLOATS), max_size=6))
def test_float_column_native_equals_numpy(values):
    assert_same(*both_paths(columns.float_column, [{"area": v} for v in values], "area"))


@given(st.lists(st.sampled_from([0, 1, 2, -3, 0.0, 0.5, float("nan"), True, False, None, "x", 2**70]), max_size=6))
def test_flag_column_native_equals_numpy(values):
    recs = [{"iscrowd": v} for v in values] + [{}]  # a missing flag is 0
    assert_same(*both_paths(columns.flag_column, recs, "iscrowd"))


BOXES = [
    [1, 2, 3, 4],
    [0.5, -1.25, 1e300, 2**60 + 1],
    (1.0, 2.0, 3.0, 4.0),
    [1, 2, 3],
    [1, 2, 3, 4, 5],
    [1, None, 3, 4],
]


@given(st.lists(st.sampled_from(BOXES + [np.array([1.0, 2.0, 3.0, 4.0]), "abcd", [[1, 2], [3, 4]]]), max_size=5))
def test_box_column_native_equals_numpy(values):
    assert_same(*both_paths(columns.box_column, [{"bbox": v} for v in values], "bbox"))


def test_records_that_are_not_plain_dicts_take_the_python_path():
    from collections import OrderedDict, defaultdict

    d = defaultdict(lambda: 9)
    d["x"] = 1
    for recs in ([OrderedDict(id=3), {"id": 4}], [d], [{"id": 1}, ["id", 2]], ({"id": 5},)):
        assert_same(*both_paths(columns.int_column, recs, "id"))
    assert _C.records_columns([OrderedDict(id=3)], [("id", "int", None)])[0] is None
    assert _C.records_columns(({"id": 5},), [("id", "int", None)])[0].tolist() == [5]
    with pytest.raises(ValueError, match="kind"):
        _C.records_columns([], [("id", "uint", None)])


@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "image_id": st.sampled_from(INT_VALUES + ODD_IDS),
                "area": st.sampled_from(FLOATS + ODD_FLOATS),
                "iscrowd": st.sampled_from([0, 1, 0.0, True, None, "x"]),
                "bbox": st.sampled_from(BOXES),
            },
        ),
        max_size=6,
    )
)
def test_one_pass_over_several_fields_equals_each_field_alone(records):
    fields = columns.RecordFields(
        records, "recs", {"image_id": "int", "area": "float", "iscrowd": "flag", "bbox": "box"}
    )
    for key, fn in (
        ("image_id", columns.int_column),
        ("area", columns.float_column),
        ("iscrowd", columns.flag_column),
        ("bbox", columns.box_column),
    ):
        try:
            got = fields[key]
        except (ValueError, TypeError) as exc:
            got = (type(exc), str(exc))
        assert_same(got, python_path(fn, records, key))
    for key, kind in (("image_id", "int"), ("area", "float")):
        if not records or any(key not in r for r in records):
            assert fields.optional(key) is None
            continue

        def optional(recs, k, where, kind=kind):
            return columns.RecordFields(recs, where, {k: kind}).optional(k)

        assert_same(*both_paths(optional, records, key))


def test_empty_lists_give_empty_columns_of_the_right_shape():
    for fn in (columns.int_column, columns.float_column, columns.flag_column, columns.box_column):
        assert_same(*both_paths(fn, [], "k"))


# ---- results files ---------------------------------------------------------------------------------


def _records(rng, n):
    out = []
    for i in range(n):
        rec = {
            "image_id": int(rng.integers(0, 2**40)),
            "category_id": int(rng.integers(1, 1300)),
            "bbox": [float(v) for v in rng.uniform(-10, 1000, 4) * 10.0 ** rng.integers(-8, 8, 4)],
            "score": float(rng.random()),
        }
        if i % 3 == 0:
            rec["segmentation"] = {"size": [3, 4], "counts": "ab\\c" * int(rng.integers(0, 40))}
        if i % 5 == 0:
            rec["bbox"] = [int(v) for v in rng.integers(-5, 500, 4)]
            rec["score"] = round(float(rng.random()), int(rng.integers(0, 6)))
        out.append(rec)
    return out


def reference(text: str) -> Detections:
    return Detections.from_records(json.loads(text))


def assert_same_dets(a: Detections, b: Detections) -> None:
    for key in ("image_id", "category_id", "box", "score", "area", "ids"):
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and np.array_equal(x, y), key


@pytest.mark.parametrize("block", [4096, 5000, 65536, 32 << 20])
@pytest.mark.parametrize("indent", [None, 1])
def test_file_read_in_blocks_equals_json(tmp_path, block, indent):
    rng = np.random.default_rng(block + (indent or 0))
    text = json.dumps(_records(rng, 3000), indent=indent)
    path = tmp_path / "res.json"
    path.write_text(text)
    cols = _C.eval_read_results(bytes(path), block)
    assert cols is not None
    got = Detections(cols["image_id"], cols["category_id"], cols["bbox"], cols["score"])
    assert_same_dets(got, reference(text))
    assert_same_dets(load_results_file(path), reference(text))


def test_numbers_are_read_as_python_reads_them(tmp_path):
    # Decimal forms of every kind: short decimals (the exact fast path), 17+ significant digits,
    # exponents, subnormals, 2**53 + 1, -0, huge integers as floats (from_chars).
    rng = np.random.default_rng(9)
    tokens = [repr(float(v)) for v in rng.standard_normal(400) * 10.0 ** rng.integers(-30, 30, 400)]
    tokens += [
        "0",
        "-0",
        "-0.0",
        "1e22",
        "1e23",
        "9007199254740993",
        "9007199254740993.0",
        "4.9e-324",
        "2.2250738585072011e-308",
    ]
    tokens += ["123456789012345678901234567890", "0.1", "0.30000000000000004", "1E+2", "2.5e-3", "17.5E1"]
    tokens += [f"{float(v):.{k}g}" for v, k in zip(rng.random(200) * 1e4, rng.integers(1, 20, 200))]
    recs = ",".join(
        f'{{"image_id": {i}, "category_id": 1, "bbox": [{t}, {t}, 1, {t}], "score": {t}}}' for i, t in enumerate(tokens)
    )
    text = f"[{recs}]"
    path = tmp_path / "res.json"
    path.write_text(text)
    assert _C.eval_read_results(bytes(path), 4096) is not None
    assert_same_dets(load_results_file(path), reference(text))
    ref = json.loads(text)
    assert [float(r["score"]) for r in ref] == load_results_file(path).score.tolist()
    # An underflow to zero is left to Python (0.0 there too).
    path.write_text(text.replace('"score": 0}', '"score": 1e-400}'))
    assert _C.eval_read_results(bytes(path)) is None
    assert 0.0 in load_results_file(path).score.tolist()


def test_a_record_longer_than_a_block_and_minimal_records(tmp_path):
    big = {"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5, "pad": "x" * 20000}
    minimal = '{"image_id":1,"category_id":1,"bbox":[1,1,1,1],"score":1}'
    for text in (
        json.dumps([big, big, {"image_id": 3, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 1}]),
        "[" + ",".join([minimal] * 20000) + "]",  # the shortest records: the capacity bound is tight
        "[" + ",".join([minimal] * 3) + "]   \n",
        "[]",
        " [ ] ",
    ):
        path = tmp_path / "res.json"
        path.write_text(text)
        for block in (4096, 1 << 20):
            assert _C.eval_read_results(bytes(path), block) is not None
        assert_same_dets(load_results_file(path), reference(text))


def test_strings_that_look_like_record_boundaries_fall_back_to_json(tmp_path):
    rng = np.random.default_rng(4)
    recs = _records(rng, 2000)
    for r in recs[::50]:
        r["note"] = '}, {"image_id": 1}, {' * 3
    text = json.dumps(recs)
    path = tmp_path / "res.json"
    path.write_text(text)
    # Whether a block cuts inside one of these strings depends on the block size; every way the
    # numbers are json's.
    for block in (4096, 4099, 8191, 1 << 20):
        cols = _C.eval_read_results(bytes(path), block)
        if cols is not None:
            assert np.array_equal(cols["bbox"], reference(text).box)
    assert_same_dets(load_results_file(path), reference(text))


@pytest.mark.parametrize(
    "text",
    [
        '[{"image_id": 01, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]',
        '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, .5, 5], "score": 0.5}]',
        '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5},]',
        '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}] x',
        '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1.}]',
        '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": -}]',
        '{"image_id": 1}',
        "",
    ],
)
def test_text_that_is_not_json_is_refused_by_both_paths(tmp_path, text):
    path = tmp_path / "res.json"
    path.write_text(text)
    assert _C.eval_read_results(bytes(path)) is None
    with pytest.raises((ValueError, TypeError)):
        load_results_file(path)


def test_escaped_keys_are_left_to_the_general_reader(tmp_path):
    # "image\u005fid" is image_id to json: the duplicate key, last, decides (image 2).
    path = tmp_path / "res.json"
    path.write_text('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5, "image\\u005fid": 2}]')
    assert _C.eval_read_results(bytes(path)) is None
    assert load_results_file(path).image_id.tolist() == [2]


def test_unreadable_paths_raise_the_os_error(tmp_path):
    assert _C.eval_read_results(bytes(tmp_path / "missing.json")) is None
    with pytest.raises(FileNotFoundError):
        load_results_file(tmp_path / "missing.json")
    with pytest.raises(IsADirectoryError):
        load_results_file(tmp_path)


# ---- id positions and the LVIS detection selection -------------------------------------------------


def numpy_positions(ids, table):
    """First index of each id in table, -1 when absent (a dict: the plain definition)."""
    first = {}
    for i, t in enumerate(table.tolist()):
        first.setdefault(t, i)
    return np.array([first.get(i, -1) for i in ids.tolist()], dtype=np.int64)


@pytest.mark.parametrize("spread", ["dense", "sparse", "extreme"])
def test_positions_are_first_occurrences(spread):
    rng = np.random.default_rng({"dense": 1, "sparse": 2, "extreme": 3}[spread])
    if spread == "dense":
        table = rng.integers(-5, 300, 200)
    elif spread == "sparse":
        table = rng.integers(-(10**12), 10**12, 200)
    else:
        table = np.array([-(2**63), 2**63 - 1, 0, -1, 2**63 - 1, 5], dtype=np.int64)
    ids = np.concatenate([rng.choice(table, 500), rng.integers(-(10**12), 10**12, 50), table[:3]])
    assert np.array_equal(_C.eval_positions(ids, table), numpy_positions(ids, table))
    pos, found = columns.positions(ids, table)
    ref = numpy_positions(ids, table)
    assert np.array_equal(found, ref >= 0) and np.array_equal(pos, np.maximum(ref, 0))
    assert _C.eval_positions(ids, np.zeros(0, np.int64)).tolist() == [-1] * len(ids)


def numpy_lvis_selection(d_img, d_cat, area, img_ids, cat_ids, present, absent, nel):
    """lvis-api's _prepare rules over whole columns with numpy (the engine's earlier code)."""
    ip, cp = numpy_positions(d_img, img_ids), numpy_positions(d_cat, cat_ids)
    keep = (ip >= 0) & (cp >= 0) & (area > 0) & (area < np.inf)
    stride = len(cat_ids) + 1

    def keys(pairs_img, pairs_cat, mapped):
        if mapped:
            return pairs_img * stride + pairs_cat
        i, c = numpy_positions(pairs_img, img_ids), numpy_positions(pairs_cat, cat_ids)
        ok = (i >= 0) & (c >= 0)
        return i[ok] * stride + c[ok]

    dkey = ip * stride + cp
    keep &= np.isin(dkey, keys(*present, True)) | np.isin(dkey, keys(*absent, False))
    rows = np.flatnonzero(keep)
    return rows, ip[rows], cp[rows], np.isin(dkey[rows], keys(*nel, False)).astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bitset", [True, False])
def test_lvis_selection_equals_the_numpy_rules(seed, bitset):
    rng = np.random.default_rng(seed)
    n_img, n_cat, n = 40, 30, 3000
    img_ids = rng.choice(10**6 if seed % 2 else 200, n_img, replace=False).astype(np.int64)
    cat_ids = rng.choice(10**9 if seed % 3 == 0 else 100, n_cat, replace=False).astype(np.int64)
    pool_img = np.concatenate([img_ids, [-7, 10**7]])
    pool_cat = np.concatenate([cat_ids, [-3, 10**10]])
    d_img, d_cat = rng.choice(pool_img, n), rng.choice(pool_cat, n)
    box = rng.uniform(0, 50, (n, 4))
    box[rng.random(n) < 0.05, 2] = 0.0  # zero area
    box[rng.random(n) < 0.02, 3] = np.inf
    box[rng.random(n) < 0.02, 2] = np.nan
    present = (rng.integers(0, n_img, 200), rng.integers(0, n_cat, 200))
    absent = (rng.choice(pool_img, 300), rng.choice(pool_cat, 300))
    nel = (rng.choice(pool_img, 300), rng.choice(pool_cat, 300))
    area = None if seed % 2 else rng.uniform(-1, 50, n)
    with np.errstate(invalid="ignore"):  # 0 * inf: NaN, refused by both
        eff_area = box[:, 2] * box[:, 3] if area is None else area
    got = _C.eval_select_lvis(d_img, d_cat, box, area, img_ids, cat_ids, *present, *absent, *nel, -1 if bitset else 0)
    ref = numpy_lvis_selection(d_img, d_cat, eff_area, img_ids, cat_ids, present, absent, nel)
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
