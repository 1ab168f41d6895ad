"""A re-statement of Visual-RFT's evaluation code (detection, classification, LISA grounding), the
reference of tests/test_eval_protocol.py (Visual-RFT's scripts cannot be installed: they load a
model).  Written from reading the upstream scripts; behaviour, not text, is reproduced.

The upstream repository ``Liuziyu77/Visual-RFT`` is read through stored copies of its files in
forks that keep the authors' history (the parsing lines are identical in every version seen):

- ``coco_evaluation/Qwen2_VL_coco_infere.py``: ``szu-niuma/Visual-RFT`` @
  ff2979f9660bb00cdada1bd6cd471fdce272a531 and @ 1b15d3e6fb736843b13cef0d4f651db0809ffdb3,
  ``wangzhifengharrison/visual_rft_zw`` @ de1a9f3c65b4cb4930e57221386ba9735d14f83c (and the main
  version, exist-map and the 15 open-vocabulary categories active);
- ``coco_evaluation/coco_evaluation.py`` ("lzy modified" evaluator) and
  ``coco_evaluation/evaluation.ipynb`` (the mean): ``wangzhifengharrison/visual_rft_zw`` @
  6127174918713a32ac82980c59b9513672ab9946;
- ``lvis_evaluation/Qwen2_VL_lvis_infere.py``: ``wangzhifengharrison/visual_rft_zw`` @
  de1a9f3c65b4cb4930e57221386ba9735d14f83c (same parsing as COCO);
- ``lvis_evaluation/lvis_evaluation.ipynb`` (branch ``sunzeyi_lisa``, PR #80): ``szu-niuma/Visual-RFT``
  @ a7d8894607ff3acadfc6c0665655d4134c95bc92, stored as binary: the rule
  ``precisions[:, :, idx, :]`` comes from shared/research/visual_rft.md and issue #100;
- ``classification/Qwen2_VL_classification_infere.py``: ``ZhaoyangLi-1/Visual-RFT`` @
  01bcb70caae5d0992f0ede3ee5a1ed25691af09c;
- ``lisa_evaluation/Qwen2_VL_lisa_infere.py``: ``szu-niuma/Visual-RFT`` @
  ec7458287f2b3a0793591063f04f9c8a3b3d3bd7 (= ``sunzeyi_lisa`` ec74582);
- ``lisa_evaluation/merge_eval.py``, ``mask_iou.py``, ``box2mask.py``:
  ``wangzhifengharrison/visual_rft_zw`` @ ca4e5019c30581d05e5d25b87fe9990e93a0f9c3.

Only what the evaluation computes is re-stated (no model, no GPU).  The COCO / LVIS numbers come
from pycocotools / lvis-api themselves, called the way the scripts call them.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

# --------------------------------------------------------------------------------------------
# Detection: answer text -> COCO result dicts  (Qwen2_VL_coco_infere.py / Qwen2_VL_lvis_infere.py)
# --------------------------------------------------------------------------------------------

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>")  # no DOTALL (newlines are removed first)


def prepare_response(response: str) -> str:
    """The four textual repairs, then the first <answer>...</answer> (or the whole text), re-wrapped.

    Order and effect as in the inference scripts: ``[[``->``[``, ``]]``->``]``, every ``\\n``
    removed, every ``", ..."`` removed (all four on the *whole* response, <think> included), then
    ``re.search`` for the first non-greedy answer block; its content (or, when there is none, the
    whole response) is stripped and wrapped again in <answer></answer>.

    Source: ``coco_evaluation/Qwen2_VL_coco_infere.py`` (``szu-niuma/Visual-RFT`` @
    ff2979f9660bb00cdada1bd6cd471fdce272a531), the lines after ``batch_decode``.
    """
    text = response.replace("[[", "[").replace("]]", "]").replace("\n", "").replace(", ...", "")
    m = _ANSWER_RE.search(text)
    inner = m.group(1).strip() if m else text.strip()
    return "<answer>" + inner + "</answer>"


def extract_box_list(wrapped: str) -> Any:
    """``extract_bbox``: content between the first <answer> and the first </answer>; if it does not
    end with ``]``, cut after the last ``},`` and close with ``}]``; ``'``->``"``; ``json.loads``.

    Returns the decoded JSON value or None on ``JSONDecodeError`` (or no <answer> tag).  Other
    exceptions (RecursionError on very deep nesting) propagate, as in the script, where the caller's
    ``except Exception`` turns them into "nothing kept".

    Source: ``coco_evaluation/Qwen2_VL_coco_infere.py`` (``szu-niuma/Visual-RFT`` @
    ff2979f9660bb00cdada1bd6cd471fdce272a531), ``extract_bbox``.
    """
    start_tag, end_tag = "<answer>", "</answer>"
    if start_tag not in wrapped:
        return None
    a = wrapped.find(start_tag) + len(start_tag)
    b = wrapped.find(end_tag)
    if b == -1:
        b = len(wrapped)
    content = wrapped[a:b]
    if not content.endswith("]"):
        content = content.rsplit("},", 1)[0] + "}]"
    try:
        return json.loads(content.replace("'", '"'))
    except json.JSONDecodeError:
        return None


def remove_duplicate_positions(items: list) -> list:
    """``remove_duplicates``: keep the first item of each ``tuple(item['Position'])``.

    Raises whatever ``item['Position']`` / ``tuple(...)`` / hashing raises (a non-dict item, a
    missing key, a non-iterable or unhashable position): the caller then keeps nothing.

    Source: ``coco_evaluation/Qwen2_VL_coco_infere.py`` (``szu-niuma/Visual-RFT`` @
    ff2979f9660bb00cdada1bd6cd471fdce272a531), ``remove_duplicates``.
    """
    seen, out = set(), []
    for item in items:
        key = tuple(item["Position"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def to_coco_xywh(height: float, width: float, position: Any) -> list:
    """``trans_bbox``: ``x / 1000.0 * W`` (in that order), then ``[x1, y1, x2 - x1, y2 - y1]``.

    No rounding, no clipping.  Raises ValueError (not 4 values) / TypeError (non-numbers).

    Source: ``coco_evaluation/Qwen2_VL_coco_infere.py`` (``szu-niuma/Visual-RFT`` @
    ff2979f9660bb00cdada1bd6cd471fdce272a531), ``trans_bbox``.
    """
    x1, y1, x2, y2 = position
    x1 /= 1000.0
    y1 /= 1000.0
    x2 /= 1000.0
    y2 /= 1000.0
    x1 = x1 * width
    y1 = y1 * height
    x2 = x2 * width
    y2 = y2 * height
    return [x1, y1, x2 - x1, y2 - y1]


@dataclass
class AnswerOutcome:
    """What Visual-RFT's loop did with one answer."""

    outcome: str  # 'kept_all', 'stopped' (exception mid-loop), 'lost' (nothing kept),
    #                         'not_json' (extract -> None), 'first_item_str', 'error_before_loop'
    n_items: int = 0  # items in the decoded list (before dedupe)
    n_unique: int = 0  # after remove_duplicates (0 when it raised)
    n_kept: int = 0  # result dicts emitted
    exception: Optional[str] = None
    counted_as_error: bool = False  # the script's error_count += 1
    dets: list = field(default_factory=list)


def answer_to_detections(response: str, image_id: int, category_id: int, width: float, height: float) -> AnswerOutcome:
    """One completion -> COCO result dicts, with the script's control flow.

    Mirrors::

        bbox_list = extract_bbox(response)
        if bbox_list is None or type(bbox_list[0]) == str: pass        # nothing, no error
        else:
            bbox_list = remove_duplicates(bbox_list)                   # raise -> nothing kept
            for bbox in bbox_list:                                     # raise -> earlier kept
                pred_results.append({... trans_bbox(...), 'score': bbox['Confidence']})
        (any exception inside: error_count += 1)

    ``score`` is the raw ``Confidence`` value (any JSON type; see :class:`VisualRFTCrash`).

    Source: ``coco_evaluation/Qwen2_VL_coco_infere.py`` (``szu-niuma/Visual-RFT`` @
    ff2979f9660bb00cdada1bd6cd471fdce272a531), the per-category loop body.
    """
    wrapped = prepare_response(response)
    try:
        decoded = extract_box_list(wrapped)
    except Exception as e:  # RecursionError on pathological nesting
        return AnswerOutcome("error_before_loop", exception=type(e).__name__, counted_as_error=True)
    if decoded is None:
        return AnswerOutcome("not_json")
    try:
        first = decoded[0]
    except Exception as e:  # [] -> IndexError; a dict / number -> KeyError / TypeError
        return AnswerOutcome("error_before_loop", exception=type(e).__name__, counted_as_error=True)
    if type(first) == str:  # noqa: E721 - the script's exact test
        return AnswerOutcome("first_item_str", n_items=len(decoded))
    n_items = len(decoded) if hasattr(decoded, "__len__") else 0
    try:
        unique = remove_duplicate_positions(decoded)
    except Exception as e:
        return AnswerOutcome("lost", n_items=n_items, exception=type(e).__name__, counted_as_error=True)
    out = AnswerOutcome("kept_all", n_items=n_items, n_unique=len(unique))
    for item in unique:
        try:
            box = to_coco_xywh(height, width, item["Position"])
            score = item["Confidence"]
        except Exception as e:  # the script's for-loop dies here; appended boxes stay
            out.outcome = "stopped" if out.dets else "lost"
            out.exception = type(e).__name__
            out.counted_as_error = True
            break
        out.dets.append({"image_id": image_id, "category_id": category_id, "bbox": box, "score": score})
    out.n_kept = len(out.dets)
    return out


class VisualRFTCrash(RuntimeError):
    """Visual-RFT's evaluation would stop with an exception on these results (a non-numeric
    ``score``: ``-d['score']`` in COCOeval.evaluateImg, ``sorted(key=score)`` in LVISResults)."""


def check_scores(dets: Sequence[dict]) -> None:
    bad = [d["score"] for d in dets if isinstance(d["score"], (str, list, dict)) or d["score"] is None]
    if bad:
        raise VisualRFTCrash(f"{len(bad)} detections have a non-numeric score, e.g. {bad[0]!r}")


def json_roundtrip(dets: list) -> list:
    """The script writes ``json.dump(pred_results)``; the evaluator reads it back (and
    coco_evaluation.py writes and re-reads it once more).  Python's float repr round-trips, so
    values are unchanged; NaN/Infinity survive (``allow_nan``).

    Source: pycocotools 2.0.11 ``COCOeval.evaluateImg`` (``-d['score']``), lvis-api 0.5.3
    ``LVISResults``.

    Source: ``coco_evaluation/Qwen2_VL_coco_infere.py`` (``szu-niuma/Visual-RFT`` @
    ff2979f9660bb00cdada1bd6cd471fdce272a531), ``main`` (``json.dump(global_results)``).
    """
    return json.loads(json.dumps(dets))


# --------------------------------------------------------------------------------------------
# COCO: coco_evaluation.py (CocoDetectionEvaluator.evaluate) + evaluation.ipynb (mean)
# --------------------------------------------------------------------------------------------


def coco_per_class(gt: Any, dets: list) -> tuple[dict, dict, Any]:
    """Per-class AP and AP50 in percent, as ``CocoDetectionEvaluator.evaluate`` computes them.

    COCOeval(gt, loadRes(dets), 'bbox') with default params (all GT images, all categories,
    maxDets (1, 10, 100)); per class ``k`` (sorted category ids):
    ``p = precision[:, :, k, 0, -1]`` (IoU .50:.95, area all, maxDets 100), ``p[p > -1]``,
    ``np.mean`` or NaN when empty, times 100; AP50 from ``precision[0, :, k, 0, -1]``.
    Returns ``({name: AP}, {name: AP50}, COCOeval)``.  Empty results: the script returns a dict
    of zeros (and the notebook's tuple unpacking then fails); here: ValueError.

    Source: ``coco_evaluation/coco_evaluation.py`` (``wangzhifengharrison/visual_rft_zw`` @
    6127174918713a32ac82980c59b9513672ab9946), ``CocoDetectionEvaluator.evaluate``.
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not dets:
        raise ValueError("Visual-RFT's evaluator returns early on empty results (no per-class AP)")
    check_scores(dets)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        cat_ids = sorted(coco.getCatIds())
        names = [c["name"] for c in coco.loadCats(cat_ids)]
        res = coco.loadRes(json_roundtrip(dets))
        ev = COCOeval(copy.deepcopy(coco), copy.deepcopy(res), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]
    ap, ap50 = {}, {}
    for k, name in enumerate(names):
        p50 = prec[0, :, k, 0, -1]
        p50 = p50[p50 > -1]
        ap50[name] = float(np.mean(p50) * 100) if p50.size else float("nan")
        p = prec[:, :, k, 0, -1]
        p = p[p > -1]
        ap[name] = float(np.mean(p) * 100) if p.size else float("nan")
    return ap, ap50, ev


def notebook_mean(per_class: dict, selected: Sequence[str]) -> float:
    """evaluation.ipynb: sum the per-class AP of every class whose name is in ``selected``
    (iterating over the evaluator's classes), divide by ``len(selected)``.

    Consequences: a selected name that is not a GT class adds 0 but still counts in the divisor;
    a selected class without GT has AP NaN, so the mean is NaN; a class that was never queried
    but has GT has AP 0 and counts.

    Source: ``coco_evaluation/evaluation.ipynb`` (``wangzhifengharrison/visual_rft_zw`` @
    6127174918713a32ac82980c59b9513672ab9946).
    """
    total = 0.0
    for name, value in per_class.items():
        if name in selected:
            total += value
    return total / len(selected)


# --------------------------------------------------------------------------------------------
# LVIS: lvis_evaluation.ipynb (branch sunzeyi_lisa / PR #80), per our research notes
# --------------------------------------------------------------------------------------------


def lvis_per_class(gt: Any, dets: list, *, max_dets: int = 300, pool_areas: bool = True) -> tuple[dict, Any]:
    """Per-class AP in percent from lvis-api: LVISResults(gt, dets, max_dets) (top ``max_dets``
    results per image over all categories), LVISEval(..., 'bbox').run(); per class ``k`` the
    notebook takes ``precision[:, :, k, :]`` (every IoU, recall and the **four area ranges**), keeps
    values > -1 and averages them (NaN when none).  ``pool_areas=False`` gives area 'all' only
    (``precision[:, :, k, 0]``), the rule of our pipeline and of lvis-api's own AP.

    Only categories that appear in ``gt['categories']`` are reported, by name.

    Source: ``lvis_evaluation/lvis_evaluation.ipynb`` (``szu-niuma/Visual-RFT`` @
    a7d8894607ff3acadfc6c0665655d4134c95bc92, rule from shared/research/visual_rft.md: the
    stored copy is binary).
    """
    import contextlib
    import io
    import logging

    from lvis import LVIS, LVISEval, LVISResults

    if not dets:
        raise ValueError("no detections")
    check_scores(dets)
    logging.getLogger("lvis").setLevel(logging.ERROR)
    logging.getLogger("lvis.results").setLevel(logging.ERROR)
    # lvis-api 0.5.3 calls np.float (removed in numpy 1.24): alias it for the call only.
    had, old = hasattr(np, "float"), getattr(np, "float", None)
    np.float = float
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            lv = LVIS.__new__(LVIS)
            lv.logger = logging.getLogger("lvis")
            lv.dataset = copy.deepcopy(gt)
            lv._create_index()
            res = LVISResults(lv, json_roundtrip(dets), max_dets=max_dets)
            ev = LVISEval(lv, res, "bbox")
            ev.run()
    finally:
        if had:
            np.float = old
        else:
            del np.float
    prec = ev.eval["precision"]  # (T, R, K, A)
    cat_ids = ev.params.cat_ids
    name_of = {c["id"]: c["name"] for c in gt["categories"]}
    out = {}
    for k, cid in enumerate(cat_ids):
        p = prec[:, :, k, :] if pool_areas else prec[:, :, k, 0]
        p = p[p > -1]
        out[name_of[cid]] = float(np.mean(p) * 100) if p.size else float("nan")
    return out, ev


def lvis_mean(per_class: dict, selected: Sequence[str]) -> float:
    """Mean of the per-class AP over ``selected`` (issue #100's ``ap_sum / ap_count``; the exact
    divisor of the notebook could not be re-read, see the report).  NaN classes propagate.

    Source: Visual-RFT issue #100 (``ap_sum / ap_count``); the notebook's divisor could not be
    re-read.
    """
    vals = [per_class[n] for n in selected if n in per_class]
    return float(sum(vals) / len(vals)) if vals else float("nan")


# --------------------------------------------------------------------------------------------
# Classification: classification/Qwen2_VL_classification_infere.py
# --------------------------------------------------------------------------------------------


def classification_correct(response: str, label: str) -> Optional[bool]:
    """True / False, or None when the script's ``re.search(...).group(1)`` raises (no match:
    counted in ``error_count``, and not right).  Rule: first ``<answer>(.*?)</answer>`` (no
    DOTALL, no fallback), spaces and ``_`` removed, ``.lower()``, right iff either string
    contains the other (an empty answer is right).  Accuracy = right / N over all images.

    Source: ``classification/Qwen2_VL_classification_infere.py`` (``ZhaoyangLi-1/Visual-RFT`` @
    01bcb70caae5d0992f0ede3ee5a1ed25691af09c).
    """
    m = re.search(r"<answer>(.*?)</answer>", response)
    if m is None:
        return None
    ans = m.group(1).replace(" ", "").replace("_", "").lower()
    cat = label.replace(" ", "").replace("_", "").lower()
    return cat in ans or ans in cat


# --------------------------------------------------------------------------------------------
# LISA grounding: lisa_evaluation/Qwen2_VL_lisa_infere.py, merge_eval.py, mask_iou.py
# --------------------------------------------------------------------------------------------

_LISA_PAIR = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def lisa_box_iou(decoded_text: str, gt_box_pixels: Sequence[float], width: float, height: float) -> float:
    """Per-sample IoU of Qwen2_VL_lisa_infere.py.

    ``decoded_text`` is ``batch_decode(generated_ids)`` of the *untrimmed* ids: the chat prompt
    (system prompt, instruction) followed by the output.  The first match anywhere of
    ``(d,d),(d,d)`` (integers only) is the prediction, divided by 1000; the GT box (first box,
    pixels) is divided by the image size; IoU = inter / (areaA + areaB - inter + 1e-6) with
    ``max(0, .)`` on the intersection sides only; no match (or any error) -> 0.
    merge_eval.py: mIoU = plain mean over all samples.

    Source: ``lisa_evaluation/Qwen2_VL_lisa_infere.py`` (``szu-niuma/Visual-RFT`` @
    ec7458287f2b3a0793591063f04f9c8a3b3d3bd7) and ``lisa_evaluation/merge_eval.py``
    (``wangzhifengharrison/visual_rft_zw`` @ ca4e5019c30581d05e5d25b87fe9990e93a0f9c3).
    """
    try:
        x1, y1, x2, y2 = map(int, _LISA_PAIR.findall(decoded_text)[0])
    except Exception:
        return 0.0
    a = [x1 / 1000, y1 / 1000, x2 / 1000, y2 / 1000]
    b = [gt_box_pixels[0] / width, gt_box_pixels[1] / height, gt_box_pixels[2] / width, gt_box_pixels[3] / height]
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / float(area_a + area_b - inter + 1e-6)


def lisa_mask_iou(
    pred_mask: np.ndarray, first_polygon: Sequence[Sequence[float]], height: int, width: int
) -> tuple[int, int, float]:
    """mask_iou.py per image: the GT is the **first** labelme shape's points only, rasterised
    with PIL ``ImageDraw.polygon(points, outline=1, fill=1)`` (not pycocotools); IoU = I / (U +
    1e-6).  gIoU = mean of per-image IoU, cIoU = sum I / (sum U + 1e-6).  (The predicted mask is
    SAM ViT-H prompted with the box, box2mask.py; an image whose predicted RLE has another size
    is skipped; a missing prediction uses an all-zero mask of the previous image's size.)

    Source: ``lisa_evaluation/mask_iou.py`` (``wangzhifengharrison/visual_rft_zw`` @
    ca4e5019c30581d05e5d25b87fe9990e93a0f9c3).
    """
    from PIL import Image, ImageDraw

    img = Image.new("L", (width, height), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in first_polygon], outline=1, fill=1)
    gt = np.array(img, dtype=np.uint8)
    inter = int(np.logical_and(pred_mask, gt).sum())
    union = int(np.logical_or(pred_mask, gt).sum())
    return inter, union, inter / (union + 1e-6)


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations",)]
