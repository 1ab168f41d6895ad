"""Classification accuracy rewards (fine-grained classification, multiple choice).

Answers and ground truth go through the same native normaliser; comparisons are vectorised
numpy over the batch.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .._options import CLASSIFICATION_MODES, check_option
from ._base import BatchReward, require_one_of
from ._cache import cached_parse
from ._problems import _object_array, _offsets

__all__ = ["ClassificationReward", "classification_reward", "get_classification_reward"]

# Visual-RFT's normalisation: spaces and underscores removed, lower-cased.
VISUAL_RFT_NORMALIZATION = dict(lower=True, punctuation=False, underscores="drop", whitespace="drop")
# Default: lower-case, no ASCII punctuation, underscores as spaces, whitespace collapsed.
DEFAULT_NORMALIZATION = dict(lower=True, punctuation=True, underscores="space", whitespace="collapse")


_NO_NAMES = np.empty(0, dtype=object)


def _normalized(texts: Sequence[Any], norm: dict, *, require_tags: bool, invalid: str) -> list:
    parsed = cached_parse(texts, schema="auto", answer="last", require_tags=require_tags, invalid=invalid)
    return parsed.normalized_answers(**norm)


class ClassificationReward(BatchReward):
    """1 when the answer names the ground-truth class, else 0.

    ``mode``:

    * ``"exact"`` (default): the normalised answer equals the normalised class name or one of
      its aliases.  An empty answer, or one naming several classes, can never equal a class name
      and scores 0.
    * ``"substring"``: Visual-RFT's rule, ``gt in answer or answer in gt`` after removing spaces
      and underscores and lower-casing.  **Gameable**: an empty answer, a truncated name or a list
      of every class all score 1 (Visual-RFT issues #79, #161).  Kept to reproduce the paper;
      ``classes`` adds a guard that scores 0 when the answer mentions two or more of them.
    * ``"choice"``: the answer's multiple-choice letter equals the ground truth's.

    Ground truth comes from a ``solution`` column (answer-format string, ``<answer>`` tags
    optional) or a ``label`` column (plain class names).  ``aliases`` is a mapping from class name
    to accepted alternatives (applied to every row), or the name of a dataset column holding one
    list of accepted names per row.  Rows whose ground truth is missing or empty are skipped
    (``None``).
    """

    def __init__(
        self,
        *,
        name: str = "classification_reward",
        mode: str = "exact",
        aliases: Optional[Mapping[str, Sequence[str]] | str] = None,
        classes: Optional[Sequence[str]] = None,
        normalization: Optional[dict] = None,
        require_tags: bool = True,
    ) -> None:
        check_option(mode, CLASSIFICATION_MODES, "mode")
        if aliases is not None and not isinstance(aliases, (str, Mapping)):
            raise TypeError(
                "aliases must be a mapping of class name -> accepted names, or the "
                f"name of a per-row column, got {type(aliases).__name__}"
            )
        self.__name__ = name
        self.mode = mode
        self.aliases = dict(aliases) if isinstance(aliases, Mapping) else aliases
        self.classes = None if classes is None else [str(c) for c in classes]
        default = VISUAL_RFT_NORMALIZATION if mode == "substring" else DEFAULT_NORMALIZATION
        self.normalization = dict(default if normalization is None else normalization)
        self.require_tags = bool(require_tags)
        # Normalised forms of the fixed ``aliases`` mapping and ``classes`` list, built on first
        # use: they depend only on the options, so they are not re-parsed every step.
        self._alias_table: Optional[dict] = None
        self._class_table: Optional[tuple] = None

    def _truth_texts(self, columns: dict, n: int) -> list:
        column = require_one_of(
            columns,
            ("solution", "label"),
            self.__name__,
            "the ground-truth class: an answer-format 'solution' or a plain 'label' name",
        )
        texts = columns[column]
        if len(texts) != n:
            raise ValueError(f"{self.__name__}: {column} has {len(texts)} rows for {n} completions")
        return texts

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        n = len(completions)
        truth_texts = self._truth_texts(columns, n)
        if self.mode == "choice":
            pred = cached_parse(
                completions, schema="auto", answer="last", require_tags=self.require_tags, invalid="raise"
            ).choices
            truth = cached_parse(truth_texts, schema="auto", answer="last", require_tags=False, invalid="empty").choices
            values = ((pred == truth) & (pred >= 0)).astype(np.float64)
            values = np.where(truth >= 0, values, np.nan)
            return values, {"frac_no_choice": float(np.mean(pred < 0)) if n else 0.0}

        answers = np.array(
            _normalized(completions, self.normalization, require_tags=self.require_tags, invalid="raise"), dtype=object
        )
        truth = np.array(
            _normalized(truth_texts, self.normalization, require_tags=False, invalid="empty"), dtype=object
        )
        truth_ok = truth != ""
        if self.mode == "substring":
            a, t = answers.astype(str), truth.astype(str)
            hit = (np.strings.find(a, t) >= 0) | (np.strings.find(t, a) >= 0)
            if self.classes:
                hit &= self._mentions(a) < 2
        else:
            owner, accepted = self._accepted(truth, columns, n)
            eq = answers[owner] == accepted
            hit = np.bincount(owner, weights=eq, minlength=n) > 0
            hit &= answers != ""
        values = np.where(truth_ok, hit.astype(np.float64), np.nan)
        metrics = {"frac_empty": float(np.mean(answers == "")) if n else 0.0}
        return values, metrics

    def _accepted(self, truth: np.ndarray, columns: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat (row, normalised accepted name) pairs: the class name plus its aliases."""
        owners = [np.arange(n)]
        names = [truth]
        if isinstance(self.aliases, str):
            rows = columns.get(self.aliases)
            if rows is None:
                require_one_of(columns, (self.aliases,), self.__name__, "per-row aliases")
            counts = np.array([0 if r is None else len(r) for r in rows], dtype=np.int64)
            flat = [str(x) for r in rows if r is not None for x in r]
            owners.append(np.repeat(np.arange(n), counts))
            names.append(
                np.array(_normalized(flat, self.normalization, require_tags=False, invalid="empty"), dtype=object)
            )
        elif self.aliases:
            # Each distinct class of the batch looks up its accepted names once; the rows then
            # gather them with flat index arithmetic.
            table = self._aliases_normalized()
            uniq, inv = np.unique(truth, return_inverse=True)
            groups = [table.get(u, _NO_NAMES) for u in uniq.tolist()]
            group_start = _offsets(np.array([len(g) for g in groups], dtype=np.int64))
            counts = np.diff(group_start)[inv]
            row_start = _offsets(counts)
            src = np.repeat(group_start[inv] - row_start[:-1], counts) + np.arange(row_start[-1])
            owners.append(np.repeat(np.arange(n), counts))
            names.append(np.concatenate(groups)[src] if groups else _NO_NAMES)
        return np.concatenate(owners), np.concatenate(names)

    def _aliases_normalized(self) -> dict:
        """Normalised class name -> object array of its normalised aliases (all the keys that
        normalise alike pooled), from the ``aliases`` mapping."""
        if self._alias_table is None:
            keys = list(self.aliases)
            alts = [[str(x) for x in self.aliases[key]] for key in keys]
            key_norm = _normalized(keys, self.normalization, require_tags=False, invalid="empty")
            alt_norm = _normalized(
                [a for group in alts for a in group], self.normalization, require_tags=False, invalid="empty"
            )
            pooled: dict = {}
            pos = 0
            for key_n, group in zip(key_norm, alts):
                pooled.setdefault(key_n, []).extend(alt_norm[pos : pos + len(group)])
                pos += len(group)
            self._alias_table = {k: _object_array(v) for k, v in pooled.items()}
        return self._alias_table

    def _mentions(self, answers: np.ndarray) -> np.ndarray:
        """How many distinct classes each answer names (a class contained in another mentioned
        class's name does not count separately)."""
        if self._class_table is None:
            cls = np.array(
                _normalized(self.classes, self.normalization, require_tags=False, invalid="empty"), dtype=str
            )
            cls = cls[cls != ""]
            inside = (np.strings.find(cls[:, None], cls[None, :]) >= 0) & (cls[:, None] != cls[None, :])
            self._class_table = (cls, inside)
        cls, inside = self._class_table
        found = np.strings.find(answers[:, None], cls[None, :]) >= 0  # (B, C)
        dominated = (found.astype(np.int64) @ inside.astype(np.int64)) > 0  # (B, C)
        return np.sum(found & ~dominated, axis=1)


def get_classification_reward(**options: Any) -> ClassificationReward:
    """Configured :class:`ClassificationReward` (mode, aliases, classes, normalization,
    require_tags, name)."""
    return ClassificationReward(**options)


classification_reward = ClassificationReward()
