"""Category sets of the Visual-RFT paper and mapping of model labels to category ids."""

from __future__ import annotations

import string
from typing import Any, Mapping, Optional, Sequence

import numpy as np

__all__ = ["CATEGORY_SETS", "CategoryMapper", "normalize_category_name", "resolve_category_set"]

#: Named category sets of Visual-RFT's evaluation scripts (arXiv:2503.01785; the lists are the
#: ``selected_cate`` of ``coco_evaluation/Qwen2_VL_coco_infere.py`` and
#: ``lvis_evaluation/Qwen2_VL_lvis_infere.py``).  The paper reports the mean of per-category AP
#: over one of these sets.  LVIS names are the dataset's raw names (``kitchen_table``).
CATEGORY_SETS: dict = {
    # Few-shot COCO detection, 8 classes (Table 3).
    "coco_fewshot_8": ("bus", "train", "fire hydrant", "stop sign", "cat", "dog", "bed", "toilet"),
    # Open-vocabulary COCO: the 15 novel classes evaluated by the script (Table 5, mAP_n).
    "ov_coco_novel_15": (
        "mouse",
        "fork",
        "hot dog",
        "cat",
        "airplane",
        "suitcase",
        "parking meter",
        "sandwich",
        "train",
        "hair drier",
        "toilet",
        "toaster",
        "snowboard",
        "frisbee",
        "bear",
    ),
    # Few-shot LVIS, 6 rare classes (Table 4).
    "lvis_fewshot_6": ("horse_buggy", "die", "kitchen_table", "omelet", "papaya", "stepladder"),
    # Open-vocabulary LVIS, 13 rare classes (Table 6).
    "lvis_ov_rare_13": (
        "casserole",
        "die",
        "egg_roll",
        "futon",
        "garbage",
        "handsaw",
        "hippopotamus",
        "kitchen_table",
        "mallet",
        "omelet",
        "shot_glass",
        "stepladder",
        "sugar_bowl",
    ),
}

_PUNCT = str.maketrans("", "", string.punctuation.replace("_", ""))


def normalize_category_name(name: str) -> str:
    """Lower-case, ``_``/``-`` as spaces, other ASCII punctuation removed, whitespace collapsed.

    Examples
    --------
    >>> normalize_category_name("Kitchen_Table")
    'kitchen table'
    >>> normalize_category_name("  hot-dog. ")
    'hot dog'
    """
    s = str(name).replace("_", " ").replace("-", " ").translate(_PUNCT).lower()
    return " ".join(s.split())


class CategoryMapper:
    """Maps category names written by a model (or in records) to ground-truth category ids.

    Order of rules: exact name, then normalised name (:func:`normalize_category_name`), then
    ``synonyms`` (alternative name -> GT category name or id; keys compared normalised).  A name
    that matches nothing is *unmatched*: its boxes are dropped and counted per name.

    Parameters
    ----------
    cat_ids : sequence of int
    cat_names : sequence of str
        The ground truth's categories.
    synonyms : mapping, optional
        e.g. ``{"motorbike": "motorcycle", "sofa": "couch", "aeroplane": 5}``.

    Raises
    ------
    ValueError
        A synonym pointing at an unknown category, or two categories with the same normalised
        name (ambiguous).
    """

    def __init__(
        self, cat_ids: Sequence[int], cat_names: Sequence[str], synonyms: Optional[Mapping[str, Any]] = None
    ) -> None:
        self.exact = {str(n): int(c) for c, n in zip(cat_ids, cat_names)}
        self.normalized: dict = {}
        for c, n in zip(cat_ids, cat_names):
            key = normalize_category_name(n)
            if key in self.normalized and self.normalized[key] != int(c):
                raise ValueError(
                    f"categories {self.normalized[key]} and {int(c)} have the same "
                    f"normalised name {key!r}; pass exact names"
                )
            self.normalized[key] = int(c)
        self.synonyms: dict = {}
        ids = set(int(c) for c in cat_ids)
        for alt, target in dict(synonyms or {}).items():
            if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
                cid = int(target)
                if cid not in ids:
                    raise ValueError(f"synonyms[{alt!r}] = {cid} is not a category id of the ground truth")
            else:
                cid = self.exact.get(str(target), self.normalized.get(normalize_category_name(target)))
                if cid is None:
                    raise ValueError(f"synonyms[{alt!r}] = {target!r} is not a category of the ground truth")
            self.synonyms[normalize_category_name(alt)] = cid

    def lookup(self, name: str) -> tuple[int, str]:
        """``(category id or -1, rule)`` with rule in exact / normalized / synonym / unmatched."""
        cid = self.exact.get(name)
        if cid is not None:
            return cid, "exact"
        key = normalize_category_name(name)
        cid = self.normalized.get(key)
        if cid is not None:
            return cid, "normalized"
        cid = self.synonyms.get(key)
        if cid is not None:
            return cid, "synonym"
        return -1, "unmatched"

    def map_names(self, names: Sequence[Optional[str]]) -> tuple[np.ndarray, dict]:
        """Category ids of many names (-1 where unmatched or None), looked up once per distinct name.

        Returns
        -------
        ids : ndarray of int64, shape (len(names),)
        stats : dict
            ``exact``, ``normalized``, ``synonym``, ``unmatched``, ``missing`` (None labels)
            counts, and ``unmatched_names`` (name -> count, most frequent first).
        """
        arr = np.array(["" if n is None else str(n) for n in names], dtype=object)
        missing = np.array([n is None for n in names], dtype=bool)
        uniq, inverse = (
            np.unique(arr.astype(str), return_inverse=True)
            if len(arr)
            else (np.array([], dtype=str), np.zeros(0, dtype=np.int64))
        )
        uniq_ids = np.empty(len(uniq), dtype=np.int64)
        uniq_rule = []
        for k, name in enumerate(uniq.tolist()):  # one lookup per distinct label
            uniq_ids[k], rule = self.lookup(name)
            uniq_rule.append(rule)
        ids = uniq_ids[inverse] if len(arr) else np.zeros(0, dtype=np.int64)
        ids[missing] = -1
        per_uniq = np.bincount(inverse[~missing], minlength=len(uniq)) if len(arr) else np.zeros(0, int)
        stats = {"exact": 0, "normalized": 0, "synonym": 0, "unmatched": 0, "missing": int(missing.sum())}
        unmatched = {}
        for name, rule, n in zip(uniq.tolist(), uniq_rule, per_uniq.tolist()):
            if n == 0:
                continue
            stats[rule] += int(n)
            if rule == "unmatched":
                unmatched[name] = int(n)
        stats["unmatched_names"] = dict(sorted(unmatched.items(), key=lambda kv: (-kv[1], kv[0])))
        return ids, stats


def resolve_category_set(spec: Any, mapper: CategoryMapper) -> tuple[list, list]:
    """Category ids of a set: a name of :data:`CATEGORY_SETS`, a comma-separated string, or a
    sequence of names / ids.

    Returns
    -------
    ids : list of int
        In the order given, without repeats.
    unknown : list of str
        Entries that are not categories of the ground truth.
    """
    if isinstance(spec, str):
        items: list = (
            list(CATEGORY_SETS[spec]) if spec in CATEGORY_SETS else [s.strip() for s in spec.split(",") if s.strip()]
        )
    else:
        items = list(spec)
    ids: list = []
    unknown: list = []
    known_ids = set(mapper.exact.values())
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            cid = int(item) if int(item) in known_ids else -1
        elif isinstance(item, str) and item.strip().lstrip("-").isdigit() and item.strip() not in mapper.exact:
            cid = int(item) if int(item) in known_ids else -1
        else:
            cid = mapper.lookup(str(item))[0]
        if cid < 0:
            unknown.append(str(item))
        elif cid not in ids:
            ids.append(cid)
    return ids, unknown
