"""Small picklable reward functions with TRL's contract, for the integration tests.

They live in an importable module (not in a test file) so that Ray workers and subprocesses can
unpickle them by reference. Each has an obvious per-row definition; ``reference`` recomputes the
weighted total the slow, obvious way.
"""

from __future__ import annotations

import threading

import numpy as np

from vrft_rewards.rewards import RewardSet


def char_overlap(completions, solution, **kwargs):
    """Fraction of the completion's characters that occur in the solution; None without one."""
    out = []
    for c, s in zip(completions, solution):
        if s is None:
            out.append(None)
        elif not c:
            out.append(0.0)
        else:
            out.append(sum(ch in s for ch in c) / len(c))
    return out


def length_score(completions, **kwargs):
    """min(len, 8) / 8."""
    return [min(len(c), 8) / 8 for c in completions]


class PrefixReward:
    """1.0 when the completion starts with ``prefix``; None for completions that are empty."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.__name__ = "prefix_reward"

    def __call__(self, completions, **kwargs):
        return [None if not c else float(c.startswith(self.prefix)) for c in completions]


async def async_length(completions, **kwargs):
    """Async twin of length_score (awaited by TRL on its event loop)."""
    return [min(len(c), 8) / 8 for c in completions]


class CountingReward:
    """Counts its calls (per process) and returns the completion length; checks batch calls."""

    __name__ = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, completions, **kwargs):
        with self._lock:
            self.calls += 1
            self.batch_sizes.append(len(completions))
        return [float(len(c)) for c in completions]

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()


def needs_label(completions, label, **kwargs):
    """Raises like a real reward when its column is missing; 1.0 where completion == label."""
    return [float(c == lab) for c, lab in zip(completions, label)]


def toy_set() -> RewardSet:
    return RewardSet([char_overlap, length_score, PrefixReward("a")], weights=[1.0, 0.5, 2.0])


TOY_SET = toy_set()
TOY_FUNCS = [char_overlap, length_score]


def reference(completions, solution, weights=(1.0, 0.5, 2.0)):
    """Slow, obvious TRL total for ``toy_set``: nansum of weighted rewards, None if all None."""
    rows = []
    for c, s in zip(completions, solution):
        vals = [char_overlap([c], [s])[0], length_score([c])[0], PrefixReward("a")([c])[0]]
        terms = [w * v for w, v in zip(weights, vals) if v is not None]
        total = None
        if terms:  # left to right, as nansum does for a handful of terms
            total = 0.0
            for t in terms:
                total += t
        rows.append((total, vals))
    return rows


def random_batch(seed: int, n: int):
    rng = np.random.default_rng(seed)
    alphabet = list("abcxyz <>/")
    completions = ["".join(rng.choice(alphabet, size=int(rng.integers(0, 12)))) for _ in range(n)]
    solution = [
        None if rng.random() < 0.2 else "".join(rng.choice(alphabet, size=int(rng.integers(1, 6)))) for _ in range(n)
    ]
    return completions, solution


def batch_size_reward(completions, **kwargs):
    """Every row gets the size of the batch the function was called with (reveals sharding)."""
    return [float(len(completions))] * len(completions)


class MetricReward:
    """length_score that also reports the batch's mean length through TRL's log_metric."""

    __name__ = "metric_reward"

    def __call__(self, completions, log_metric=None, **kwargs):
        if log_metric is not None:
            log_metric("toy/mean_len", sum(len(c) for c in completions) / max(len(completions), 1))
        return [min(len(c), 8) / 8 for c in completions]
