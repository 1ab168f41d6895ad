"""The pieces of the streaming evaluation (:mod:`.streaming`) that are not the evaluator: the
per-batch counts, the state one evaluator sends another, rows grouped by image, and the
detections of a batch in the forms a training loop has them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from .detections import Detections, as_detections

__all__ = ["BatchStats", "RowsByImage", "StreamingState", "batch_detections", "resolve_refs"]


@dataclass(frozen=True)
class BatchStats:
    """Counts at IoU 0.5, area range 0 ("all"), the largest max-dets: what ``update`` returns
    for its batch and ``StreamingEvaluator.running`` for everything so far.

    ``true_positives`` / ``false_positives`` count matched / unmatched detections (detections
    the evaluation ignores -- on a crowd region, outside the area range, LVIS not-exhaustive --
    count as neither); ``positives`` counts the GT objects that are not ignored; ``detections``
    the detections evaluated (on evaluated images and categories; LVIS: after the per-image cap
    and the federated filter).  A cheap signal
    on the way, not AP: ``compute`` gives the real numbers.
    """

    images: int = 0
    detections: int = 0
    true_positives: int = 0
    false_positives: int = 0
    positives: int = 0

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)`` (0.0 without any counted detection)."""
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 0.0

    @property
    def recall(self) -> float:
        """``tp / positives`` (0.0 without any GT object)."""
        return self.true_positives / self.positives if self.positives else 0.0

    def __add__(self, other: "BatchStats") -> "BatchStats":
        return BatchStats(*(a + b for a, b in zip(self._fields(), other._fields())))

    def _fields(self) -> tuple:
        return (self.images, self.detections, self.true_positives, self.false_positives, self.positives)


@dataclass
class StreamingState:
    """What one evaluator sends to another to be merged (``StreamingEvaluator.state()``): the
    per-image evaluation state and counters, without the ground truth or any detection."""

    fingerprint: bytes
    num_detections: int
    seen: np.ndarray  # packed bits: which evaluated images an update mentioned
    evaluation: Any  # _C.EvalState (rows numbered within this evaluator) or None
    running: BatchStats


class RowsByImage:
    """Rows of a column grouped by image position (CSR): the rows of a set of images, in order."""

    def __init__(self, image_pos: np.ndarray, num_images: int) -> None:
        self.order = np.argsort(image_pos, kind="stable")
        self.offsets = np.searchsorted(image_pos[self.order], np.arange(num_images + 1))

    def rows(self, images: np.ndarray) -> np.ndarray:
        start, stop = self.offsets[images], self.offsets[images + 1]
        lengths = stop - start
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        # positions start[i] .. stop[i] - 1 of every image, concatenated
        first = np.repeat(start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.sort(self.order[first + np.arange(total)])


def resolve_refs(items: Iterable[Any]) -> list:
    """Ray ObjectRefs (anywhere in ``items``) fetched with one ``ray.get``."""
    items = list(items)
    refs = [i for i, x in enumerate(items) if type(x).__name__ == "ObjectRef"]
    if refs:
        from .._ray import import_ray

        values = import_ray("merging Ray ObjectRefs").get([items[i] for i in refs])
        for i, v in zip(refs, values):
            items[i] = v
    return items


def batch_detections(detections: Any, image_ids) -> Detections:
    """``as_detections``, plus torchvision's per-image ``{"boxes", "scores", "labels"}`` dicts."""
    if (
        isinstance(detections, (list, tuple))
        and detections
        and isinstance(detections[0], dict)
        and "boxes" in detections[0]
    ):
        if image_ids is None or len(image_ids) != len(detections):
            raise ValueError("per-image {'boxes', 'scores', 'labels'} detections need one image id per image")
        boxes, scores, labels, owners = [], [], [], []
        for i, (img, d) in enumerate(zip(image_ids, detections)):
            try:
                b = np.asarray(_numpy(d["boxes"]), dtype=np.float64).reshape(-1, 4)
                s = np.asarray(_numpy(d["scores"]), dtype=np.float64).reshape(-1)
                lab = np.asarray(_numpy(d["labels"])).reshape(-1)
            except KeyError as e:
                raise ValueError(f"detections[{i}] has no {e.args[0]!r}") from None
            if not (len(b) == len(s) == len(lab)):
                raise ValueError(f"detections[{i}]: boxes, scores and labels differ in length")
            boxes.append(b)
            scores.append(s)
            labels.append(lab)
            owners.append(np.full(len(b), int(img), np.int64))
        xyxy = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        arr = np.column_stack([np.concatenate(owners), xywh, np.concatenate(scores), np.concatenate(labels)])
        return Detections.from_array(arr, "detections")
    return as_detections(detections)


def _numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x
