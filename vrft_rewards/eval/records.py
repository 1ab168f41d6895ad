"""Reading model-output records (JSONL) and ground-truth files, with exact error locations.

Every problem with an input record is reported as ``<file>:<line>: <problem>``.  With
``strict=True`` the first one raises :class:`RecordError`; otherwise the record is skipped and
counted in a :class:`SkipLog`, which every report shows (nothing is dropped silently).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

from .._json import loads_text, strict_loads

__all__ = ["RecordError", "SkipLog", "check_input_file", "load_json_file", "progress", "read_jsonl"]

_EXAMPLES = 5
#: Deepest nesting a record may have.  Real records are a few levels deep (chat messages with
#: content parts: 5); anything far deeper is refused as a record, so that no later step (a repr
#: in a message, a recursive conversion) can hit Python's recursion limit on it.
MAX_RECORD_DEPTH = 100


class RecordError(ValueError):
    """A bad input record or file, located as ``file:line``.

    Attributes
    ----------
    source : str
        File name (or ``"records"`` for in-memory lists).
    line : int or None
        1-based line number in a JSONL file, or the 0-based index of an in-memory record.
    problem : str
        What is wrong.
    """

    def __init__(self, source: str, line: Optional[int], problem: str) -> None:
        self.source, self.line, self.problem = str(source), line, problem
        where = self.source if line is None else f"{self.source}:{line}"
        super().__init__(f"{where}: {problem}")


@dataclass
class SkipLog:
    """Skipped records, counted by reason, with the first few locations as examples.

    Attributes
    ----------
    strict : bool
        Raise :class:`RecordError` on the first problem instead of skipping.
    counts : Counter
        Number of skipped records per reason (the problem text without its details).
    examples : list of str
        Up to 5 ``file:line: problem`` strings.
    """

    strict: bool = False
    counts: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    def skip(self, source: str, line: Optional[int], reason: str, detail: str = "") -> None:
        """Record one skipped record (or raise when strict)."""
        problem = reason + (f" ({detail})" if detail else "")
        err = RecordError(source, line, problem)
        if self.strict:
            raise err
        self.counts[reason] += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(str(err))

    @property
    def total(self) -> int:
        """Number of skipped records."""
        return int(sum(self.counts.values()))

    def to_dict(self) -> dict:
        return {"total": self.total, "by_reason": dict(self.counts), "examples": list(self.examples)}


def progress(
    iterable: Iterable, *, total: Optional[int] = None, desc: str = "", enabled: Optional[bool] = None
) -> Iterable:
    """Wrap ``iterable`` in a tqdm bar on stderr when tqdm is installed and stderr is a terminal.

    ``enabled=None`` (default) lets tqdm decide (off when not a TTY); False never shows a bar.
    """
    if enabled is False:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(
        iterable, total=total, desc=desc, disable=None if enabled is None else not enabled, leave=False, unit=" rec"
    )


def read_jsonl(
    path: Any, *, skips: Optional[SkipLog] = None, show_progress: Optional[bool] = False
) -> tuple[list, list]:
    """Read a JSONL file: one JSON object per non-blank line.

    Parameters
    ----------
    path : str or os.PathLike
    skips : SkipLog, optional
        Where lines that are not JSON objects are counted (strict: raise).  Default: strict.
    show_progress : bool or None, default False
        tqdm bar over the lines (None: when stderr is a terminal).

    Returns
    -------
    records : list of dict
    lines : list of int
        1-based line number of each record.

    Raises
    ------
    RecordError
        A missing / unreadable file (``line`` None), or (strict) a line that is not a JSON object.
    """
    skips = SkipLog(strict=True) if skips is None else skips
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise RecordError(name, None, "no such file") from None
    except IsADirectoryError:
        raise RecordError(name, None, "is a directory, expected a JSONL file") from None
    except OSError as e:
        raise RecordError(name, None, f"cannot read: {e.strerror or e}") from None
    lines = raw.split(b"\n")
    records, numbers = [], []
    for i, line in enumerate(
        progress(lines, total=len(lines), desc=f"reading {os.path.basename(name)}", enabled=show_progress), start=1
    ):
        if not line.strip():
            continue
        try:
            obj = strict_loads(line)
        except (UnicodeDecodeError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            skips.skip(name, i, "line is not valid JSON", msg[:120])
            continue
        if not isinstance(obj, dict):
            skips.skip(name, i, "line is not a JSON object", f"got {type(obj).__name__}")
            continue
        # Nesting needs brackets: only a line with many of them can be too deep (a C-speed count).
        if line.count(b"[") + line.count(b"{") > MAX_RECORD_DEPTH and _deeper_than(obj, MAX_RECORD_DEPTH):
            skips.skip(name, i, "line is not valid JSON", f"nested more than {MAX_RECORD_DEPTH} levels deep")
            continue
        records.append(obj)
        numbers.append(i)
    return records, numbers


def _deeper_than(obj: Any, limit: int) -> bool:
    """True when ``obj`` (parsed JSON) nests lists / dicts more than ``limit`` levels deep."""
    stack = [(obj, 1)]
    while stack:  # iterative: the point is to never recurse on hostile input
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def load_json_file(path: Any, what: str = "ground truth") -> Any:
    """Load a JSON (or, for ``.jsonl``, JSONL) file; errors name the file and line.

    Raises
    ------
    RecordError
        Missing / unreadable file, or invalid JSON (with the line number).
    """
    name = os.fspath(path)
    if name.endswith(".jsonl"):
        return read_jsonl(name)[0]
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise RecordError(name, None, f"no such file ({what})") from None
    except IsADirectoryError:
        raise RecordError(name, None, f"is a directory, expected a {what} JSON file") from None
    except OSError as e:
        raise RecordError(name, None, f"cannot read {what}: {e.strerror or e}") from None
    try:
        return loads_text(raw)
    except json.JSONDecodeError as e:
        raise RecordError(name, e.lineno, f"{what} is not valid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise RecordError(name, None, f"{what} is not UTF-8 text: {e.reason}") from None
    except ValueError as e:  # nested too deeply
        raise RecordError(name, None, f"{what} is not readable JSON: {e}") from None


def load_records(
    records: Any,
    *,
    skips: SkipLog,
    lines: Optional[Sequence[int]] = None,
    source: Optional[str] = None,
    show_progress: Optional[bool] = False,
) -> tuple:
    """``(records, line_numbers, source_name)`` from a JSONL path or an in-memory list of dicts."""
    if isinstance(records, (str, os.PathLike)):
        recs, nums = read_jsonl(records, skips=skips, show_progress=show_progress)
        return recs, nums, os.fspath(records)
    if isinstance(records, (list, tuple)):
        return list(records), lines, source or "records"
    raise TypeError(f"records must be a path to a JSONL file or a list of dicts, got {type(records).__name__}")


def completion_problem(rec: Any) -> Optional[str]:
    """Why a record cannot give a completion to score (None: ``rec["completion"]`` is a str, or a
    list of chat messages whose last assistant message has a str ``content``: exactly what the
    parser reads, so that no record can make it raise for the batch)."""
    if not isinstance(rec, dict):
        return "record is not a JSON object"
    c = rec.get("completion")
    if c is None:
        return "record has no 'completion' string"
    if isinstance(c, str):
        return None
    if not isinstance(c, list):
        return "'completion' must be a string or a list of chat messages"
    for message in reversed(c):  # the parser's reading: the last assistant message is the answer
        if not isinstance(message, dict):
            return "'completion' must be a string or a list of chat messages (objects)"
        role = message.get("role")
        if isinstance(role, str) and role == "assistant":
            if isinstance(message.get("content"), str):
                return None
            return "the last assistant message of 'completion' has no string 'content'"
    return "'completion' has no assistant message"


def scorable_records(
    recs: Sequence[Any], nums: Optional[Sequence[int]], source: str, skips: SkipLog
) -> Iterator[tuple[int, dict]]:
    """``(line, record)`` of each record with a completion to score (:func:`completion_problem`
    is None), in order; the others are counted in ``skips`` under their line (``nums[i]``, or
    the index ``i`` of an in-memory list when ``nums`` is None)."""
    for i, rec in enumerate(recs):
        line = nums[i] if nums is not None else i
        problem = completion_problem(rec)
        if problem:
            skips.skip(source, line, problem)
            continue
        yield line, rec


def check_input_file(path: str, flag: str) -> None:
    """Raise :class:`RecordError` unless ``path`` (given with the command-line ``flag``) is a file."""
    if not os.path.exists(path):
        raise RecordError(path, None, f"no such file ({flag})")
    if os.path.isdir(path):
        raise RecordError(path, None, f"is a directory ({flag} expects a file)")
