"""Parse once per batch, however many reward functions score it.

TRL, verl and our own RewardSet call every reward function with the same ``completions`` (and
the same ``solution`` column) in one step.  The cache remembers the last few parsed batches and
returns the same :class:`~vrft_rewards.parsing.ParsedBatch` when a batch with *equal* items and
the same parse options comes again.

Why the key is safe: an entry is keyed on the texts the parser reads (``_C.completion_texts``:
each str, or the last assistant message's content of a chat-message list), which are immutable
strs, and matches only if they are equal element-wise.  So a recycled ``id()``, an in-place edit
of the list, or a chat message edited in place after the parse can never return another batch's
parse.  Building the key is one native pass, and the comparison is cheap in the common case
because Python compares identical objects by identity first.  Entries hold references to their
texts, so only a handful are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Sequence

from .._ext import _C
from .._options import INVALID_ENTRIES, check_option
from ..parsing import ParsedBatch, parse_completions

__all__ = ["cached_parse", "clear_parse_cache"]

_MAX_ENTRIES = 8


class _ParseCache:
    def __init__(self, max_entries: int = _MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[tuple, tuple, ParsedBatch]] = []
        self._max = max_entries

    def get(self, items: Sequence[Any], options: dict) -> ParsedBatch:
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            return parse_completions(items, **options)  # raises the parser's own TypeError
        invalid = options.get("invalid", "raise")
        check_option(invalid, INVALID_ENTRIES, "invalid")
        key = tuple(sorted(options.items()))
        # Immutable snapshot of what is parsed (never the caller's chat-message lists).
        texts = _C.completion_texts(items if isinstance(items, (list, tuple)) else list(items), invalid)
        with self._lock:
            for i, (opts, stored, parsed) in enumerate(self._entries):
                if opts == key and len(stored) == len(texts) and stored == texts:
                    self._entries.append(self._entries.pop(i))  # most recently used last
                    return parsed
        parsed = parse_completions(texts, **options)
        with self._lock:
            self._entries.append((key, texts, parsed))
            del self._entries[: max(0, len(self._entries) - self._max)]
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _ParseCache()


class RecentResults:
    """The last few results derived from cached objects (a ParsedBatch, a BoxProblems), so that
    several rewards scoring one batch with the same options derive them once.

    Keyed on the *identity* of those objects plus an options key: the entries hold the objects,
    so an identity cannot be recycled while its entry lives, and the objects come from
    content-keyed caches, so equal batches give the same objects.
    """

    def __init__(self, size: int = 4) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[tuple, Any, Any]] = []
        self._size = size

    def get(self, owners: tuple, key: Any) -> Any:
        """The stored value for ``owners`` (compared by identity) and ``key``, else None."""
        with self._lock:
            for stored, k, value in self._entries:
                if len(stored) == len(owners) and all(a is b for a, b in zip(stored, owners)) and k == key:
                    return value
        return None

    def put(self, owners: tuple, key: Any, value: Any) -> None:
        with self._lock:
            self._entries.append((owners, key, value))
            del self._entries[: max(0, len(self._entries) - self._size)]


def cached_parse(items: Sequence[Any], **options: Any) -> ParsedBatch:
    """:func:`vrft_rewards.parse_completions` with a small, thread-safe, content-keyed cache."""
    return _CACHE.get(items, options)


def clear_parse_cache() -> None:
    """Drop every cached parse (tests; or to release memory)."""
    _CACHE.clear()
