"""Evaluation reports: one object for every evaluator, rendered as terminal tables, Markdown,
``metrics.json`` and (with matplotlib) plots."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .._atomic import StagedFiles
from .records import SkipLog

__all__ = ["EvalReport", "format_table", "markdown_table", "write_report"]


@dataclass
class EvalReport:
    """Outcome of :func:`evaluate_detection`, :func:`evaluate_classification` or
    :func:`evaluate_grounding`.

    Attributes
    ----------
    task : str
        ``"coco"``, ``"lvis"``, ``"classification"`` or ``"grounding"``.
    metrics : dict
        Headline numbers (JSON-ready); what ``metrics.json`` holds under ``"metrics"``.
    tables : list of (title, headers, rows)
        What the terminal and the Markdown report show.
    parse : dict
        Parse statistics (:func:`vrft_rewards.eval.parse_statistics`).
    skipped : SkipLog
        Records skipped (bad JSON, missing keys, unknown ids), by reason, with examples.
    notes : list of str
        Things the reader must know (categories excluded from a mean, unmatched labels, ...).
    result : EvalResult or None
        Detection only: the COCO / LVIS evaluation (``.precision``, ``.per_category`` ...).
    arrays : dict
        Data for the plots (per-sample IoU, confusion matrix, ...), not written to JSON.
    protocol : str
        The evaluation protocol (``"default"`` or ``"visual_rft"``,
        :mod:`vrft_rewards.eval.protocols`), stated in every rendering.
    """

    task: str
    metrics: dict
    tables: list
    parse: dict
    skipped: SkipLog
    notes: list = field(default_factory=list)
    result: Any = None
    arrays: dict = field(default_factory=dict, repr=False)
    protocol: str = "default"

    def to_dict(self) -> dict:
        """``{"task", "protocol", "metrics", "parse", "skipped", "notes"}``, JSON-serialisable
        (NaN -> None)."""
        return _jsonable(
            {
                "task": self.task,
                "protocol": self.protocol,
                "metrics": self.metrics,
                "parse": self.parse,
                "skipped": self.skipped.to_dict(),
                "notes": list(self.notes),
            }
        )

    def text(self) -> str:
        """The terminal rendering: every table, the parse and skip summaries, the notes."""
        parts = [f"protocol: {self.protocol}"]
        for title, headers, rows in self.tables:
            parts.append(f"== {title} ==\n{format_table(headers, rows)}")
        parts.append("== Parsing ==\n" + format_table(*_parse_table(self.parse)))
        parts.append(
            f"skipped records: {self.skipped.total}"
            + ("".join(f"\n  {r}: {n}" for r, n in self.skipped.counts.items()))
        )
        if self.notes:
            parts.append("notes:\n" + "\n".join(f"  - {n}" for n in self.notes))
        return "\n\n".join(parts)

    def markdown(self, plots: Optional[list] = None) -> str:
        """The Markdown report (tables, parse statistics with examples, skips, notes, plots)."""
        out = [f"# Evaluation report: {self.task}", "", f"Protocol: `{self.protocol}`.", ""]
        for title, headers, rows in self.tables:
            out += [f"## {title}", "", markdown_table(headers, rows), ""]
        out += ["## Parsing", "", markdown_table(*_parse_table(self.parse)), ""]
        for status, items in self.parse.get("examples", {}).items():
            out.append(f"Examples ({status}):")
            out.append("")
            for item in items:
                text = item["text"].replace("`", "'").replace("\n", "\\n")
                out.append(f"- `{item['where']}`: `{text}`")
            out.append("")
        out += ["## Skipped records", "", f"{self.skipped.total} skipped.", ""]
        if self.skipped.total:
            out += [markdown_table(["reason", "records"], sorted(self.skipped.counts.items())), ""]
            out += [f"- `{e}`" for e in self.skipped.examples] + [""]
        if self.notes:
            out += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        if plots:
            out += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
        return "\n".join(out)


def _parse_table(parse: dict) -> tuple[list, list]:
    keys = [
        k
        for k in (
            "total",
            "malformed",
            "repaired",
            "empty",
            "no_answer",
            "no_objects",
            "boxes_read",
            "boxes",
            "dropped_boxes",
        )
        if k in parse
    ]
    return keys, [[parse[k] for k in keys]]


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "-"
        return f"{float(v):.4f}"
    return str(v)


def format_table(headers: list, rows: list) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned.

    Examples
    --------
    >>> print(format_table(["name", "AP"], [["cat", 0.5]]))
    name      AP
    ----  ------
    cat   0.5000
    """
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(headers: list, rows: list) -> str:
    """GitHub-flavoured Markdown table (``|`` in cells escaped)."""
    esc = lambda s: _cell(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    return x


def write_report(report: EvalReport, out_dir: Any, *, plots: bool = True) -> dict:
    """Write ``metrics.json``, ``report.md`` and (when matplotlib is installed) PNG plots.

    The files are written as a set (:class:`vrft_rewards._atomic.StagedFiles`): all in full under
    temporary names in ``out_dir`` first, then renamed into place; when anything fails (a full
    disk, an unwritable ``report.md``), the previous report is left as it was, or none.

    Parameters
    ----------
    report : EvalReport
    out_dir : str or os.PathLike
        Created if needed.
    plots : bool, default True
        Draw the plots (skipped, with a note in the report, when matplotlib is missing).

    Returns
    -------
    dict
        ``{"metrics": path, "report": path, "plots": [paths], "plots_skipped": reason or None}``.
    """
    out = Path(out_dir)
    skipped_reason = None
    with StagedFiles(out) as stage:
        plot_paths: list = []
        if plots:
            from .plots import have_matplotlib, make_plots

            if have_matplotlib():
                plot_paths = [out / Path(p).name for p in make_plots(report, stage.stage)]
            else:
                skipped_reason = 'matplotlib is not installed (pip install "vrft-rewards[plots]")'
        else:
            skipped_reason = "disabled"
        metrics_path = stage.write_text("metrics.json", json.dumps(report.to_dict(), indent=1) + "\n")
        md = report.markdown([str(p) for p in plot_paths])
        if skipped_reason and plots:
            md += f"\nPlots not drawn: {skipped_reason}.\n"
        report_path = stage.write_text("report.md", md)
    return {
        "metrics": str(metrics_path),
        "report": str(report_path),
        "plots": [str(p) for p in plot_paths],
        "plots_skipped": skipped_reason,
    }
