"""Parse statistics every evaluator reports: statuses, dropped boxes, a few examples."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..parsing import STATUS_NAMES, ParsedBatch

__all__ = ["parse_statistics", "status_statistics"]

# Statuses worth showing examples of: what went wrong, or what was repaired.
_EXAMPLE_STATUSES = ("malformed", "repaired", "empty", "no_answer")


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)):
        for m in reversed(completion):
            if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), str):
                return m["content"]
    return repr(completion)


def parse_statistics(
    parsed: ParsedBatch,
    completions: Sequence[Any],
    *,
    where: Optional[Sequence[str]] = None,
    n_examples: int = 3,
    max_chars: int = 160,
) -> dict:
    """Counts of parse outcomes and a few examples of the bad ones.

    Parameters
    ----------
    parsed : ParsedBatch
        The batch parse of ``completions``.
    completions : sequence, length B
        The completions (for the example texts).
    where : sequence of str, optional
        A location per completion (``"outputs.jsonl:12"``) shown with the examples.
    n_examples : int, default 3
        Examples kept per status among malformed, repaired, empty, no_answer.
    max_chars : int, default 160
        Example texts are cut to their last ``max_chars`` characters (where the answer is).

    Returns
    -------
    dict
        ``total``; ``status`` (count per status name, all six present); ``malformed``,
        ``repaired``, ``empty``, ``no_answer``, ``no_objects`` (the same counts, flat);
        ``boxes`` (kept) and ``dropped_boxes``; ``examples`` (status -> list of
        ``{"where", "text"}``).

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> c = ["<answer>[{'Position': [1, 2, 3, 4]}]</answer>", "<answer>[{'Position': [1, 2</answer>"]
    >>> s = parse_statistics(vr.parse_completions(c), c)
    >>> s["status"]["ok"], s["malformed"], s["examples"]["malformed"][0]["where"]
    (1, 1, '1')
    """
    return status_statistics(
        parsed.status,
        parsed.n_dropped,
        int(parsed.offsets[-1]),
        completions,
        where=where,
        n_examples=n_examples,
        max_chars=max_chars,
    )


def status_statistics(
    status_codes: np.ndarray,
    n_dropped: np.ndarray,
    n_boxes: int,
    completions: Sequence[Any],
    *,
    where: Optional[Sequence[str]] = None,
    n_examples: int = 3,
    max_chars: int = 160,
) -> dict:
    """:func:`parse_statistics` from the per-completion ``status`` and ``n_dropped`` arrays
    (what sharded parsing returns), ``n_boxes`` kept boxes in all."""
    status_codes = np.asarray(status_codes)
    counts = np.bincount(status_codes.astype(np.int64), minlength=len(STATUS_NAMES))
    status = {name: int(n) for name, n in zip(STATUS_NAMES, counts)}
    examples: dict = {}
    for name in _EXAMPLE_STATUSES:
        code = STATUS_NAMES.index(name)
        rows = np.flatnonzero(status_codes == code)[:n_examples].tolist()
        items = []
        for i in rows:
            text = _text(completions[i])
            if len(text) > max_chars:
                text = "..." + text[-max_chars:]
            items.append({"where": str(i) if where is None else str(where[i]), "text": text})
        if items:
            examples[name] = items
    out = {"total": int(len(status_codes)), "status": status}
    for name in ("malformed", "repaired", "empty", "no_answer", "no_objects"):
        out[name] = status[name]
    out["boxes"] = int(n_boxes)
    out["dropped_boxes"] = int(np.sum(n_dropped, dtype=np.int64))
    out["examples"] = examples
    return out
