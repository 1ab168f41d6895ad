"""Completion parsing: every answer format of visual RFT in one native pass per batch.

Thin facade over ``_C.parse_completions``: the C++ core finds the answer block, records the
format facts, and reads boxes, confidences, labels, numbers and multiple-choice letters into flat
arrays with the GIL released and the batch split over the thread pool.  Python never loops over
completions or boxes here; per-item Python objects (answer strings, labels) are only built when
asked for, lazily.  The rules are documented in ``docs/parsing.md``.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from ._ext import _C
from ._options import ANSWER_BLOCKS, INVALID_ENTRIES, PARSE_SCHEMAS, UNDERSCORE_RULES, WHITESPACE_RULES, check_option
from .frames import boxes_to_pixels

__all__ = [
    "FORMAT_NAMES",
    "STATUS_NAMES",
    "ParsedBatch",
    "boxes_to_pixels",
    "parse_completions",
]

#: Names of the ``ParsedBatch.status`` codes, indexed by code.
STATUS_NAMES = ("ok", "no_answer", "empty", "no_objects", "repaired", "malformed")
#: Names of the ``ParsedBatch.format`` codes, indexed by code.
FORMAT_NAMES = ("none",) + PARSE_SCHEMAS[1:]

_CHOICE_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


class ParsedBatch:
    """Parsed answers of a batch of ``B`` completions, as flat arrays (see ``docs/parsing.md``).

    Per completion (length ``B``)
    -----------------------------
    status : int8
        Codes of :data:`STATUS_NAMES` (``ParsedBatch.OK`` ... ``ParsedBatch.MALFORMED``);
        :attr:`status_names` gives the strings.
    format : int8
        Codes of :data:`FORMAT_NAMES`: what was read (detected with ``schema="auto"``).
    has_think, think_closed, has_answer, answer_closed, text_outside, strict_format : bool
        Format facts; ``strict_format`` is Visual-RFT's format reward rule
        ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", s, re.DOTALL)``.
    n_think_open, n_think_close, n_answer_open, n_answer_close : int32
        Tag counts over the whole completion.
    answer_start, answer_end : int64
        Python string indices of the (whitespace-trimmed) answer within the completion's text
        (the str, or the final assistant message's content); ``-1`` when there is no answer.
    numbers : float64
        The answer's number (counting answers), NaN when none.
    choices : int8
        Multiple-choice letter index (A = 0, ..., Z = 25), -1 when the answer is not one.
    n_dropped : int32
        Boxes that were not kept: non-finite values, not four numbers, unpaired tuple corners,
        objects without a box.
    offsets : int64, length ``B + 1``
        Boxes of completion ``i`` are ``boxes[offsets[i]:offsets[i + 1]]``.

    Per box (length ``total = offsets[-1]``)
    ----------------------------------------
    boxes : float64, shape ``(total, 4)``
        ``x1, y1, x2, y2`` exactly as written (the model's own frame; see :func:`boxes_to_pixels`).
    confidences : float64
        ``Confidence`` / ``score`` values, NaN when absent.
    label_start, label_end : int64
        Python string indices of each box's label, -1 when it has none; :attr:`labels` gives the
        strings.
    """

    OK, NO_ANSWER, EMPTY, NO_OBJECTS, REPAIRED, MALFORMED = range(6)

    # Per-completion and per-box array slots (everything take() must gather), then the rest.
    _ROW_FIELDS = (
        "status",
        "format",
        "has_think",
        "think_closed",
        "has_answer",
        "answer_closed",
        "text_outside",
        "strict_format",
        "n_think_open",
        "n_think_close",
        "n_answer_open",
        "n_answer_close",
        "answer_start",
        "answer_end",
        "numbers",
        "choices",
        "n_dropped",
    )
    _BOX_FIELDS = ("boxes", "confidences", "label_start", "label_end")
    __slots__ = (
        *_ROW_FIELDS,
        "offsets",
        *_BOX_FIELDS,
        "_sources",
        "_answer_bytes",
        "_label_bytes",
        "_answer_text",
        "_labels",
    )

    def __init__(self, raw: dict) -> None:
        self._sources = raw["sources"]
        self.status = raw["status"]
        self.format = raw["format"]
        for name in ("has_think", "think_closed", "has_answer", "answer_closed", "text_outside", "strict_format"):
            setattr(self, name, raw[name].view(np.bool_))
        for name in (
            "n_think_open",
            "n_think_close",
            "n_answer_open",
            "n_answer_close",
            "answer_start",
            "answer_end",
            "n_dropped",
            "offsets",
            "boxes",
            "confidences",
            "label_start",
            "label_end",
        ):
            setattr(self, name, raw[name])
        self.numbers = raw["number"]
        self.choices = raw["choice"]
        self._answer_bytes = (raw["answer_start_byte"], raw["answer_end_byte"])
        self._label_bytes = (raw["label_start_byte"], raw["label_end_byte"])
        self._answer_text = None
        self._labels = None

    def __len__(self) -> int:
        return int(self.status.shape[0])

    def __repr__(self) -> str:
        counts = np.bincount(self.status, minlength=len(STATUS_NAMES))
        parts = ", ".join(f"{n}={c}" for n, c in zip(STATUS_NAMES, counts) if c)
        return f"ParsedBatch(B={len(self)}, boxes={self.boxes.shape[0]}, {parts})"

    def take(self, index: Sequence[int]) -> "ParsedBatch":
        """The rows ``index`` (repeats allowed) as a new batch, as if those texts were parsed.

        Used to parse each distinct text of a column once (e.g. the solution repeated for every
        completion of a GRPO group) and expand the result.

        Examples
        --------
        >>> import vrft_rewards as vr
        >>> p = vr.parse_completions(["<answer>(1,2),(3,4)</answer>", "<answer>cat</answer>"])
        >>> q = p.take([1, 0, 0])
        >>> q.offsets.tolist(), q.answer_text
        ([0, 0, 1, 2], ['cat', '(1,2),(3,4)', '(1,2),(3,4)'])
        """
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(index) and (index.min() < -n or index.max() >= n):
            raise IndexError(f"index out of range for a batch of {n}")
        index = np.where(index < 0, index + n, index)
        out = ParsedBatch.__new__(ParsedBatch)
        for name in self._ROW_FIELDS:
            setattr(out, name, getattr(self, name)[index])
        counts = np.diff(self.offsets)[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        # Box j of new row r comes from old box offsets[index[r]] + (j - new offsets[r]).
        box_index = np.repeat(self.offsets[:-1][index] - offsets[:-1], counts) + np.arange(offsets[-1])
        out.offsets = offsets
        for name in self._BOX_FIELDS:
            setattr(out, name, getattr(self, name)[box_index])
        out._sources = [self._sources[i] for i in index.tolist()]
        out._answer_bytes = tuple(a[index] for a in self._answer_bytes)
        out._label_bytes = tuple(a[box_index] for a in self._label_bytes)
        out._answer_text = None
        out._labels = None
        return out

    @property
    def counts(self) -> np.ndarray:
        """Boxes per completion, int64 ``(B,)`` (``np.diff(offsets)``)."""
        return np.diff(self.offsets)

    @property
    def box_owner(self) -> np.ndarray:
        """Completion index of every box, int64 ``(total,)``."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.counts)

    @property
    def status_names(self) -> np.ndarray:
        """``status`` as strings, e.g. ``array(['ok', 'no_answer'], dtype='<U10')``."""
        return np.asarray(STATUS_NAMES)[self.status]

    @property
    def format_names(self) -> np.ndarray:
        """``format`` as strings."""
        return np.asarray(FORMAT_NAMES)[self.format]

    @property
    def choice_letters(self) -> list:
        """Multiple-choice letters (``"A"`` ...), ``None`` where the answer is not a choice."""
        return [None if c < 0 else str(_CHOICE_LETTERS[c]) for c in self.choices.tolist()]

    @property
    def answer_text(self) -> list:
        """The answer of each completion as a ``str`` (trimmed), ``None`` without an answer.

        Built on first access (one str per completion), then cached.
        """
        if self._answer_text is None:
            start, end = self._answer_bytes
            index = np.arange(len(self), dtype=np.int64)
            self._answer_text = _C.slice_texts(self._sources, index, start, end)
        return self._answer_text

    @property
    def labels(self) -> list:
        """Label of every box as a ``str`` (``None`` where the box has none), length ``total``.

        Built on first access.  Backslash escapes inside a quoted label are decoded as JSON
        escapes when they are valid JSON, else the label is returned as written.
        """
        if self._labels is None:
            start, end = self._label_bytes
            raw = _C.slice_texts(self._sources, self.box_owner, start, end)
            self._labels = [_unescape(t) if t is not None and "\\" in t else t for t in raw]
        return self._labels

    def normalized_answers(
        self, *, lower: bool = True, punctuation: bool = True, underscores: str = "space", whitespace: str = "collapse"
    ) -> list:
        """Answers normalised for classification matching.

        Parameters
        ----------
        lower : bool, default True
            Lower-case the text (``str.lower``, so non-ASCII letters too).
        punctuation : bool, default True
            Remove ASCII punctuation (``string.punctuation`` except ``_``).
        underscores : {"space", "drop", "keep"}, default "space"
            What to do with ``_``.
        whitespace : {"collapse", "drop", "keep"}, default "collapse"
            Collapse runs of whitespace to one space and trim (``" ".join(s.split())``), remove
            all whitespace (Visual-RFT's classification rule), or keep it.

        Returns
        -------
        list of str
            One per completion; ``""`` where there is no answer.

        Examples
        --------
        >>> import vrft_rewards as vr
        >>> vr.parse_completions(["<answer> Boeing_737-200. </answer>"]).normalized_answers()
        ['boeing 737200']
        """
        check_option(underscores, UNDERSCORE_RULES, "underscores")
        check_option(whitespace, WHITESPACE_RULES, "whitespace")
        u = {"keep": 0, "space": 1, "drop": 2}
        start, end = self._answer_bytes
        out = _C.normalize_texts(
            self._sources,
            start,
            end,
            False,
            bool(punctuation),
            u[underscores],
            whitespace == "collapse",
            whitespace == "drop",
        )
        if lower:
            out = [t.lower() for t in out]
        return out

    def boxes_of(self, i: int) -> np.ndarray:
        """Boxes of completion ``i`` (a view), shape ``(n_i, 4)``."""
        return self.boxes[self.offsets[i] : self.offsets[i + 1]]


def _unescape(text: str) -> str:
    try:
        return json.loads('"' + text + '"')
    except ValueError:
        return text


def parse_completions(
    completions: Sequence[Any],
    *,
    schema: str = "auto",
    answer: str = "last",
    require_tags: bool = True,
    invalid: str = "raise",
) -> ParsedBatch:
    """Parse a batch of model completions into flat arrays.

    Parameters
    ----------
    completions : list of str, or list of chat-message lists
        ``B`` completions: plain strings, or TRL's conversational form
        ``[{"role": "assistant", "content": str}, ...]`` where the **last assistant message** is
        the answer (tool turns before it are ignored).
    schema : {"auto", "visual_rft", "qwen_json", "qwen_tuple", "boxes", "text", "number"}
        ``"auto"`` (default) detects the format per completion; a named schema forces one.
    answer : {"last", "first"}, default "last"
        Which complete ``<answer>...</answer>`` block after the last ``</think>`` is the answer.
    require_tags : bool, default True
        When False, a completion without any ``<answer>`` block is answered by the text after the
        last ``</think>`` (the whole text when there is none) instead of status ``no_answer``.
    invalid : {"raise", "empty"}, default "raise"
        What to do with entries that are not text (``None``, bytes, numbers, chat lists without
        an assistant message or with non-str content): raise, or read them as ``""``.

    Returns
    -------
    ParsedBatch
        Statuses, format facts, boxes ``(total, 4)`` float64 + ``offsets`` ``(B + 1,)``,
        confidences, label spans, numbers, choices; see :class:`ParsedBatch`.

    Raises
    ------
    TypeError
        If ``completions`` is not a sequence, or (with ``invalid="raise"``) an entry is not a str
        or chat-message list; the message names the index.
    ValueError
        If ``schema``, ``answer`` or ``invalid`` is not one of the allowed names.

    Notes
    -----
    Nothing inside a string raises: malformed text gets a status.  Scanning is linear in the
    text length (no recursion, no backtracking).  Numbers are read with ``std::from_chars``: the
    same double as Python's ``float()`` of the token.

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> p = vr.parse_completions([
    ...     "<think>two dogs</think><answer>[{'Position': [10, 20, 30, 40], 'Confidence': 0.9},"
    ...     " {'Position': [50, 60, 70, 80], 'Confidence': 0.8}]</answer>",
    ...     "<answer>No Objects</answer>",
    ... ])
    >>> p.status_names.tolist(), p.offsets.tolist()
    (['ok', 'no_objects'], [0, 2, 2])
    >>> p.boxes[1].tolist(), p.confidences.tolist()
    ([50.0, 60.0, 70.0, 80.0], [0.9, 0.8])
    """
    check_option(schema, PARSE_SCHEMAS, "schema")
    check_option(answer, ANSWER_BLOCKS, "answer")
    check_option(invalid, INVALID_ENTRIES, "invalid")
    if isinstance(completions, (str, bytes)):
        raise TypeError(
            f"completions must be a list of completions, got a single {type(completions).__name__}; wrap it in a list"
        )
    if not isinstance(completions, (list, tuple)):
        try:
            completions = list(completions)
        except TypeError:
            raise TypeError(
                f"completions must be a list of str or chat-message lists, got {type(completions).__name__}"
            ) from None
    raw = _C.parse_completions(completions, schema, answer, bool(require_tags), invalid)
    return ParsedBatch(raw)
