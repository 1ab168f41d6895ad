"""Detection records as a table: each record's fields checked once and turned into columns.

The first stage of the detection pipeline (records -> record table -> detection batch ->
evaluation -> report): a per-prompt record ``{"image_id", "category_id" | "category",
"completion"}`` or a labelled-box record ``{"image_id", "completion"}`` becomes a row of
:class:`RecordTable`; a bad record goes to the :class:`~vrft_rewards.eval.SkipLog`, located as
``file:line``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..cocoeval.ground_truth import GroundTruth, as_ground_truth
from .categories import CategoryMapper
from .records import RecordError, SkipLog, completion_problem, load_json_file

__all__ = ["Locations", "RecordTable", "load_ground_truth", "prepare_records"]


@dataclass
class RecordTable:
    """Validated detection records as columns (R records)."""

    completions: list  # R completions (str or chat messages)
    where: Any  # R locations "file:line" (Locations, built on access)
    image_id: np.ndarray  # (R,) int64
    category_id: np.ndarray  # (R,) int64, -1: categories come from the boxes' labels
    sizes: np.ndarray  # (R, 2) float64 (width, height); NaN when the GT lacks them
    queried: Optional[set]  # category ids the records queried, None when some record does not say


def _image_sizes(gt: GroundTruth) -> dict:
    """``{image id: (width, height)}`` from the GT images (NaN where a size is absent)."""
    sizes = {}
    for im in gt.dataset["images"]:
        w, h = im.get("width"), im.get("height")
        sizes[int(im["id"])] = (float("nan") if w is None else float(w), float("nan") if h is None else float(h))
    return sizes


class Locations:
    """``"file:line"`` of each kept record, built only when one is read (reports show a few)."""

    def __init__(self, source: str, lines: np.ndarray) -> None:
        self.source, self.lines = source, lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, i: int) -> str:
        return f"{self.source}:{int(self.lines[i])}"


def prepare_records(
    records: Sequence[Any],
    gt: GroundTruth,
    mapper: CategoryMapper,
    skips: SkipLog,
    *,
    source: str = "records",
    lines: Optional[Sequence[int]] = None,
) -> RecordTable:
    """Check each record's fields and turn them into columns; bad records go to ``skips``.

    A record needs ``image_id`` (an image of ``gt``) and ``completion`` (a str or chat messages);
    ``category_id`` (an id of ``gt``) or ``category`` (a name, mapped like box labels) is
    optional: without it the boxes' own labels give the categories.  An optional ``categories``
    list names the categories a labelled-box prompt asked for.
    """
    sizes_of = _image_sizes(gt)
    known_cats = set(gt.cat_ids.tolist())
    name_cache: dict = {}

    def cat_of(name: Any) -> int:
        key = str(name)
        cid = name_cache.get(key)
        if cid is None:
            cid = name_cache[key] = mapper.lookup(key)[0]
        return cid

    comps, kept, img, cat = [], [], [], []
    queried: set = set()
    any_unknown_query = False
    for i, rec in enumerate(records):  # one pass over the JSON records (their fields are Python objects)
        if not isinstance(rec, dict):
            skips.skip(source, lines[i] if lines is not None else i, "record is not a JSON object", type(rec).__name__)
            continue
        image_id = rec.get("image_id")
        c = rec.get("completion")
        if image_id is None or c is None or type(image_id) is not int or image_id not in sizes_of or type(c) is not str:
            reason = _record_problem(rec, sizes_of)
            if reason is not None:
                skips.skip(source, lines[i] if lines is not None else i, *reason)
                continue
            image_id = int(image_id)
        cid = -1
        v = rec.get("category_id")
        if v is not None:
            if type(v) is not int or v not in known_cats:
                skips.skip(
                    source, lines[i] if lines is not None else i, "category_id not in the ground truth", repr(v)[:40]
                )
                continue
            cid = v
        else:
            name = rec.get("category")
            if name is not None:
                cid = cat_of(name)
                if cid < 0:
                    skips.skip(
                        source,
                        lines[i] if lines is not None else i,
                        "category not in the ground truth",
                        repr(name)[:60],
                    )
                    continue
        if cid >= 0:
            queried.add(cid)
        elif isinstance(rec.get("categories"), list):
            for n in rec["categories"]:
                q = n if type(n) is int else cat_of(n)
                if q in known_cats:
                    queried.add(q)
        else:
            any_unknown_query = True
        comps.append(c)
        kept.append(i)
        img.append(image_id)
        cat.append(cid)
    kept_a = np.asarray(kept, dtype=np.int64)
    line_nos = kept_a if lines is None else np.asarray(lines, dtype=np.int64)[kept_a] if len(kept_a) else kept_a
    img_a = np.asarray(img, dtype=np.int64)
    sizes = np.array([sizes_of[i] for i in img], dtype=np.float64).reshape(-1, 2)
    return RecordTable(
        comps,
        Locations(source, line_nos),
        img_a,
        np.asarray(cat, dtype=np.int64),
        sizes,
        None if any_unknown_query else queried,
    )


def _record_problem(rec: dict, sizes_of: dict) -> Optional[tuple]:
    """Why a record with an unusual image_id / completion cannot be used (None: it can)."""
    if "image_id" not in rec:
        return ("record has no 'image_id'",)
    if "completion" not in rec:
        return ("record has no 'completion'",)
    c = rec["completion"]
    if not isinstance(c, (str, list)):
        return ("'completion' must be a string or a list of chat messages", f"got {type(c).__name__}")
    chat_problem = completion_problem(rec)  # what the parser reads from a chat-message list
    if chat_problem is not None:
        return (chat_problem,)
    image_id = rec["image_id"]
    if isinstance(image_id, bool) or not isinstance(image_id, (int, float, str)):
        return ("'image_id' must be an integer", repr(image_id)[:40])
    try:
        iid = int(image_id)
    except ValueError:
        return ("'image_id' must be an integer", repr(image_id)[:40])
    if iid != image_id and not isinstance(image_id, str):
        return ("'image_id' must be an integer", repr(image_id)[:40])
    if iid not in sizes_of:
        return ("image_id not in the ground truth", str(iid))
    return None


def load_ground_truth(gt: Any) -> GroundTruth:
    """The COCO / LVIS ground truth of a detection evaluation; a file's problems name the file."""
    if isinstance(gt, (str, os.PathLike)):
        data = load_json_file(gt)
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise RecordError(
                os.fspath(gt),
                None,
                "ground truth must be a COCO-format JSON object with 'images', 'annotations' and 'categories'",
            )
        return as_ground_truth(data)
    return as_ground_truth(gt)
