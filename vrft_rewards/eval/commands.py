"""The work behind ``vrft-rewards eval ...`` and ``vrft-rewards score`` (argument declarations
live in :mod:`vrft_rewards.cli`)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional, TextIO

import numpy as np

from .._ray import init_ray_for_command
from .records import (RecordError, SkipLog, completion_problem, load_json_file, read_jsonl,
                      scorable_records)
from .report import EvalReport, write_report

__all__ = ["run_eval", "run_score", "score_records"]


def _json_arg(text: Optional[str], what: str) -> Any:
    """A JSON value given inline or as a path to a JSON file."""
    if text is None:
        return None
    if os.path.exists(text):
        return load_json_file(text, what)
    try:
        return json.loads(text)
    except ValueError:
        raise RecordError(what, None, f"must be inline JSON or a path to a JSON file, got {text!r}") from None


def _classes_arg(text: Optional[str]) -> Optional[list]:
    if text is None:
        return None
    if os.path.exists(text):
        try:
            with open(text, encoding="utf-8") as f:
                return [line.strip() for line in f if line.strip()]
        except OSError as e:
            raise RecordError(text, None, f"cannot read classes: {e.strerror or e}") from None
    return [c.strip() for c in text.split(",") if c.strip()]


def _check_file(path: str, flag: str) -> None:
    if not os.path.exists(path):
        raise RecordError(path, None, f"no such file ({flag})")
    if os.path.isdir(path):
        raise RecordError(path, None, f"is a directory ({flag} expects a file)")


def _finish(report: EvalReport, args: Any, out: TextIO) -> int:
    print(report.text(), file=out)
    if args.out:
        written = write_report(report, args.out, plots=not args.no_plots)
        print(f"\nwrote {written['metrics']}, {written['report']}"
              + (f" and {len(written['plots'])} plots" if written["plots"] else "")
              + (f" (plots skipped: {written['plots_skipped']})" if written["plots_skipped"]
                 and not args.no_plots else ""), file=out)
    return 0


def run_eval(args: Any, out: Optional[TextIO] = None) -> int:
    """``vrft-rewards eval <task>``: evaluate a JSONL of model outputs and print / write the report."""
    out = sys.stdout if out is None else out
    task = args.task
    _check_file(args.pred, "--pred")
    if args.gt is not None:
        _check_file(args.gt, "--gt")
    show = None if args.progress else False
    if task in ("coco", "lvis"):
        if args.gt is None:
            raise RecordError("--gt", None, f"eval {task} needs --gt (the COCO / LVIS ground-truth json)")
        from .detection import evaluate_detection

        default_score = None if str(args.default_score).lower() == "drop" else float(args.default_score)
        if args.ray:
            init_ray_for_command(args.num_shards)
        report = evaluate_detection(
            args.gt, args.pred, kind=task, categories=args.categories, frame=args.frame,
            default_score=default_score, synonyms=_json_arg(args.synonyms, "--synonyms"),
            dedupe=not args.no_dedupe, require_tags=not args.no_require_tags, images=args.images,
            strict=args.strict, ray=args.ray, num_shards=args.num_shards, show_progress=show)
    elif task == "classification":
        from .classification import evaluate_classification

        report = evaluate_classification(args.pred, args.gt, mode=args.mode,
                                         classes=_classes_arg(args.classes),
                                         aliases=_json_arg(args.aliases, "--aliases"),
                                         require_tags=not args.no_require_tags, strict=args.strict,
                                         show_progress=show)
    elif task == "grounding":
        from .grounding import evaluate_grounding

        report = evaluate_grounding(args.pred, args.gt, frame=args.frame, answer=args.answer,
                                    require_tags=not args.no_require_tags, threshold=args.threshold,
                                    strict=args.strict, show_progress=show)
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(f"unknown eval task {task!r}")
    return _finish(report, args, out)


def score_records(records: list, lines: list, source: str, task: str, options: dict, skips: SkipLog,
                  *, ray: bool = False, num_shards: Optional[int] = None) -> tuple[Any, list]:
    """Score rollout records ``{"completion", <dataset columns>...}`` with a reward preset.

    Returns the :class:`~vrft_rewards.rewards.combine.RewardSetResult` and the kept locations.
    Columns are the union of the records' keys (other than ``completion``); a record without a
    column gets ``None`` there (the rewards skip rows whose ground truth is missing).
    """
    from ..rewards import resolve_reward_set

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
        from ..distributed import score_with_ray

        result = score_with_ray(task, comps, num_shards=num_shards, preset_kwargs=options, **columns)
    else:
        result = resolve_reward_set(task, **options)(comps, **columns)
    return result, where


def run_score(args: Any, options: dict, out: Optional[TextIO] = None) -> int:
    """``vrft-rewards score``: reward distribution of a rollout file under a preset."""
    out = sys.stdout if out is None else out
    _check_file(args.input, "--input")
    skips = SkipLog(strict=args.strict)
    records, lines = read_jsonl(args.input, skips=skips, show_progress=None if args.progress else False)
    if args.ray:
        init_ray_for_command(args.num_shards)
    result, where = score_records(records, lines, args.input, args.task, options, skips, ray=args.ray,
                                  num_shards=args.num_shards)
    rows, dist = [], {}
    names = ["overall"] + list(result.names)
    cols = [result.overall] + [result.matrix[:, j] for j in range(result.matrix.shape[1])]
    for name, v in zip(names, cols):
        ok = v[np.isfinite(v)]
        q = np.quantile(ok, [0.0, 0.25, 0.5, 0.75, 1.0]) if len(ok) else [float("nan")] * 5
        d = {"n": int(len(ok)), "skipped": int(len(v) - len(ok)),
             "mean": float(ok.mean()) if len(ok) else float("nan"),
             "std": float(ok.std()) if len(ok) else float("nan"),
             "min": float(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]),
             "max": float(q[4])}
        dist[name] = d
        rows.append([name, d["n"], d["skipped"], d["mean"], d["std"], d["min"], d["p25"], d["median"],
                     d["p75"], d["max"]])
    headers = ["reward", "n", "skipped", "mean", "std", "min", "p25", "median", "p75", "max"]
    from ..parsing import parse_completions
    from .parse_stats import parse_statistics

    # The completions score_records kept (the same rule, so `where` lines up with them).
    comps = [r["completion"] for r in records if completion_problem(r) is None]
    parsed = parse_completions(comps, invalid="empty")
    parse = parse_statistics(parsed, comps, where=where)
    report = EvalReport(task="score", metrics={"task": args.task, "options": options, "rewards": dist,
                                               "n": int(len(result))},
                        tables=[(f"Rewards of {len(result)} rollouts, preset '{args.task}'", headers, rows)],
                        parse=parse, skipped=skips,
                        arrays={"rewards": {n: c[np.isfinite(c)] for n, c in zip(names, cols)}})
    print(report.text(), file=out)
    if args.out:
        written = write_report(report, args.out, plots=not args.no_plots)
        print(f"\nwrote {written['metrics']} and {written['report']}", file=out)
    return 0
