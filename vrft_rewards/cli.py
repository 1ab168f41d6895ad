"""The ``vrft-rewards`` command.

Each subcommand is one ``_add_<cmd>_parser(subparsers)`` that declares its arguments and one
``_run_<cmd>(args) -> int`` that does the work; :data:`_COMMANDS` lists them. To add a command,
write the pair and append it there. A ``_run_*`` reports user mistakes by raising
:class:`CLIError` (or ``ValueError``/``TypeError``/``OSError`` from the library): :func:`main`
prints them as one line on stderr and returns 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._json import JSONTooDeepError, loads_text

__all__ = ["CLIError", "main"]

PROG = "vrft-rewards"


class CLIError(Exception):
    """A user mistake: printed as ``vrft-rewards: error: <message>``, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse's default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- serve ---------------------------------------------------------------------------------------
def _add_serve_parser(subparsers: Any) -> None:
    from vrft_rewards.serve import DEFAULT_MAX_BODY_BYTES

    p = subparsers.add_parser(
        "serve",
        help="run the HTTP reward server (OpenRLHF /get_reward, JSON /score)",
        description="Serve a reward task over HTTP: POST /get_reward (OpenRLHF's remote reward protocol), "
        "POST /score (plain JSON, any trainer), GET /health. Stops on Ctrl-C / SIGTERM after "
        "finishing in-flight requests.",
    )
    p.add_argument(
        "--task",
        required=True,
        help="preset name (detection, classification, grounding, ...) or 'package.module:attribute' "
        "naming a RewardSet or a list of reward functions",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: %(default)s; 0.0.0.0 exposes it, without authentication)",
    )
    p.add_argument("--port", type=_port, default=8000, help="TCP port, 0 for any free one (default: %(default)s)")
    p.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="reject larger requests with 413 (default: %(default)s)",
    )
    limits = (
        ("--backlog", _positive_int, 1024, "N", "listen queue for bursts of connections"),
        ("--workers", _positive_int, 8, "N", "threads that score complete requests"),
        ("--max-connections", _positive_int, 1024, "N", "connections open at once; more get 503"),
        ("--read-timeout", _positive_float, 30.0, "S", "seconds a client has to send its request (408 after)"),
        ("--shutdown-timeout", _positive_float, 10.0, "S", "seconds SIGTERM waits for requests being scored"),
        ("--max-json-values", _positive_int, 1_000_000, "N", "JSON values a body may hold (413 beyond)"),
    )
    for flag, kind, default, metavar, text in limits:
        p.add_argument(flag, type=kind, default=default, metavar=metavar, help=text + " (default: %(default)s)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="options",
        help="preset option, repeatable; VALUE is parsed as JSON if it can be, else kept as text "
        "(e.g. --option coord_frame=norm1000)",
    )
    p.add_argument(
        "--none-score",
        type=float,
        default=0.0,
        metavar="X",
        help="/get_reward value for rows no reward can score (default: %(default)s)",
    )
    p.add_argument(
        "--label-column",
        default="solution",
        metavar="NAME",
        help="column that /get_reward string labels fill (default: %(default)s)",
    )
    p.add_argument(
        "--log-metrics",
        action="store_true",
        help="add the batch metrics the rewards report (log_metric) to /get_reward's extra_logs",
    )
    p.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level; DEBUG logs every request (default: %(default)s)",
    )


def _run_serve(args: argparse.Namespace) -> int:
    import logging

    from vrft_rewards.serve import serve

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(
        args.task,
        args.host,
        args.port,
        max_body_bytes=args.max_body_bytes,
        preset_kwargs=_parse_options(args.options),
        none_score=args.none_score,
        label_column=args.label_column,
        log_metrics=args.log_metrics,
        backlog=args.backlog,
        workers=args.workers,
        max_connections=args.max_connections,
        read_timeout=args.read_timeout,
        shutdown_timeout=args.shutdown_timeout,
        max_json_values=args.max_json_values,
    )
    return 0


# -- demo ----------------------------------------------------------------------------------------
def _add_demo_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="score a bundled GRPO step and evaluate bundled model outputs (seconds)",
        description="Run both jobs of the package on bundled data: score one GRPO step with the "
        "Visual-RFT and default detection rewards, then evaluate model outputs against a "
        "small COCO ground truth, printing the tables.",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="also write metrics.json and report.md into DIR")


def _run_demo(args: argparse.Namespace) -> int:
    from vrft_rewards.demo import run_demo

    run_demo(args.out)
    return 0


# -- eval ----------------------------------------------------------------------------------------
def _common_eval_args(p: Any, *, gt_required: bool) -> None:
    p.add_argument(
        "--pred",
        required=True,
        metavar="FILE",
        help="model outputs, JSONL (one record per line; schemas in docs/evaluation_pipeline.md)",
    )
    p.add_argument(
        "--gt",
        required=gt_required,
        metavar="FILE",
        help="ground truth" + ("" if gt_required else " (optional when the records carry it inline)"),
    )
    p.add_argument("--out", metavar="DIR", help="write metrics.json, report.md and plots (matplotlib) into DIR")
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad record (default: skip it and count it in the report)",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw plots into --out")
    p.add_argument(
        "--no-require-tags",
        action="store_true",
        help="also read answers without <answer> tags (e.g. Qwen2.5-VL outputs)",
    )
    p.add_argument("--progress", action="store_true", help="show a progress bar (tqdm, when installed)")
    p.add_argument(
        "--protocol",
        default="default",
        choices=("default", "visual-rft"),
        help="evaluation rules: ours, or Visual-RFT's evaluation scripts rule for rule (default: %(default)s)",
    )
    p.add_argument(
        "--no-compare",
        action="store_true",
        help="do not also evaluate by the other protocol (the report then lacks the comparison)",
    )


def _add_eval_parser(subparsers: Any) -> None:
    from vrft_rewards._options import ANSWER_BLOCKS, CLASSIFICATION_MODES, DETECTION_IMAGES, FRAMES
    from vrft_rewards.eval.categories import CATEGORY_SETS

    p = subparsers.add_parser(
        "eval",
        help="evaluate model outputs (JSONL): COCO, LVIS, classification, grounding",
        description="Evaluate a JSONL of model outputs against ground truth; print the tables and, with "
        "--out, write metrics.json, a Markdown report and plots.",
    )
    sub = p.add_subparsers(dest="task", metavar="TASK", parser_class=_Parser)
    sub.required = True
    sets = ", ".join(CATEGORY_SETS)
    for task in ("coco", "lvis"):
        q = sub.add_parser(
            task,
            help=f"{task.upper()} box AP of detection completions",
            description=f"{task.upper()} detection evaluation of completions (one per image x "
            "category prompt, or labelled boxes), with the mean of per-category AP "
            "over a category set as the paper reports it.",
        )
        _common_eval_args(q, gt_required=True)
        q.add_argument(
            "--categories",
            metavar="SET",
            help=f"category set for the mean AP: {sets}, or comma-separated names / ids "
            "(default: the categories the records queried)",
        )
        q.add_argument(
            "--frame",
            default="norm1000",
            choices=FRAMES,
            help="coordinate frame of the answers (default: %(default)s, Qwen2-VL's 0..1000 grid)",
        )
        q.add_argument(
            "--default-score",
            default="1.0",
            metavar="X",
            help="score of a box without confidence, or 'drop' (default: %(default)s)",
        )
        q.add_argument(
            "--synonyms",
            metavar="JSON",
            help='extra category names, inline JSON or a file: {"motorbike": "motorcycle"}',
        )
        q.add_argument(
            "--images",
            default="all",
            choices=DETECTION_IMAGES,
            help="evaluate on all GT images (the paper) or only those in the records (default: %(default)s)",
        )
        q.add_argument(
            "--no-dedupe", action="store_true", help="keep exact duplicate boxes of an answer (Visual-RFT removes them)"
        )
        q.add_argument(
            "--ray", action="store_true", help="parse, convert and match per image in Ray tasks (identical metrics)"
        )
        q.add_argument(
            "--num-shards", type=_positive_int, metavar="N", help="Ray shards per stage (default: the cluster's CPUs)"
        )
        q.add_argument(
            "--no-model-metrics",
            action="store_true",
            help="skip the AP range over tie orders, F1, calibration and TIDE's error breakdown",
        )
        q.add_argument(
            "--draws",
            type=_positive_int,
            default=200,
            metavar="K",
            help="random tie orders for the expected AP (default: %(default)s)",
        )
        q.add_argument("--seed", type=int, default=0, help="seed of the random tie orders (default: %(default)s)")
    q = sub.add_parser(
        "classification",
        help="accuracy, per-class accuracy and confusion matrix",
        description="Classification accuracy of class-name answers, with the normalisation and "
        "anti-hacking rules of classification_reward.",
    )
    _common_eval_args(q, gt_required=False)
    q.add_argument(
        "--mode",
        default="exact",
        choices=CLASSIFICATION_MODES,
        help="matching rule (substring: Visual-RFT's, gameable) (default: %(default)s)",
    )
    q.add_argument("--classes", metavar="LIST", help="class names: a file (one per line) or comma-separated")
    q.add_argument("--aliases", metavar="JSON", help='accepted alternatives: {"class": ["alt", ...]}')
    q = sub.add_parser(
        "grounding",
        help="LISA-style mIoU, Acc@0.5, mask gIoU / cIoU",
        description="Reasoning-grounding metrics of one-box answers against GT boxes and masks.",
    )
    _common_eval_args(q, gt_required=False)
    q.add_argument(
        "--frame", default="norm1000", choices=FRAMES, help="coordinate frame of the answers (default: %(default)s)"
    )
    q.add_argument(
        "--answer",
        default="first",
        choices=ANSWER_BLOCKS,
        help="answer block to read when there are several (default: %(default)s)",
    )
    q.add_argument(
        "--threshold", type=float, default=0.5, metavar="T", help="IoU threshold of the accuracy (default: %(default)s)"
    )


def _run_eval(args: argparse.Namespace) -> int:
    from vrft_rewards.eval.commands import run_eval

    return run_eval(args)


# -- score ---------------------------------------------------------------------------------------
def _add_score_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "score",
        help="score a rollout file (JSONL) with a reward preset; print the reward distribution",
        description="Score rollouts {completion, <dataset columns>...} with a reward preset and print the "
        "distribution of every reward (mean, std, quantiles).",
    )
    p.add_argument(
        "--task", required=True, help="preset name (detection, visual_rft/detection, ...) or 'package.module:attribute'"
    )
    p.add_argument("--input", required=True, metavar="FILE", help="rollouts, JSONL")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="options",
        help="preset option, repeatable (VALUE parsed as JSON when it can be)",
    )
    p.add_argument("--out", metavar="DIR", help="write metrics.json, report.md and reward histograms into DIR")
    p.add_argument("--strict", action="store_true", help="stop at the first bad record")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots into --out")
    p.add_argument("--ray", action="store_true", help="score in Ray tasks (identical rewards)")
    p.add_argument("--num-shards", type=_positive_int, metavar="N", help="Ray tasks (default: the cluster's CPUs)")
    p.add_argument("--progress", action="store_true", help="show a progress bar (tqdm, when installed)")


def _run_score(args: argparse.Namespace) -> int:
    from vrft_rewards.score import run_score

    return run_score(args, _parse_options(args.options))


# -- argument types ------------------------------------------------------------------------------
def _port(text: str) -> int:
    value = _int(text, "port")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _int(text, "value")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None


def _parse_options(items: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CLIError(f"--option must look like KEY=VALUE with KEY a Python name, got {item!r}")
        if key in options:
            raise CLIError(f"--option {key} given twice")
        try:
            options[key] = loads_text(raw)
        except JSONTooDeepError:
            raise CLIError(f"--option {key}: the value is JSON nested too deeply") from None
        except ValueError:
            options[key] = raw
    return options


# -- entry point ---------------------------------------------------------------------------------
_COMMANDS: list[tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = [
    (_add_serve_parser, _run_serve),
    (_add_demo_parser, _run_demo),
    (_add_eval_parser, _run_eval),
    (_add_score_parser, _run_score),
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one subparser per command)."""
    from vrft_rewards import __version__

    parser = _Parser(prog=PROG, description="Reward and evaluation engine for visual RL fine-tuning.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add, run in _COMMANDS:
        add(sub)
        for choice in sub.choices.values():
            if choice.get_default("_run") is None:
                choice.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vrft-rewards`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Examples
    --------
    >>> main(["serve", "--port", "x"])  # doctest: +SKIP
    vrft-rewards serve: error: argument --port: port must be an integer, got 'x' (see ... --help)
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except (CLIError, ValueError, TypeError, OSError, ImportError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
