"""The work behind ``vrft-rewards eval ...`` (argument declarations live in :mod:`vrft_rewards.cli`;
``vrft-rewards score`` is :mod:`vrft_rewards.score`)."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional, TextIO

from .._json import loads_text
from .._ray import init_ray_for_command
from .records import RecordError, check_input_file, load_json_file
from .report import EvalReport, write_report

__all__ = ["run_eval"]


def _json_arg(text: Optional[str], what: str) -> Any:
    """A JSON value given inline or as a path to a JSON file."""
    if text is None:
        return None
    if os.path.exists(text):
        return load_json_file(text, what)
    try:
        return loads_text(text)
    except ValueError as e:  # not JSON, or nested too deeply
        raise RecordError(
            what, None, f"must be inline JSON or a path to a JSON file ({e}), got {text[:80]!r}"
        ) from None


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


def _protocol_args(args: Any) -> dict:
    return {"protocol": args.protocol.replace("-", "_"), "compare_protocols": not args.no_compare}


def _finish(report: EvalReport, args: Any, out: TextIO) -> int:
    print(report.text(), file=out)
    if args.out:
        written = write_report(report, args.out, plots=not args.no_plots)
        print(
            f"\nwrote {written['metrics']}, {written['report']}"
            + (f" and {len(written['plots'])} plots" if written["plots"] else "")
            + (
                f" (plots skipped: {written['plots_skipped']})"
                if written["plots_skipped"] and not args.no_plots
                else ""
            ),
            file=out,
        )
    return 0


def run_eval(args: Any, out: Optional[TextIO] = None) -> int:
    """``vrft-rewards eval <task>``: evaluate a JSONL of model outputs and print / write the report."""
    out = sys.stdout if out is None else out
    task = args.task
    check_input_file(args.pred, "--pred")
    if args.gt is not None:
        check_input_file(args.gt, "--gt")
    show = None if args.progress else False
    if task in ("coco", "lvis"):
        if args.gt is None:
            raise RecordError("--gt", None, f"eval {task} needs --gt (the COCO / LVIS ground-truth json)")
        from .detection import evaluate_detection

        default_score = None if str(args.default_score).lower() == "drop" else float(args.default_score)
        if args.ray:
            init_ray_for_command(args.num_shards)
        report = evaluate_detection(
            args.gt,
            args.pred,
            kind=task,
            categories=args.categories,
            frame=args.frame,
            default_score=default_score,
            synonyms=_json_arg(args.synonyms, "--synonyms"),
            dedupe=not args.no_dedupe,
            require_tags=not args.no_require_tags,
            images=args.images,
            strict=args.strict,
            ray=args.ray,
            num_shards=args.num_shards,
            show_progress=show,
            **_protocol_args(args),
            model_metrics=not args.no_model_metrics,
            n_draws=args.draws,
            seed=args.seed,
        )
    elif task == "classification":
        from .classification import evaluate_classification

        report = evaluate_classification(
            args.pred,
            args.gt,
            mode=args.mode,
            classes=_classes_arg(args.classes),
            aliases=_json_arg(args.aliases, "--aliases"),
            require_tags=not args.no_require_tags,
            strict=args.strict,
            show_progress=show,
            **_protocol_args(args),
        )
    elif task == "grounding":
        from .grounding import evaluate_grounding

        report = evaluate_grounding(
            args.pred,
            args.gt,
            frame=args.frame,
            answer=args.answer,
            require_tags=not args.no_require_tags,
            threshold=args.threshold,
            strict=args.strict,
            show_progress=show,
            **_protocol_args(args),
        )
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(f"unknown eval task {task!r}")
    return _finish(report, args, out)
