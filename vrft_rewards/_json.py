"""JSON loading for annotation, result and record files: orjson when installed, the stdlib otherwise.

Every loader here raises ``ValueError`` for any input it cannot read, including JSON nested too
deeply for the parser (the stdlib raises ``RecursionError``, which is no ``ValueError``: one line
of ``[`` x 100,000 would otherwise end a command with a traceback).
"""

from __future__ import annotations

import json
import os
from typing import Any

try:  # optional speed-up (``pip install vrft-rewards[fast-json]``)
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    _orjson = None

__all__ = ["JSONTooDeepError", "load_json", "loads_json", "loads_text", "strict_loads"]


class JSONTooDeepError(ValueError):
    """JSON nested too deeply for the parser (the stdlib's ``RecursionError``, as a ValueError)."""

    def __init__(self) -> None:
        super().__init__("JSON nested too deeply")


def strict_loads(data: bytes | str) -> Any:
    """The fastest available ``loads`` as is (orjson, which rejects NaN / Infinity, or the stdlib's);
    every failure is a ``ValueError``.  For line-by-line JSONL, where a line it rejects is skipped."""
    try:
        return _orjson.loads(data) if _orjson is not None else json.loads(data)
    except RecursionError:
        raise JSONTooDeepError() from None


def load_json(path: str | os.PathLike) -> Any:
    """Parse the JSON file at ``path`` (orjson if available: ~3x faster than ``json``)."""
    with open(path, "rb") as f:
        return loads_json(f.read())


def loads_json(data: bytes) -> Any:
    """Parse JSON bytes (orjson if available); every failure is a ``ValueError``."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # e.g. NaN / Infinity, which Python's json accepts: let it decide (or explain)
    return loads_text(data)


def loads_text(data: bytes | str) -> Any:
    """``json.loads`` (the stdlib: NaN / Infinity accepted, ``JSONDecodeError`` with line numbers),
    with JSON nested too deeply raised as ``ValueError`` too."""
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONTooDeepError() from None
