"""Score a batch with several reward functions at once: :class:`RewardSet` and its result.

Every trainer adapter in :mod:`vrft_rewards.integrations`, the HTTP server and the Ray helpers
go through :class:`RewardSet`, so they all share one rule for weights and ``None``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._base import BatchReward
from ._tiny import TINY_BATCH
from .reward_set_result import OVERALL, RewardSetResult

__all__ = ["RewardSet", "RewardSetResult", "reward_name"]

_NAN = float("nan")


def reward_name(func: Callable[..., Any]) -> str:
    """Return the name TRL logs a reward function under.

    Parameters
    ----------
    func : callable
        A function, a ``functools.partial`` of one, or a callable instance.

    Returns
    -------
    str
        ``func.__name__`` after unwrapping ``functools.partial``; the class name for callable
        instances without ``__name__``. This is the rule of TRL's ``get_callable_name``, so the
        names here match TRL's ``rewards/<name>/mean`` log keys.

    Examples
    --------
    >>> import functools
    >>> def my_reward(completions, **kwargs):
    ...     return [1.0] * len(completions)
    >>> reward_name(functools.partial(my_reward))
    'my_reward'
    """
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)


def _is_async_callable(func: Callable[..., Any]) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(type(func), "__call__", None)  # noqa: B004 - the method itself: is it async?
    return call is not None and inspect.iscoroutinefunction(call)


class RewardSet:
    """Several TRL-style reward functions with weights, applied to a whole batch at once.

    Parameters
    ----------
    funcs : sequence of callable
        Reward functions with TRL's contract ``f(completions, **kwargs) -> list[float | None]``
        (keyword arguments only; ``async def`` functions are accepted too). Each must be picklable
        for the HTTP/Ray paths (module-level functions or callable class instances).
    weights : sequence of float, optional
        One finite weight per function (default: all 1.0, as TRL's ``reward_weights``).
    names : sequence of str, optional
        One name per function (default: :func:`reward_name`, TRL's naming rule). Names must be
        unique and must not be ``"overall"``.

    Raises
    ------
    TypeError
        If ``funcs`` is not a sequence of callables, or ``weights``/``names`` have wrong types.
    ValueError
        If ``funcs`` is empty, lengths differ, a weight is not finite, or names repeat or use
        ``"overall"``.

    Notes
    -----
    Calling the set with ``(completions, **columns)`` calls every function exactly once on the
    whole batch, with the same keyword arguments (``completions`` plus every column, and whatever
    else the caller passes, e.g. TRL's ``prompts``, ``log_metric``, ``log_extra``), in order.

    ``None`` means "skip", as in TRL (>= 0.16): a skipped reward becomes NaN in
    :attr:`RewardSetResult.matrix` and is left out of the total, which is TRL's
    ``nansum(weights * rewards)`` (``GRPOTrainer`` with ``multi_objective_aggregation=
    "sum_then_normalize"``):

    .. math:: \\mathrm{overall}_i = \\sum_{j:\\, r_{ij} \\ne \\mathrm{None}} w_j\\, r_{ij}

    A row where *every* function returned ``None`` is unscorable: its overall is NaN (``None`` in
    lists), as TRL >= 1.6 marks such rows, not the 0 a bare ``nansum`` would give. A function
    returning NaN is treated like ``None``. Arithmetic is float64, summed left to right over the
    functions in order (TRL uses float32 tensors, so its sums may differ from ours in the last
    float32 bits).

    Examples
    --------
    >>> def has_answer(completions, **kwargs):
    ...     return [1.0 if "<answer>" in c else 0.0 for c in completions]
    >>> def exact(completions, solution, **kwargs):
    ...     return [None if s is None else float(c == s) for c, s in zip(completions, solution)]
    >>> rs = RewardSet([has_answer, exact], weights=[0.5, 1.0])
    >>> res = rs(["<answer>3</answer>", "4"], solution=["<answer>3</answer>", None])
    >>> res.to_dict()
    {'overall': [1.5, 0.0], 'has_answer': [1.0, 0.0], 'exact': [1.0, None]}
    """

    def __init__(
        self,
        funcs: Sequence[Callable[..., Any]],
        weights: Sequence[float] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        if callable(funcs) or isinstance(funcs, (str, bytes, Mapping)) or not isinstance(funcs, Sequence):
            raise TypeError(f"funcs must be a sequence of reward callables, got {type(funcs).__name__}")
        funcs = tuple(funcs)
        if not funcs:
            raise ValueError("funcs must hold at least one reward function, got an empty sequence")
        for i, f in enumerate(funcs):
            if not callable(f):
                raise TypeError(f"funcs[{i}] must be callable, got {type(f).__name__}")
        n = len(funcs)

        if weights is None:
            w = np.ones(n, dtype=np.float64)
        else:
            if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
                raise TypeError(f"weights must be a sequence of numbers, got {type(weights).__name__}")
            try:
                w = np.asarray(weights, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"weights must be a sequence of numbers, got {list(weights)!r}") from None
            if w.shape != (n,):
                raise ValueError(f"weights must have one entry per function ({n}), got shape {w.shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"weights must be finite, got {w.tolist()}")
        w.setflags(write=False)

        if names is None:
            nm = tuple(reward_name(f) for f in funcs)
        else:
            if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
                raise TypeError(f"names must be a sequence of str, got {type(names).__name__}")
            nm = tuple(names)
            if len(nm) != n:
                raise ValueError(f"names must have one entry per function ({n}), got {len(nm)}")
            for i, s in enumerate(nm):
                if not isinstance(s, str) or not s:
                    raise TypeError(f"names[{i}] must be a non-empty str, got {s!r}")
        if OVERALL in nm:
            raise ValueError(f"name {OVERALL!r} is reserved for the weighted total; rename that function")
        dup = sorted({s for s in nm if nm.count(s) > 1})
        if dup:
            raise ValueError(f"reward names must be unique, got duplicates {dup}; pass names=[...]")

        self._funcs = funcs
        self._weights = w
        self._weight_list = w.tolist()
        self._names = nm

    # -- introspection -------------------------------------------------------------------------
    @property
    def funcs(self) -> tuple[Callable[..., Any], ...]:
        """The reward functions, in order."""
        return self._funcs

    @property
    def weights(self) -> tuple[float, ...]:
        """One weight per function (read-only)."""
        return tuple(self._weights.tolist())

    @property
    def names(self) -> tuple[str, ...]:
        """One name per function (TRL's log names unless given)."""
        return self._names

    def __len__(self) -> int:
        return len(self._funcs)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}×{w:g}" for n, w in zip(self._names, self._weights.tolist()))
        return f"RewardSet([{parts}])"

    def __getstate__(self) -> dict[str, Any]:
        return {"funcs": self._funcs, "weights": self._weights.tolist(), "names": self._names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["funcs"], state["weights"], state["names"])

    # -- scoring -------------------------------------------------------------------------------
    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> RewardSetResult:
        """Score a batch: every function once on the whole batch.

        Parameters
        ----------
        completions : sequence, length B
            Completions (strings or chat messages), passed through unchanged.
        **kwargs
            Dataset columns as per-sample lists of length B, plus anything else the functions
            accept (``prompts``, ``log_metric``, ``log_extra``, ...), passed to every function.

        Returns
        -------
        RewardSetResult

        Raises
        ------
        TypeError
            If ``completions`` is not a sequence, a function returns something that is not a
            sequence of numbers/None, or an ``async def`` function is called from inside a
            running event loop (use :meth:`ascore` there).
        ValueError
            If a function returns a list whose length is not B.
        """
        n = _batch_len(completions)
        if 0 < n <= TINY_BATCH:
            return self._call_small(completions, kwargs, n)
        cols = []
        for f, name in zip(self._funcs, self._names):
            out = _call(f, completions, kwargs)
            if inspect.isawaitable(out):
                out = _run_coroutine(out, name)
            cols.append(_as_column(out, n, name))
        return self._combine(cols, n)

    def _call_small(self, completions: Sequence[Any], kwargs: dict[str, Any], n: int) -> RewardSetResult:
        """:meth:`__call__` for a tiny batch (a trainer scoring one sample at a time): our rewards'
        fused path gives Python floats, and the total is added in Python floats in the order of
        :meth:`_combine`, so the result is the same to the bit without numpy per function."""
        cols = []
        for f, name in zip(self._funcs, self._names):
            values = f._small(completions, kwargs) if _is_own(f) else None
            if values is None:
                out = _call(f, completions, kwargs)
                if inspect.isawaitable(out):
                    out = _run_coroutine(out, name)
                values = _as_column(out, n, name).tolist()
            cols.append(values)
        w0, *rest = self._weight_list
        rows, overall = [], []
        for row in zip(*cols):
            v = row[0]
            scored = v == v
            total = (v if scored else 0.0) * w0  # NaN (skip) counts 0
            for v, w in zip(row[1:], rest):
                if v == v:
                    scored = True
                    total += v * w
                else:
                    total += 0.0 * w
            rows.append(row)
            overall.append(total if scored else _NAN)
        matrix = np.array(rows, dtype=np.float64)
        total_arr = np.array(overall, dtype=np.float64)
        matrix.setflags(write=False)
        total_arr.setflags(write=False)
        return RewardSetResult(self._names, self._weights, matrix, total_arr)

    async def ascore(self, completions: Sequence[Any], **kwargs: Any) -> RewardSetResult:
        """Async twin of :meth:`__call__`.

        Async functions are awaited concurrently (``asyncio.gather``); the sync ones run, in order
        and once each, in one worker thread (``asyncio.to_thread``) so that the event loop stays
        free while the native core works (it releases the GIL).
        """
        n = _batch_len(completions)
        sync_idx = [j for j, f in enumerate(self._funcs) if not _is_async_callable(f)]
        async_idx = [j for j in range(len(self._funcs)) if j not in sync_idx]

        def run_sync() -> list[Any]:
            return [_call(self._funcs[j], completions, kwargs) for j in sync_idx]

        async def run_async() -> list[Any]:
            return list(await asyncio.gather(*(self._funcs[j](completions=completions, **kwargs) for j in async_idx)))

        sync_out, async_out = await asyncio.gather(asyncio.to_thread(run_sync) if sync_idx else _empty(), run_async())
        outs: list[Any] = [None] * len(self._funcs)
        for j, o in zip(sync_idx, sync_out):
            outs[j] = await o if inspect.isawaitable(o) else o
        for j, o in zip(async_idx, async_out):
            outs[j] = o
        cols = [_as_column(o, n, name) for o, name in zip(outs, self._names)]
        return self._combine(cols, n)

    def _combine(self, cols: list[np.ndarray], n: int) -> RewardSetResult:
        matrix = np.stack(cols, axis=1) if n else np.zeros((0, len(cols)), dtype=np.float64)
        # TRL: (rewards * weights).nansum(dim=1), then rows with every reward NaN set back to NaN.
        # Column by column, left to right (the order nansum uses for a handful of terms), with
        # NaN -> 0 first; ~2x faster than np.nansum, which copies the weighted matrix again.
        skipped = np.isnan(matrix)
        filled = np.where(skipped, 0.0, matrix)
        overall = filled[:, 0] * self._weights[0]
        for j in range(1, matrix.shape[1]):
            overall += filled[:, j] * self._weights[j]
        overall[skipped.all(axis=1)] = np.nan
        matrix.setflags(write=False)
        overall.setflags(write=False)
        return RewardSetResult(self._names, self._weights, matrix, overall)


def _is_own(f: Callable[..., Any]) -> bool:
    """One of this package's rewards, called as itself (not a subclass that changed ``__call__``)."""
    return isinstance(f, BatchReward) and type(f).__call__ is BatchReward.__call__


def _call(f: Callable[..., Any], completions: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``f(completions=..., **kwargs)``; our own rewards give their float64 array directly
    (the same values as their list, without a list built and parsed back per function)."""
    if _is_own(f):
        return f.score_array(completions=completions, **kwargs)
    return f(completions=completions, **kwargs)


async def _empty() -> list[Any]:
    return []


def _batch_len(completions: Any) -> int:
    if isinstance(completions, (str, bytes)) or not hasattr(completions, "__len__"):
        raise TypeError(f"completions must be a list of completions, got {type(completions).__name__}")
    return len(completions)


def _run_coroutine(coro: Any, name: str) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(coro))
    if hasattr(coro, "close"):
        coro.close()
    raise TypeError(f"reward {name!r} is async and an event loop is running here; await RewardSet.ascore(...) instead")


async def _await(aw: Any) -> Any:
    return await aw


def _as_column(out: Any, n: int, name: str) -> np.ndarray:
    """Convert one function's output to a float64 column, None/NaN -> NaN, checking the contract."""
    if isinstance(out, (str, bytes, Mapping)) or not hasattr(out, "__len__"):
        raise TypeError(f"reward {name!r} must return a list of float | None, got {type(out).__name__}")
    if len(out) != n:
        raise ValueError(
            f"reward {name!r} returned {len(out)} rewards for {n} completions; expected one per completion"
        )
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # a torch tensor, without importing torch
        out = out.detach().cpu().numpy()
    try:
        raw = (
            out
            if isinstance(out, np.ndarray)
            else np.asarray(out if isinstance(out, list) else list(out), dtype=object if n == 0 else None)
        )
    except (TypeError, ValueError):  # ragged nesting
        raise TypeError(f"reward {name!r} must return a flat list of float | None") from None
    # numpy would parse numeric strings ("1.0") under dtype=float64; a reward returning text is a bug.
    if raw.dtype.kind not in "biuf":
        items = raw.ravel().tolist()
        # exact-type scan first (fast); the ABC check only if something unusual shows up
        if not all(v is None or type(v) in _PLAIN_NUMBERS for v in items) and not all(
            _is_number_or_none(v) for v in items
        ):
            bad = next((v for v in items if not _is_number_or_none(v)), raw.dtype)
            raise TypeError(f"reward {name!r} must return float | None per completion, got {bad!r}")
    # numpy maps None to NaN under dtype=float64 in one C pass.
    col = raw.astype(np.float64)
    if col.ndim != 1:
        raise TypeError(f"reward {name!r} must return a flat list of float | None, got shape {col.shape}")
    return col


_PLAIN_NUMBERS = (float, int, bool, np.float64, np.float32)


def _is_number_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, (numbers.Real, np.number)) and not isinstance(v, np.datetime64))
