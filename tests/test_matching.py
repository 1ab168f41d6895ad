"""Assignment and box matching: vr.linear_sum_assignment, vr.batched_linear_sum_assignment,
vr.match_boxes.

References: scipy.optimize.linear_sum_assignment (totals, error types and texts), a brute-force
maximum-weight matching for tiny problems, and slow, obvious Python versions of COCO's and
Visual-RFT's greedy matching (Visual-RFT's ``sort_and_calculate_iou`` rules, written from
shared/research/visual_rft.md §2).

Totals are compared exactly where the costs are integers (all arithmetic is exact then), and to
1e-12 relative otherwise: both solvers return optimal assignments, but where two assignments tie
to within rounding each solver may pick a different one, and then the float sums of the two sets
of entries may differ in the last bits.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment as scipy_lsa

import vrft_rewards as vr

torch = pytest.importorskip("torch")


# ---- helpers ------------------------------------------------------------------------------------


def _scipy_outcome(cost, maximize):
    try:
        return scipy_lsa(cost, maximize=maximize), None
    except ValueError as exc:
        return None, str(exc)


def _check_against_scipy(cost: np.ndarray, maximize: bool, exact: bool) -> None:
    ref, err = _scipy_outcome(cost, maximize)
    if err is not None:
        with pytest.raises(ValueError) as info:
            vr.linear_sum_assignment(cost, maximize=maximize)
        assert str(info.value) == err
        return
    rows, cols = vr.linear_sum_assignment(cost, maximize=maximize)
    assert rows.dtype == np.int64 and cols.dtype == np.int64
    k = min(cost.shape)
    assert rows.shape == (k,) and cols.shape == (k,)
    assert np.all(np.diff(rows) > 0)  # sorted, distinct
    assert len(set(cols.tolist())) == k
    chosen = cost[rows, cols]
    forbidden = -np.inf if maximize else np.inf
    assert not np.any(chosen == forbidden)
    ours, theirs = chosen.sum(), cost[ref].sum()
    if exact:
        assert ours == theirs
    else:
        assert ours == pytest.approx(theirs, rel=1e-12, abs=0)


@st.composite
def cost_matrices(draw):
    shape_kind = draw(st.sampled_from(["small", "small", "empty", "wide", "tall", "square"]))
    if shape_kind == "small":
        n, m = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    elif shape_kind == "empty":
        n, m = draw(st.sampled_from([(0, 0), (0, 3), (4, 0), (0, 1)]))
    elif shape_kind == "wide":
        n, m = draw(st.integers(1, 3)), draw(st.integers(30, 200))
    elif shape_kind == "tall":
        n, m = draw(st.integers(30, 200)), draw(st.integers(1, 3))
    else:
        n = m = draw(st.integers(4, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = draw(st.sampled_from(["int_ties", "int_wide", "uniform", "huge", "tiny", "mixed_sign", "constant"]))
    if values == "int_ties":
        c = rng.integers(0, 3, (n, m)).astype(np.float64)
    elif values == "int_wide":
        c = rng.integers(-1000, 1000, (n, m)).astype(np.float64)
    elif values == "uniform":
        c = rng.random((n, m))
    elif values == "huge":
        c = rng.random((n, m)) * 1e150
    elif values == "tiny":
        c = rng.random((n, m)) * 1e-300
    elif values == "mixed_sign":
        c = rng.normal(0, 1e3, (n, m))
    else:
        c = np.full((n, m), 7.0)
    if n * m and draw(st.booleans()):
        # duplicated rows/columns: many exact ties between assignments
        if n > 1:
            c[rng.integers(0, n)] = c[rng.integers(0, n)]
        if m > 1:
            c[:, rng.integers(0, m)] = c[:, rng.integers(0, m)]
    maximize = draw(st.booleans())
    forbid = draw(st.sampled_from([0.0, 0.0, 0.2, 0.5, 0.9]))
    if forbid and n * m:
        c[rng.random((n, m)) < forbid] = -np.inf if maximize else np.inf
    exact = values in ("int_ties", "int_wide", "constant")
    return c, maximize, exact


# ---- linear_sum_assignment vs scipy -------------------------------------------------------------


@settings(max_examples=1500)
@given(cost_matrices())
def test_lsa_total_equals_scipy_on_random_matrices(case):
    cost, maximize, exact = case
    _check_against_scipy(cost, maximize, exact)


@pytest.mark.slow
def test_lsa_total_equals_scipy_on_seeded_sweep():
    # Thousands of seeded cases, covering both algorithms (SAP: rectangular / tiny / with +inf,
    # JV: square >= 4 without +inf), integer ties and float values.
    rng = np.random.default_rng(12345)
    for _ in range(3000):
        n = int(rng.integers(0, 14))
        m = n if rng.random() < 0.5 else int(rng.integers(0, 14))
        if rng.random() < 0.5:
            cost, exact = rng.integers(0, 4, (n, m)).astype(np.float64), True
        else:
            cost, exact = rng.random((n, m)), False
        maximize = bool(rng.random() < 0.5)
        if rng.random() < 0.2 and n * m:
            cost[rng.random((n, m)) < 0.4] = -np.inf if maximize else np.inf
        _check_against_scipy(cost, maximize, exact)


@pytest.mark.parametrize("n", [16, 50, 100, 128])
@pytest.mark.parametrize("values", ["uniform", "int_ties", "int_wide"])
def test_lsa_large_square_jonker_volgenant_matches_scipy(n, values):
    rng = np.random.default_rng(n)
    for _ in range(3):
        if values == "uniform":
            cost, exact = rng.random((n, n)), False
        elif values == "int_ties":
            cost, exact = rng.integers(0, 3, (n, n)).astype(np.float64), True
        else:
            cost, exact = rng.integers(0, 10**6, (n, n)).astype(np.float64), True
        _check_against_scipy(cost, False, exact)
        _check_against_scipy(cost, True, exact)


@pytest.mark.parametrize("shape", [(8, 10), (9, 10), (15, 20), (75, 100), (100, 80), (37, 49)])
@pytest.mark.parametrize("values", ["uniform", "int_ties"])
def test_lsa_nearly_square_padded_path_matches_scipy(shape, values):
    # rows >= 3/4 of columns (after transposing) take JV on a zero-padded square matrix.
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    for _ in range(5):
        if values == "uniform":
            cost, exact = rng.random(shape), False
        else:
            cost, exact = rng.integers(0, 3, shape).astype(np.float64), True
        _check_against_scipy(cost, False, exact)
        _check_against_scipy(cost, True, exact)


def test_lsa_constant_matrix_gives_identity_like_scipy_on_the_sap_path():
    # scipy issue #11602: a constant matrix yields the identity assignment.  This holds for the
    # shortest-augmenting-path solver (rectangular and tiny square problems); Jonker-Volgenant
    # (square >= 4) returns another of the tied assignments, with the same total.
    for n, m in [(1, 1), (3, 3), (2, 5), (5, 2), (3, 40)]:
        rows, cols = vr.linear_sum_assignment(np.ones((n, m)))
        ref = scipy_lsa(np.ones((n, m)))
        np.testing.assert_array_equal(rows, ref[0])
        np.testing.assert_array_equal(cols, ref[1])


@pytest.mark.parametrize("scale", [1e299, 1e307, 1.7e308])
@pytest.mark.parametrize("shape", [(8, 8), (3, 5), (30, 30)])
def test_lsa_near_overflow_behaves_like_scipy(scale, shape):
    # Reduced costs overflow to inf here; the solver then behaves exactly like scipy's (same
    # error or same total), because such matrices always take the shortest-augmenting-path code.
    rng = np.random.default_rng(int(scale % 1000) + shape[0])
    for _ in range(10):
        cost = (rng.random(shape) * 2 - 1) * scale
        ref, err = _scipy_outcome(cost, False)
        if err is not None:
            with pytest.raises(ValueError, match=err):
                vr.linear_sum_assignment(cost)
            continue
        rows, cols = vr.linear_sum_assignment(cost)
        with np.errstate(over="ignore"):
            assert cost[rows, cols].sum() == cost[ref].sum()


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)])
def test_lsa_empty_matrix_returns_empty_int64_arrays(shape):
    rows, cols = vr.linear_sum_assignment(np.zeros(shape))
    assert rows.dtype == np.int64 and cols.dtype == np.int64
    assert rows.shape == (0,) and cols.shape == (0,)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.uint64, np.float16, np.float32, np.bool_])
def test_lsa_accepts_every_real_dtype_like_scipy(dtype):
    rng = np.random.default_rng(3)
    cost = (rng.random((6, 8)) * 100).astype(dtype)
    rows, cols = vr.linear_sum_assignment(cost)
    ref = scipy_lsa(cost)
    assert cost[rows, cols].astype(np.float64).sum() == cost[ref].astype(np.float64).sum()


def test_lsa_accepts_nested_lists_and_returns_numpy():
    rows, cols = vr.linear_sum_assignment([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    assert isinstance(rows, np.ndarray)
    assert cols.tolist() == [1, 0, 2]


def test_lsa_torch_input_returns_int64_tensors():
    cost = torch.tensor([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    rows, cols = vr.linear_sum_assignment(cost, maximize=True)
    assert isinstance(rows, torch.Tensor) and rows.dtype == torch.int64
    ref = scipy_lsa(cost.numpy(), maximize=True)
    assert cost[rows, cols].sum().item() == cost.numpy()[ref].sum()


def test_lsa_non_contiguous_input_is_read_correctly():
    rng = np.random.default_rng(4)
    base = rng.random((12, 20))
    view = base[::2, ::3]  # strided view
    _check_against_scipy(view, False, exact=False)
    _check_against_scipy(base.T, True, exact=False)


# ---- linear_sum_assignment: bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    "cost,maximize,message",
    [
        (np.array([[1.0, np.nan]]), False, "matrix contains invalid numeric entries"),
        (np.array([[1.0, -np.inf]]), False, "matrix contains invalid numeric entries"),
        (np.array([[1.0, np.inf]]), True, "matrix contains invalid numeric entries"),
        (np.array([[np.inf, np.inf]]), False, "cost matrix is infeasible"),
        (np.array([[-np.inf, -np.inf]]), True, "cost matrix is infeasible"),
        (np.array([[np.inf, 1.0], [np.inf, 2.0]]), False, "cost matrix is infeasible"),
        (np.array([[np.inf, 1.0], [np.inf, np.nan]]), False, "matrix contains invalid numeric entries"),
        (np.zeros(3), False, r"expected a matrix \(2-D array\), got a 1 array"),
        (np.zeros((2, 2, 2)), False, r"expected a matrix \(2-D array\), got a 3 array"),
    ],
)
def test_lsa_rejects_like_scipy(cost, maximize, message):
    # Same exception type and text as scipy, and scipy agrees.
    with pytest.raises(ValueError, match=message):
        scipy_lsa(cost, maximize=maximize)
    with pytest.raises(ValueError, match=message):
        vr.linear_sum_assignment(cost, maximize=maximize)


@pytest.mark.parametrize("shape", [(4, 4), (9, 9), (10, 10), (7, 9), (12, 9), (2, 3), (1, 5)])
@pytest.mark.parametrize("bad", [np.nan, -np.inf, np.inf])
@pytest.mark.parametrize("maximize", [False, True])
def test_lsa_non_finite_entries_anywhere_like_scipy(shape, bad, maximize):
    # Every position (first row, last row, odd tail column) on every solver path: JV checks the
    # values inside its first pass, the SAP path in a separate one; both must agree with scipy.
    rng = np.random.default_rng(99)
    base = rng.random(shape)
    for i, j in itertools.product(range(shape[0]), range(shape[1])):
        cost = base.copy()
        cost[i, j] = bad
        _check_against_scipy(cost, maximize, exact=False)
    cost = base.copy()
    cost[:, 0] = bad  # a whole column: infeasible when square and forbidden
    _check_against_scipy(cost, maximize, exact=False)


@pytest.mark.parametrize("cost", [np.array([[1 + 1j]]), np.array([["a", "b"]]), np.ones((2, 2), dtype=np.longdouble)])
def test_lsa_rejects_unsafe_dtypes_with_scipys_type_error(cost):
    with pytest.raises(TypeError) as theirs:
        scipy_lsa(cost)
    with pytest.raises(TypeError) as ours:
        vr.linear_sum_assignment(cost)
    assert str(ours.value) == str(theirs.value)


def test_lsa_rejects_ragged_lists():
    with pytest.raises(ValueError, match="inhomogeneous"):
        vr.linear_sum_assignment([[1, 2], [3]])


# ---- batched ------------------------------------------------------------------------------------


def _random_problems(rng, count, max_side=12):
    out = []
    for _ in range(count):
        n, m = int(rng.integers(0, max_side)), int(rng.integers(0, max_side))
        c = rng.integers(0, 4, (n, m)).astype(np.float64) if rng.random() < 0.5 else rng.random((n, m))
        out.append(c)
    return out


@pytest.mark.parametrize("maximize", [False, True])
def test_batched_list_equals_single_calls(maximize):
    rng = np.random.default_rng(5)
    costs = _random_problems(rng, 300) + [rng.random((100, 100)), rng.random((3, 150))]
    res = vr.batched_linear_sum_assignment(costs, maximize=maximize)
    assert len(res) == len(costs)
    assert res.offsets.dtype == np.int64 and res.offsets[0] == 0
    assert res.total_cost.shape == (len(costs),)
    for b, c in enumerate(costs):
        rows, cols = vr.linear_sum_assignment(c, maximize=maximize)
        got_rows, got_cols = res[b]
        np.testing.assert_array_equal(got_rows, rows)
        np.testing.assert_array_equal(got_cols, cols)
        assert res.total_cost[b] == pytest.approx(c[rows, cols].sum(), rel=1e-15, abs=0)
        ref = scipy_lsa(c, maximize=maximize)
        assert res.total_cost[b] == pytest.approx(c[ref].sum(), rel=1e-12, abs=0)
    assert [len(r) for r, _ in res] == [min(c.shape) for c in costs]
    assert res[-1][0].tolist() == res[len(costs) - 1][0].tolist()


def test_batched_padded_with_shapes_equals_list():
    rng = np.random.default_rng(6)
    b, n, m = 200, 9, 11
    padded = rng.random((b, n, m))
    padded[rng.random((b, n, m)) < 0.2] = np.inf
    padded[:, :, 0] = 1.0  # keep most problems feasible
    shapes = np.stack([rng.integers(0, n + 1, b), rng.integers(1, m + 1, b)], axis=1)
    feasible = []
    for i in range(b):
        try:
            scipy_lsa(padded[i, : shapes[i, 0], : shapes[i, 1]])
            feasible.append(i)
        except ValueError:
            pass
    padded, shapes = padded[feasible], shapes[feasible]
    res = vr.batched_linear_sum_assignment(padded, shapes=shapes)
    ref = vr.batched_linear_sum_assignment([padded[i, :r, :c] for i, (r, c) in enumerate(shapes)])
    for name in ("row_ind", "col_ind", "offsets", "total_cost"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name))
    full = vr.batched_linear_sum_assignment(padded[:, :, :])
    assert len(full) == len(padded) and np.all(np.diff(full.offsets) == min(n, m))


def test_batched_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(7)
    costs = rng.random((64, 30, 30))
    try:
        vr.set_num_threads(1)
        one = vr.batched_linear_sum_assignment(costs)
        vr.set_num_threads(3)
        three = vr.batched_linear_sum_assignment(costs)
    finally:
        vr.set_num_threads(0)
    np.testing.assert_array_equal(one.col_ind, three.col_ind)
    np.testing.assert_array_equal(one.total_cost, three.total_cost)


def test_batched_converts_non_float64_items_and_torch():
    costs = [np.array([[1, 2], [3, 0]], dtype=np.int32), [[5.0, 1.0, 0.0]], np.array([[2.0], [1.0]], dtype=np.float32)]
    res = vr.batched_linear_sum_assignment(costs)
    assert res.total_cost.tolist() == [1.0, 0.0, 1.0]
    assert res[2][0].tolist() == [1] and res[2][1].tolist() == [0]
    tres = vr.batched_linear_sum_assignment(torch.ones((2, 3, 3)))
    assert isinstance(tres.row_ind, torch.Tensor) and tres.row_ind.dtype == torch.int64


def test_batched_empty_batch_and_empty_problems():
    res = vr.batched_linear_sum_assignment([])
    assert len(res) == 0 and res.offsets.tolist() == [0] and res.row_ind.shape == (0,)
    res = vr.batched_linear_sum_assignment([np.zeros((0, 4)), np.zeros((3, 0)), np.ones((1, 1))])
    assert res.offsets.tolist() == [0, 0, 0, 1] and res.total_cost.tolist() == [0.0, 0.0, 1.0]
    res = vr.batched_linear_sum_assignment(np.zeros((0, 3, 3)))
    assert len(res) == 0


def test_batched_error_names_the_first_bad_problem():
    costs = [np.ones((2, 2))] * 17 + [np.full((2, 2), np.inf), np.array([[np.nan]])]
    with pytest.raises(ValueError, match=r"^costs\[17\]: cost matrix is infeasible$"):
        vr.batched_linear_sum_assignment(costs)
    with pytest.raises(ValueError, match=r"^costs\[1\]: matrix contains invalid numeric entries$"):
        vr.batched_linear_sum_assignment([np.ones((2, 2)), np.array([[1.0, -np.inf]])])
    padded = np.ones((3, 2, 2))
    padded[2, 1, :] = np.inf
    with pytest.raises(ValueError, match=r"^costs\[2\]: cost matrix is infeasible$"):
        vr.batched_linear_sum_assignment(padded)
    # only the block inside shapes counts
    vr.batched_linear_sum_assignment(padded, shapes=[[2, 2], [2, 2], [1, 2]])


def test_batched_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"costs\[1\]: expected a matrix \(2-D array\), got a 1 array"):
        vr.batched_linear_sum_assignment([np.ones((2, 2)), np.ones(3)])
    with pytest.raises(ValueError, match=r"costs must be a list of 2-D arrays or a 3-D array"):
        vr.batched_linear_sum_assignment(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"shapes must have shape \(2, 2\), got \(2, 3\)"):
        vr.batched_linear_sum_assignment(np.ones((2, 3, 3)), shapes=np.ones((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"shapes\[1\] must lie within \(0...3, 0...4\), got \(4, 1\)"):
        vr.batched_linear_sum_assignment(np.ones((2, 3, 4)), shapes=[[1, 1], [4, 1]])
    with pytest.raises(ValueError, match=r"shapes\[0\] must lie within"):
        vr.batched_linear_sum_assignment(np.ones((1, 3, 4)), shapes=[[-1, 1]])
    with pytest.raises(TypeError, match="shapes must hold integers"):
        vr.batched_linear_sum_assignment(np.ones((1, 3, 4)), shapes=[[1.5, 1]])
    with pytest.raises(ValueError, match="shapes is only used with a padded"):
        vr.batched_linear_sum_assignment([np.ones((2, 2))], shapes=[[2, 2]])
    with pytest.raises(TypeError, match="according to the rule 'safe'"):
        vr.batched_linear_sum_assignment([np.ones((2, 2), dtype=complex)])
    with pytest.raises(IndexError):
        vr.batched_linear_sum_assignment([np.ones((2, 2))])[1]


# ---- match_boxes: references --------------------------------------------------------------------


def _boxes(rng, n, int_coords=False, scale=100.0):
    if int_coords:
        xy = rng.integers(0, 60, (n, 2))
        wh = rng.integers(0, 40, (n, 2))
        return np.concatenate([xy, xy + wh], axis=1).astype(np.float64)
    xy = rng.uniform(0, scale, (n, 2))
    wh = rng.uniform(0, scale / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def _ragged_case(rng, n_problems, max_pred=8, max_gt=6, int_coords=False, dup=False):
    n_pred = rng.integers(0, max_pred + 1, n_problems)
    n_gt = rng.integers(0, max_gt + 1, n_problems)
    po = np.concatenate([[0], np.cumsum(n_pred)]).astype(np.int64)
    go = np.concatenate([[0], np.cumsum(n_gt)]).astype(np.int64)
    gt = _boxes(rng, int(go[-1]), int_coords)
    pred = _boxes(rng, int(po[-1]), int_coords)
    # Half the predictions are near some GT of their problem so that matches happen.
    for b in range(n_problems):
        if n_gt[b] == 0:
            continue
        for p in range(po[b], po[b + 1]):
            if rng.random() < 0.6:
                g = go[b] + rng.integers(0, n_gt[b])
                jitter = rng.integers(-3, 4, 4) if int_coords else rng.normal(0, 2, 4)
                box = gt[g] + (0 if dup and rng.random() < 0.3 else jitter)
                box[2:] = np.maximum(box[2:], box[:2])
                pred[p] = box
    scores = rng.integers(0, 4, int(po[-1])) / 4.0  # many equal scores
    return pred, po, gt, go, scores


def _max_weight_brute_force(w: np.ndarray) -> float:
    """Maximum total weight of a matching in a small bipartite graph (w > 0 edges only)."""
    n, m = w.shape
    best = 0.0
    for k in range(min(n, m) + 1):
        for rows in itertools.combinations(range(n), k):
            for cols in itertools.permutations(range(m), k):
                vals = [w[r, c] for r, c in zip(rows, cols)]
                if all(v > 0 for v in vals):
                    best = max(best, math.fsum(vals))
    return best


def _hungarian_reference(values: np.ndarray, threshold: float, strict: bool):
    """scipy on the masked matrix: weight = value where qualifying, else 0; drop zero pairs."""
    q = (values > threshold) if strict else (values >= threshold)
    w = np.where(q & (values > 0), values, 0.0)
    if w.size == 0:
        return 0.0, w
    r, c = scipy_lsa(w, maximize=True)
    chosen = w[r, c]
    return chosen[chosen > 0].sum(), w


def _greedy_reference(values: np.ndarray, scores, threshold: float, strict: bool):
    """COCO / Visual-RFT greedy matching, written plainly."""
    n, m = values.shape
    order = sorted(range(n), key=lambda p: -scores[p]) if scores is not None else list(range(n))
    matched_gt = [-1] * n
    taken = set()
    for p in order:
        best, best_v = -1, 0.0
        for g in range(m):
            if g in taken:
                continue
            v = values[p, g]
            ok = (v > threshold if strict else v >= threshold) and v > 0
            if ok and (best < 0 or v > best_v):
                best, best_v = g, v
        if best >= 0:
            taken.add(best)
            matched_gt[p] = best
    return matched_gt


def _visual_rft_calculate_iou(b1, b2):
    # Visual-RFT's calculate_iou (grpo.py): plain xyxy, 0.0 when the boxes do not overlap.
    x1, y1, x2, y2 = b1
    x1_2, y1_2, x2_2, y2_2 = b2
    xi1, yi1, xi2, yi2 = max(x1, x1_2), max(y1, y1_2), min(x2, x2_2), min(y2, y2_2)
    if xi2 <= xi1 or yi2 <= yi1:
        return 0.0
    inter = (xi2 - xi1) * (yi2 - yi1)
    union = (x2 - x1) * (y2 - y1) + (x2_2 - x1_2) * (y2_2 - y1_2) - inter
    return inter / union


def _visual_rft_sort_and_calculate_iou(gt_list, pred_list, iou_threshold=0.5):
    # Visual-RFT's sort_and_calculate_iou rules: confidence-descending stable sort; each
    # prediction scans unmatched GTs in order keeping the first strictly best IoU (> running
    # best, starting from 0); kept if best > threshold.  Returns [(iou or 0, confidence), ...].
    preds = sorted(pred_list, key=lambda x: x["Confidence"], reverse=True)
    results, matched = [], set()
    for p in preds:
        best_iou, best = 0, -1
        for i, g in enumerate(gt_list):
            if i not in matched:
                iou = _visual_rft_calculate_iou(g["Position"], p["Position"])
                if iou > best_iou:
                    best_iou, best = iou, i
        if best_iou > iou_threshold:
            results.append((best_iou, p["Confidence"], best))
            matched.add(best)
        else:
            results.append((0, p["Confidence"], -1))
    return results


def _check_result_consistency(res, pred, po, gt, go, values_of, threshold, strict):
    b = len(po) - 1
    assert len(res) == b
    np.testing.assert_array_equal(np.diff(res.offsets), res.n_matched)
    np.testing.assert_array_equal(res.n_unmatched_pred, np.diff(po) - res.n_matched)
    np.testing.assert_array_equal(res.n_unmatched_gt, np.diff(go) - res.n_matched)
    for i in range(b):
        p_idx, g_idx, vals = res.pairs(i)
        values = values_of(i)
        assert np.all(np.diff(p_idx) > 0)
        assert len(set(g_idx.tolist())) == len(g_idx)
        np.testing.assert_array_equal(vals, values[p_idx, g_idx])
        assert np.all(vals > 0) and (np.all(vals > threshold) if strict else np.all(vals >= threshold))
        lo, hi = res.offsets[i], res.offsets[i + 1]
        np.testing.assert_array_equal(res.pred_global[lo:hi], p_idx + po[i])
        np.testing.assert_array_equal(res.gt_global[lo:hi], g_idx + go[i])
        mg = np.full(po[i + 1] - po[i], -1)
        mg[p_idx] = g_idx
        np.testing.assert_array_equal(res.matched_gt[po[i] : po[i + 1]], mg)
        mp = np.full(go[i + 1] - go[i], -1)
        mp[g_idx] = p_idx
        np.testing.assert_array_equal(res.matched_pred[go[i] : go[i + 1]], mp)
        assert res.sum_matched_iou[i] == pytest.approx(math.fsum(vals.tolist()), rel=1e-14, abs=0)


# ---- match_boxes: hungarian ---------------------------------------------------------------------


def test_hungarian_masked_formulation_equals_brute_force_max_weight_matching():
    # Validates the reference formulation itself (and ours) on tiny problems.
    rng = np.random.default_rng(8)
    for _ in range(300):
        n, m = int(rng.integers(0, 5)), int(rng.integers(0, 5))
        if rng.random() < 0.5:
            values = rng.integers(0, 5, (n, m)) / 4.0  # ties, exact zeros, exactly 0.5
        else:
            values = rng.random((n, m))
        threshold = float(rng.choice([0.0, 0.25, 0.5]))
        strict = bool(rng.random() < 0.5)
        q = (values > threshold) if strict else (values >= threshold)
        w = np.where(q & (values > 0), values, 0.0)
        brute = _max_weight_brute_force(w)
        ref, _ = _hungarian_reference(values, threshold, strict)
        assert ref == pytest.approx(brute, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
@pytest.mark.parametrize("strict", [False, True])
def test_hungarian_maximises_total_value_like_scipy_on_masked_matrix(kind, strict):
    rng = np.random.default_rng(hash((kind, strict)) % 2**32)
    for int_coords in (False, True):
        pred, po, gt, go, _ = _ragged_case(rng, 150, int_coords=int_coords, dup=True)
        for threshold in (0.0, 0.3, 0.5):
            res = vr.match_boxes(
                pred, gt, pred_offsets=po, gt_offsets=go, kind=kind, iou_threshold=threshold, strict=strict
            )
            mats = [vr.box_iou(pred[po[i] : po[i + 1]], gt[go[i] : go[i + 1]], kind=kind) for i in range(len(po) - 1)]
            _check_result_consistency(res, pred, po, gt, go, mats.__getitem__, threshold, strict)
            for i, values in enumerate(mats):
                ref, _ = _hungarian_reference(values, threshold, strict)
                assert res.sum_matched_iou[i] == pytest.approx(ref, rel=1e-12, abs=0)


def test_hungarian_large_problems_use_the_same_contract():
    # 30 x 30 problems reach the Jonker-Volgenant path.
    rng = np.random.default_rng(9)
    gt = _boxes(rng, 30)
    pred = gt + rng.normal(0, 3, gt.shape)
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2])
    res = vr.match_boxes(pred, gt, iou_threshold=0.3)
    values = vr.box_iou(pred, gt)
    ref, _ = _hungarian_reference(values, 0.3, False)
    assert res.sum_matched_iou[0] == pytest.approx(ref, rel=1e-12)
    _check_result_consistency(res, pred, np.array([0, 30]), gt, np.array([0, 30]), lambda i: values, 0.3, False)


def test_hungarian_prefers_total_over_greedy_choice():
    # Greedy gives pred 0 its best GT (0) and leaves pred 1 nothing; Hungarian finds 0->1, 1->0.
    gt = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], dtype=float)
    pred = np.array([[1, 0, 11, 10], [-1, 0, 9, 10]], dtype=float)
    values = vr.box_iou(pred, gt)
    hung = vr.match_boxes(pred, gt, iou_threshold=0.7)
    greedy = vr.match_boxes(pred, gt, iou_threshold=0.7, method="greedy")
    assert hung.n_matched.tolist() == [2]
    assert hung.matched_gt.tolist() == [1, 0]
    assert greedy.matched_gt.tolist() == [0, -1]
    assert hung.sum_matched_iou[0] == values[0, 1] + values[1, 0]


@st.composite
def box_problems(draw):
    n, m = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    coord = st.integers(0, 12).map(float)  # a tiny grid: many exact ties and duplicates

    def boxes(k):
        out = []
        for _ in range(k):
            x1, y1 = draw(coord), draw(coord)
            out.append([x1, y1, x1 + draw(coord), y1 + draw(coord)])
        return np.array(out, dtype=np.float64).reshape(k, 4)

    pred, gt = boxes(n), boxes(m)
    scores = [draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])) for _ in range(n)]
    threshold = draw(st.sampled_from([0.0, 0.1, 0.5, 0.75, 1.0]))
    return pred, gt, scores, threshold, draw(st.booleans())


@settings(max_examples=400)
@given(box_problems())
def test_match_boxes_on_random_tiny_grids_equals_references(case):
    pred, gt, scores, threshold, strict = case
    values = vr.box_iou(pred, gt)
    hung = vr.match_boxes(pred, gt, iou_threshold=threshold, strict=strict)
    q = (values > threshold) if strict else (values >= threshold)
    w = np.where(q & (values > 0), values, 0.0)
    assert hung.sum_matched_iou[0] == pytest.approx(_max_weight_brute_force(w), rel=1e-12, abs=0)
    greedy = vr.match_boxes(pred, gt, scores=scores, method="greedy", iou_threshold=threshold, strict=strict)
    assert greedy.matched_gt.tolist() == _greedy_reference(values, scores, threshold, strict)
    one = np.array([0, len(pred)])
    for res in (hung, greedy):
        _check_result_consistency(res, pred, one, gt, np.array([0, len(gt)]), lambda i: values, threshold, strict)


# ---- match_boxes: greedy ------------------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("with_scores", [False, True])
def test_greedy_equals_plain_python_reference(strict, with_scores):
    rng = np.random.default_rng(10 + strict + 2 * with_scores)
    for int_coords in (False, True):
        pred, po, gt, go, scores = _ragged_case(rng, 200, int_coords=int_coords, dup=True)
        for threshold in (0.0, 0.5, 0.75):
            res = vr.match_boxes(
                pred,
                gt,
                pred_offsets=po,
                gt_offsets=go,
                method="greedy",
                scores=scores if with_scores else None,
                iou_threshold=threshold,
                strict=strict,
            )
            mats = [vr.box_iou(pred[po[i] : po[i + 1]], gt[go[i] : go[i + 1]]) for i in range(len(po) - 1)]
            _check_result_consistency(res, pred, po, gt, go, mats.__getitem__, threshold, strict)
            for i, values in enumerate(mats):
                s = scores[po[i] : po[i + 1]] if with_scores else None
                ref = _greedy_reference(values, s, threshold, strict)
                assert res.matched_gt[po[i] : po[i + 1]].tolist() == ref


def test_greedy_strict_reproduces_visual_rft_sort_and_calculate_iou():
    # Integer 0..1000 coordinates and two-decimal confidences, as in Visual-RFT's answers.
    rng = np.random.default_rng(11)
    for _ in range(400):
        n_gt, n_pred = int(rng.integers(0, 6)), int(rng.integers(0, 8))
        gt = [[int(v) for v in _boxes(rng, 1, int_coords=True)[0]] for _ in range(n_gt)]
        preds = []
        for _ in range(n_pred):
            if gt and rng.random() < 0.7:
                box = [c + int(rng.integers(-4, 5)) for c in gt[rng.integers(0, n_gt)]]
                box[2], box[3] = max(box[2], box[0]), max(box[3], box[1])
            else:
                box = [int(v) for v in _boxes(rng, 1, int_coords=True)[0]]
            preds.append({"Position": box, "Confidence": round(float(rng.integers(0, 5)) / 4, 2)})
        ref = _visual_rft_sort_and_calculate_iou([{"Position": g} for g in gt], preds, 0.5)
        res = vr.match_boxes(
            np.array([p["Position"] for p in preds], dtype=float).reshape(-1, 4),
            np.array(gt, dtype=float).reshape(-1, 4),
            scores=[p["Confidence"] for p in preds],
            method="greedy",
            iou_threshold=0.5,
            strict=True,
        )
        order = sorted(range(n_pred), key=lambda k: preds[k]["Confidence"], reverse=True)
        values = vr.box_iou(
            np.array([p["Position"] for p in preds], dtype=float).reshape(-1, 4),
            np.array(gt, dtype=float).reshape(-1, 4),
        )
        for (ref_iou, conf, ref_gt), k in zip(ref, order):
            assert preds[k]["Confidence"] == conf
            assert res.matched_gt[k] == ref_gt
            ours = values[k, ref_gt] if ref_gt >= 0 else 0
            assert ours == ref_iou  # same formula, same operations: bit-identical


def test_greedy_threshold_boundary_strict_vs_inclusive():
    # IoU exactly 0.5: [0,0,10,10] vs [0,0,10,5] -> 50 / 100.
    gt = np.array([[0, 0, 10, 10]], dtype=float)
    pred = np.array([[0, 0, 10, 5]], dtype=float)
    for method in ("greedy", "hungarian"):
        assert vr.match_boxes(pred, gt, method=method).matched_gt.tolist() == [0]
        assert vr.match_boxes(pred, gt, method=method, strict=True).matched_gt.tolist() == [-1]


def test_greedy_ties_take_lowest_gt_and_stable_score_order():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)  # duplicate GTs
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    res = vr.match_boxes(pred, gt, method="greedy", scores=[0.5, 0.9, 0.5])
    # order: pred 1 (0.9), then pred 0 and 2 (equal scores, input order)
    assert res.matched_gt.tolist() == [1, 0, -1]
    assert res.matched_pred.tolist() == [1, 0]


def test_zero_overlap_pairs_never_match_even_at_threshold_zero():
    gt = np.array([[0, 0, 1, 1]], dtype=float)
    pred = np.array([[5, 5, 6, 6]], dtype=float)
    for method in ("greedy", "hungarian"):
        res = vr.match_boxes(pred, gt, method=method, iou_threshold=0.0)
        assert res.n_matched.tolist() == [0]


# ---- match_boxes: shapes, dtypes, empties --------------------------------------------------------


def test_empty_problems_and_empty_batch():
    gt = np.array([[0, 0, 10, 10]], dtype=float)
    pred = np.array([[0, 0, 10, 10]], dtype=float)
    res = vr.match_boxes(pred, gt, pred_offsets=[0, 0, 1, 1], gt_offsets=[0, 1, 1, 1])
    assert res.n_matched.tolist() == [0, 0, 0]
    assert res.n_unmatched_pred.tolist() == [0, 1, 0]
    assert res.n_unmatched_gt.tolist() == [1, 0, 0]
    assert res.sum_matched_iou.tolist() == [0.0, 0.0, 0.0]
    assert res.matched_gt.tolist() == [-1] and res.matched_pred.tolist() == [-1]
    for method in ("greedy", "hungarian"):
        res = vr.match_boxes(np.zeros((0, 4)), np.zeros((0, 4)), method=method)
        assert len(res) == 1 and res.offsets.tolist() == [0, 0]
        res = vr.match_boxes(np.zeros((0, 4)), np.zeros((0, 4)), pred_offsets=[0], gt_offsets=[0], method=method)
        assert len(res) == 0 and res.n_matched.shape == (0,)
    res = vr.match_boxes([], [[0, 0, 1, 1]])
    assert res.n_unmatched_gt.tolist() == [1]


def test_float32_boxes_keep_float32_values():
    rng = np.random.default_rng(12)
    pred, po, gt, go, _ = _ragged_case(rng, 50)
    res32 = vr.match_boxes(pred.astype(np.float32), gt.astype(np.float32), pred_offsets=po, gt_offsets=go)
    assert res32.iou.dtype == np.float32
    mats = [
        vr.box_iou(pred[po[i] : po[i + 1]].astype(np.float32), gt[go[i] : go[i + 1]].astype(np.float32))
        for i in range(len(po) - 1)
    ]
    _check_result_consistency(res32, pred, po, gt, go, mats.__getitem__, 0.5, False)


def test_torch_inputs_give_torch_outputs():
    pred = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 9.0, 10.0]])
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    res = vr.match_boxes(pred, gt, scores=torch.tensor([0.1, 0.9]), method="greedy")
    assert isinstance(res.matched_gt, torch.Tensor)
    assert res.matched_gt.tolist() == [-1, 0]
    assert res.iou.dtype == torch.float32


def test_xywh_and_cxcywh_formats_give_the_same_matches():
    rng = np.random.default_rng(13)
    pred, po, gt, go, scores = _ragged_case(rng, 60)
    ref = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go)
    to_xywh = lambda b: np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)  # noqa: E731
    res = vr.match_boxes(to_xywh(pred), to_xywh(gt), pred_offsets=po, gt_offsets=go, fmt="xywh")
    assert res.n_matched.sum() > 0
    np.testing.assert_allclose(res.sum_matched_iou, ref.sum_matched_iou, rtol=1e-12)


def test_match_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(14)
    pred, po, gt, go, scores = _ragged_case(rng, 500)
    try:
        vr.set_num_threads(1)
        one = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, scores=scores, method="greedy")
        vr.set_num_threads(4)
        four = vr.match_boxes(pred, gt, pred_offsets=po, gt_offsets=go, scores=scores, method="greedy")
    finally:
        vr.set_num_threads(0)
    np.testing.assert_array_equal(one.matched_gt, four.matched_gt)
    np.testing.assert_array_equal(one.sum_matched_iou, four.sum_matched_iou)


# ---- match_boxes: bad input ----------------------------------------------------------------------

_P = np.array([[0, 0, 10, 10], [1, 1, 5, 5]], dtype=float)
_G = np.array([[0, 0, 10, 10]], dtype=float)


@pytest.mark.parametrize(
    "kwargs,exc,message",
    [
        (dict(method="auction"), ValueError, r"method must be one of 'hungarian', 'greedy', got 'auction'"),
        (dict(kind="dice"), ValueError, r"kind must be one of 'iou', 'giou', 'diou', 'ciou', got 'dice'"),
        (dict(fmt="yxyx"), ValueError, r"fmt must be one of 'xyxy', 'xywh', 'cxcywh', got 'yxyx'"),
        (dict(iou_threshold=1.5), ValueError, r"iou_threshold must be in \[0, 1\], got 1.5"),
        (dict(iou_threshold=-0.1), ValueError, r"iou_threshold must be in \[0, 1\], got -0.1"),
        (dict(iou_threshold=float("nan")), ValueError, r"iou_threshold must be in \[0, 1\], got nan"),
        (dict(iou_threshold="0.5"), TypeError, r"iou_threshold must be a real number, got str"),
        (dict(pred_offsets=[0, 2]), ValueError, r"pred_offsets and gt_offsets must be given together"),
        (
            dict(pred_offsets=[0, 1, 2], gt_offsets=[0, 1]),
            ValueError,
            r"pred_offsets and gt_offsets must describe the same number of problems, got 2 and 1",
        ),
        (dict(pred_offsets=[1, 2], gt_offsets=[0, 1]), ValueError, r"pred_offsets\[0\] must be 0, got 1"),
        (
            dict(pred_offsets=[0, 2, 1, 2], gt_offsets=[0, 1, 1, 1]),
            ValueError,
            r"pred_offsets must be non-decreasing, but pred_offsets\[2\] = 1 < pred_offsets\[1\] = 2",
        ),
        (
            dict(pred_offsets=[0, 3], gt_offsets=[0, 1]),
            ValueError,
            r"pred_offsets\[-1\] must equal len\(pred\) = 2, got 3",
        ),
        (dict(pred_offsets=[0, 2], gt_offsets=[0, 5]), ValueError, r"gt_offsets\[-1\] must equal len\(gt\) = 1, got 5"),
        (dict(pred_offsets=[], gt_offsets=[]), ValueError, r"pred_offsets must have shape \(B \+ 1,\), got \(0,\)"),
        (dict(pred_offsets=[[0, 2]], gt_offsets=[0, 1]), ValueError, r"pred_offsets must have shape \(B \+ 1,\)"),
        (dict(pred_offsets=[0.0, 2.0], gt_offsets=[0, 1]), TypeError, r"pred_offsets must hold integers"),
        (dict(scores=[0.5]), ValueError, r"scores must have shape \(2,\) like pred, got \(1,\)"),
        (dict(scores=[0.5, float("nan")]), ValueError, r"scores\[1\] is NaN"),
        (dict(scores=["a", "b"]), TypeError, r"scores must hold real numbers"),
    ],
)
def test_match_boxes_rejects_bad_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        vr.match_boxes(_P, _G, **kwargs)


@pytest.mark.parametrize(
    "pred,gt,message",
    [
        (np.array([[0, 0, 10, 10], [5, 5, 1, 8]], dtype=float), _G, r"^pred\[1\] is invalid"),
        (_P, np.array([[0, 0, np.nan, 10]]), r"^gt\[0\] is invalid"),
        (_P, np.array([[0, 0, np.inf, 10]]), r"^gt\[0\] is invalid"),
        (np.zeros((2, 3)), _G, r"pred must have shape \(N, 4\), got \(2, 3\)"),
        (_P, np.zeros((4,)), r"gt must have shape \(N, 4\), got \(4,\)"),
    ],
)
def test_match_boxes_rejects_bad_boxes(pred, gt, message):
    with pytest.raises(ValueError, match=message):
        vr.match_boxes(pred, gt)


def test_match_boxes_rejects_non_numeric_boxes():
    with pytest.raises(TypeError, match="pred must"):
        vr.match_boxes([["a", "b", "c", "d"]], _G)
