"""Format rewards: is the completion written in the template the prompt asked for?

Computed from the parser's format facts (one native pass, shared with the other rewards through
the parse cache); no regex per completion.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._options import check_option
from ._base import BatchReward
from ._cache import cached_parse
from ._tiny import format_result, text_solutions

__all__ = ["FormatReward", "format_reward", "get_format_reward"]

_MODES = ("strict", "tags", "answer")


class FormatReward(BatchReward):
    r"""Template reward, 1 for a well-formed completion and 0 otherwise.

    ``mode``:

    * ``"strict"`` (default): the whole completion is ``<think>…</think>`` then whitespace then
      ``<answer>…</answer>``, newlines allowed anywhere; exactly
      ``re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", s, re.DOTALL)``, Visual-RFT's
      format reward (and R1-V's, open-r1's).
    * ``"tags"``: open-r1's tag-count variant, 0.25 for each of ``<think>``, ``</think>``,
      ``<answer>``, ``</answer>`` that occurs exactly once.
    * ``"answer"``: answer-only templates: exactly one closed ``<answer>`` block, no think block,
      and nothing but whitespace around it.
    """

    def __init__(self, *, name: str = "format_reward", mode: str = "strict") -> None:
        check_option(mode, _MODES, "mode")
        self.__name__ = name
        self.mode = mode
        self._field = 10 + _MODES.index(mode)  # the mode's value in a fused row

    def _tiny(self, completions: Sequence[Any], columns: dict) -> list:
        rows = format_result(completions, text_solutions(columns, len(completions)))[0]
        values = [r[self._field] for r in rows]
        if callable(columns.get("log_metric")):
            self._log(columns, {"frac_ok": sum(v == 1.0 for v in values) / len(values)})
        return values

    def score(self, completions: Sequence[Any], columns: dict) -> tuple[np.ndarray, dict]:
        p = cached_parse(completions, schema="auto", answer="last", require_tags=True, invalid="raise")
        if self.mode == "strict":
            values = p.strict_format.astype(np.float64)
        elif self.mode == "tags":
            values = 0.25 * (
                (p.n_think_open == 1).astype(np.float64)
                + (p.n_think_close == 1)
                + (p.n_answer_open == 1)
                + (p.n_answer_close == 1)
            )
        else:
            values = (
                (p.n_answer_open == 1)
                & (p.n_answer_close == 1)
                & p.answer_closed
                & (p.n_think_open == 0)
                & (p.n_think_close == 0)
                & ~p.text_outside
            ).astype(np.float64)
        return values, {"frac_ok": float(np.mean(values == 1.0)) if len(values) else 0.0}


def get_format_reward(**options: Any) -> FormatReward:
    """Configured :class:`FormatReward` (``mode`` in strict | tags | answer, ``name``)."""
    return FormatReward(**options)


format_reward = FormatReward()
