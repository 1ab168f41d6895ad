"""``vrft-rewards score``: the reward distribution of a rollout file under a preset.

Reads a JSONL of rollouts ``{"completion", <dataset columns>...}``, scores it with a reward
preset (in process or on Ray), and prints / writes the distribution of every reward with the
parse statistics, as the evaluation reports do (argument declarations live in
:mod:`vrft_rewards.cli`).
"""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

import numpy as np

from ._ray import init_ray_for_command
from .distributed import score_with_ray
from .eval.parse_stats import parse_statistics
from .eval.records import RecordError, SkipLog, check_input_file, completion_problem, read_jsonl, scorable_records
from .eval.report import EvalReport, write_report
from .parsing import parse_completions
from .rewards import resolve_reward_set

__all__ = ["run_score", "score_records"]


def score_records(
    records: list,
    lines: list,
    source: str,
    task: str,
    options: dict,
    skips: SkipLog,
    *,
    ray: bool = False,
    num_shards: Optional[int] = None,
) -> tuple[Any, list]:
    """Score rollout records ``{"completion", <dataset columns>...}`` with a reward preset.

    Returns the :class:`~vrft_rewards.rewards.combine.RewardSetResult` and the kept locations.
    Columns are the union of the records' keys (other than ``completion``); a record without a
    column gets ``None`` there (the rewards skip rows whose ground truth is missing).
    """

    comps, kept, where = [], [], []
    for line, rec in scorable_records(records, lines, source, skips):
        comps.append(rec["completion"])
        kept.append(rec)
        where.append(f"{source}:{line}")
    if not comps:
        raise RecordError(source, None, "no record with a 'completion' to score")
    keys = sorted({k for r in kept for k in r} - {"completion"})
    columns = {k: [r.get(k) for r in kept] for k in keys}
    if ray:
        result = score_with_ray(task, comps, num_shards=num_shards, preset_kwargs=options, **columns)
    else:
        result = resolve_reward_set(task, **options)(comps, **columns)
    return result, where


def run_score(args: Any, options: dict, out: Optional[TextIO] = None) -> int:
    """``vrft-rewards score``: reward distribution of a rollout file under a preset."""
    out = sys.stdout if out is None else out
    check_input_file(args.input, "--input")
    skips = SkipLog(strict=args.strict)
    records, lines = read_jsonl(args.input, skips=skips, show_progress=None if args.progress else False)
    if args.ray:
        init_ray_for_command(args.num_shards)
    result, where = score_records(
        records, lines, args.input, args.task, options, skips, ray=args.ray, num_shards=args.num_shards
    )
    rows, dist = [], {}
    names = ["overall"] + list(result.names)
    cols = [result.overall] + [result.matrix[:, j] for j in range(result.matrix.shape[1])]
    for name, v in zip(names, cols):
        ok = v[np.isfinite(v)]
        q = np.quantile(ok, [0.0, 0.25, 0.5, 0.75, 1.0]) if len(ok) else [float("nan")] * 5
        d = {
            "n": int(len(ok)),
            "skipped": int(len(v) - len(ok)),
            "mean": float(ok.mean()) if len(ok) else float("nan"),
            "std": float(ok.std()) if len(ok) else float("nan"),
            "min": float(q[0]),
            "p25": float(q[1]),
            "median": float(q[2]),
            "p75": float(q[3]),
            "max": float(q[4]),
        }
        dist[name] = d
        rows.append(
            [name, d["n"], d["skipped"], d["mean"], d["std"], d["min"], d["p25"], d["median"], d["p75"], d["max"]]
        )
    headers = ["reward", "n", "skipped", "mean", "std", "min", "p25", "median", "p75", "max"]
    # The completions score_records kept (the same rule, so `where` lines up with them).
    comps = [r["completion"] for r in records if completion_problem(r) is None]
    parsed = parse_completions(comps, invalid="empty")
    parse = parse_statistics(parsed, comps, where=where)
    report = EvalReport(
        task="score",
        metrics={"task": args.task, "options": options, "rewards": dist, "n": int(len(result))},
        tables=[(f"Rewards of {len(result)} rollouts, preset '{args.task}'", headers, rows)],
        parse=parse,
        skipped=skips,
        arrays={"rewards": {n: c[np.isfinite(c)] for n, c in zip(names, cols)}},
    )
    print(report.text(), file=out)
    if args.out:
        written = write_report(report, args.out, plots=not args.no_plots)
        print(f"\nwrote {written['metrics']} and {written['report']}", file=out)
    return 0
