"""Ground truth given as data instead of text: per-row Python objects -> flat boxes + offsets.

A ``gt_boxes`` row, or a ``solution`` row that is not a string (a trainer or an adapter that
already parsed the answer), may be:

* a list of boxes ``[[x1, y1, x2, y2], ...]``, one box ``[x1, y1, x2, y2]``, or an ``(k, 4)``
  array;
* a list of objects as the answer formats write them: Qwen JSON
  ``[{"bbox_2d": [...], "label": "dog"}, ...]``, Visual-RFT ``[{"Position": [...],
  "Confidence": 1}, ...]`` (the parser's keys, any case: ``bbox_2d``, ``box_2d``, ``bbox``,
  ``box``, ``position`` for the box; ``label``, ``class``, ``category`` for the label), or one
  such object;
* ``[]`` (no objects) or ``None`` (no ground truth: the row is skipped).

Anything else is refused with a ``ValueError`` naming the row, never scored as if it were empty.
Rows arrive as Python objects, so this is the one per-row Python loop of the box rewards; the
``solution`` path only reaches it for rows whose text parse found no box answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["read_truth_row", "read_truth_rows"]

_BOX_KEYS = ("bbox_2d", "box_2d", "bbox", "box", "position")
_LABEL_KEYS = ("label", "class", "category")


def _keys(item: Mapping) -> dict:
    """Lower-cased str keys of one object -> the keys as given."""
    return {k.lower(): k for k in item if isinstance(k, str)}


def _numbers(value: Any, where: str) -> np.ndarray:
    """``value`` as a float64 array, refusing anything that is not plain numbers."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        raise ValueError(f"{where} must be numbers [x1, y1, x2, y2], got {value!r}") from None
    if arr.dtype.kind not in "iuf" or (arr.dtype == object):
        raise ValueError(f"{where} must be numbers [x1, y1, x2, y2], got {value!r}")
    return arr.astype(np.float64)


def read_truth_row(row: Any, where: str) -> Optional[tuple[np.ndarray, Optional[list]]]:
    """One ground-truth row -> ``(boxes (k, 4) float64, labels)`` (labels: one ``str | None`` per
    box for object lists, else ``None``), or ``None`` for a missing row.  ``where`` names the row
    in errors (``"iou_reward: solution[3]"``)."""
    if row is None:
        return None
    if isinstance(row, Mapping):
        row = [row]
    if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)):
        raise ValueError(
            f"{where} must be boxes [[x1, y1, x2, y2], ...], a list of objects with a box key "
            f"({', '.join(_BOX_KEYS)}) or None, got {type(row).__name__}"
        )
    if len(row) and all(isinstance(item, Mapping) for item in row):
        boxes, labels = [], []
        for j, item in enumerate(row):
            keys = _keys(item)
            box_key = next((keys[k] for k in _BOX_KEYS if k in keys), None)
            if box_key is None:
                raise ValueError(
                    f"{where}[{j}] has no box: expected one of the keys {', '.join(_BOX_KEYS)} (any case), "
                    f"got {sorted(map(str, item))}"
                )
            box = _numbers(item[box_key], f"{where}[{j}][{box_key!r}]")
            if box.shape != (4,):
                raise ValueError(f"{where}[{j}][{box_key!r}] must be 4 numbers [x1, y1, x2, y2], got shape {box.shape}")
            boxes.append(box)
            label_key = next((keys[k] for k in _LABEL_KEYS if k in keys), None)
            label = None if label_key is None else item[label_key]
            labels.append(None if label is None else str(label))
        return np.stack(boxes), labels
    arr = _numbers(row, where)
    if arr.size == 0:
        return np.zeros((0, 4)), None
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr.reshape(1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where} must be boxes of shape (k, 4) or one box of 4 numbers, got shape {arr.shape}")
    return arr, None


def read_truth_rows(
    rows: Sequence[Any], label_rows: Optional[Sequence[Any]], index: Sequence[int], reward: str, column: str
) -> tuple[list, np.ndarray, list]:
    """:func:`read_truth_row` of ``rows[i]`` for each ``i`` of ``index``: ``(boxes per row, ok per
    row, labels per row)``.  ``label_rows`` (a ``gt_labels`` column) overrides the objects' own
    labels and must give one name per box."""
    blocks, ok, labels = [], np.ones(len(index), dtype=bool), []
    for k, i in enumerate(index):
        where = f"{reward}: {column}[{i}]"
        read = read_truth_row(rows[i], where)
        if read is None:
            ok[k] = False
            blocks.append(np.zeros((0, 4)))
            labels.append(None)
            continue
        boxes, names = read
        if label_rows is not None:
            given = label_rows[i]
            if given is None or isinstance(given, (str, bytes)) or len(given) != len(boxes):
                raise ValueError(
                    f"{reward}: gt_labels[{i}] must list one name per box of {column}[{i}] "
                    f"({len(boxes)}), got {given!r}"
                )
            names = [str(x) for x in given]
        blocks.append(boxes)
        labels.append(names)
    return blocks, ok, labels
