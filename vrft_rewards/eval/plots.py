"""Report plots with matplotlib (optional dependency: ``pip install "vrft-rewards[plots]"``).

Every figure has a fixed size in pixels (``FIG_SIZE`` at ``DPI``) and is drawn with the Agg
backend into a PNG, without touching pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["have_matplotlib", "make_plots", "reliability_diagram", "tide_errors", "tie_ranges", "FIG_SIZE", "DPI"]

FIG_SIZE = (8.0, 5.0)  # inches
DPI = 100  # -> 800 x 500 pixels


def have_matplotlib() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(size: tuple = FIG_SIZE) -> Any:
    # The object-oriented API with an Agg canvas: no pyplot, no GUI backend, no global figures.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches="tight": the size stays fixed
    return path


def pr_curves(precision: np.ndarray, rec_thrs: np.ndarray, iou_thrs: np.ndarray, names: list, path: Path) -> Path:
    """Precision-recall curve per category at IoU 0.5 (solid) and averaged over IoU thresholds
    (dashed), area 'all', last maxDets; categories without GT are left out."""
    p = precision if precision.ndim == 4 else precision[..., -1]  # (T, R, K, A)
    t50 = np.flatnonzero(np.asarray(iou_thrs) == 0.5)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    cmap = __import__("matplotlib").colormaps["tab20"]
    for k, name in enumerate(names):
        curve = p[:, :, k, 0]
        if (curve <= -1).all():
            continue
        color = cmap(k % 20)
        if len(t50):
            ax.plot(rec_thrs, np.clip(curve[t50[0]], 0, None), color=color, label=f"{name} @.5")
        mean = np.where(curve > -1, curve, np.nan)
        with np.errstate(invalid="ignore"):
            ax.plot(
                rec_thrs,
                np.nanmean(mean, axis=0) if np.isfinite(mean).any() else rec_thrs * 0,
                color=color,
                linestyle="--",
                linewidth=1,
            )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall per category (solid: IoU 0.5, dashed: mean over IoU .50:.95)")
    if names:
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def ap_bars(rows: list, path: Path) -> Path:
    """AP and AP50 per category (bars), categories without GT marked 'no GT'."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    ap = np.array([max(r["AP"], 0.0) for r in rows])
    ap50 = np.array([max(r["AP50"], 0.0) for r in rows])
    ax.bar(x - 0.2, ap, width=0.4, label="AP .50:.95")
    ax.bar(x + 0.2, ap50, width=0.4, label="AP50")
    for i, r in enumerate(rows):
        if r["AP"] <= -1:
            ax.text(i, 0.02, "no GT", ha="center", fontsize=7, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AP")
    ax.set_title("AP per category")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def histogram(values: np.ndarray, path: Path, *, title: str, xlabel: str) -> Path:
    """Histogram of values in [0, 1] (20 bins)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    ax.hist(v, bins=20, range=(0.0, max(1.0, float(v.max()) if len(v) else 1.0)), edgecolor="black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(f"{title} (n={len(v)}, mean={v.mean() if len(v) else float('nan'):.3f})")
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrix: np.ndarray, labels: list, path: Path) -> Path:
    """Confusion matrix (rows: truth, columns: predicted, last column '(other)'), row-normalised
    colours with the counts written in the cells (up to 30 classes)."""
    fig = _figure((8.0, 8.0))
    ax = fig.add_subplot(1, 1, 1)
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    k = m.shape[0]
    ax.set_xticks(np.arange(m.shape[1]))
    ax.set_xticklabels(labels[: m.shape[1]], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels(labels[:k], fontsize=7)
    if m.shape[1] <= 31:
        for i in range(k):
            for j in range(m.shape[1]):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(m[i, j])),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    return _save(fig, path)


def _reliability_axes(ax: Any, bins: dict, title: str, small: bool = False) -> None:
    """Accuracy per confidence bin (bars) against the diagonal, mean confidences marked."""
    n = len(bins["count"])
    centres = (np.arange(n) + 0.5) / n
    acc = np.nan_to_num(np.asarray(bins["accuracy"], dtype=np.float64))
    mc = np.asarray(bins["mean_confidence"], dtype=np.float64)
    count = np.asarray(bins["count"])
    ax.bar(centres, acc, width=1 / n, edgecolor="black", alpha=0.8, label="accuracy (matched)")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
    ax.scatter(mc[count > 0], acc[count > 0], color="red", s=8 if small else 16, zorder=3, label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=7 if small else 10)
    if not small:
        ax.set_xlabel("stated confidence")
        ax.set_ylabel("fraction matched at IoU 0.5")
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.tick_params(labelsize=6)


def reliability_diagram(cal: dict, path: Path) -> Path:
    """The reliability diagram at IoU 0.5 (all detections, with the count per bin below) and one
    small diagram per category (up to 12)."""
    per = [r for r in cal.get("per_category", []) if r["n"]][:12]
    fig = _figure((10.0, 6.0))
    ax = fig.add_axes((0.06, 0.32, 0.38, 0.6))
    _reliability_axes(ax, cal["bins"], f"All detections: ECE {cal['ece']:.3f} (n={cal['n']})")
    hist = fig.add_axes((0.06, 0.08, 0.38, 0.16))
    n = len(cal["bins"]["count"])
    hist.bar((np.arange(n) + 0.5) / n, cal["bins"]["count"], width=1 / n, edgecolor="black")
    hist.set_xlim(0, 1)
    hist.set_ylabel("count", fontsize=8)
    for i, r in enumerate(per):
        sub = fig.add_axes((0.5 + (i % 4) * 0.125, 0.7 - (i // 4) * 0.3, 0.1, 0.2))
        _reliability_axes(sub, r["bins"], f"{r['name'][:14]}: {r['ece']:.2f}", small=True)
    return _save(fig, path)


def tide_errors(err: dict, path: Path) -> Path:
    """TIDE's dAP per error type (bars, with the counts written above them)."""
    from .errors import ERROR_TYPES

    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    names = list(ERROR_TYPES) + ["false pos", "false neg"]
    dap = [err[k]["dAP"] for k in ERROR_TYPES] + [err["special"]["false_positives"], err["special"]["false_negatives"]]
    x = np.arange(len(names))
    ax.bar(x, dap, color=["C0"] * len(ERROR_TYPES) + ["C1", "C1"], edgecolor="black")
    for i, k in enumerate(ERROR_TYPES):
        ax.text(i, dap[i], f"n={err[k]['count']}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    ax.set_ylabel("dAP (TIDE's AP50)")
    ax.set_title(f"Error breakdown (TIDE): AP gained by fixing each type; TIDE AP50 {err['ap50']:.3f}")
    fig.tight_layout()
    return _save(fig, path)


def tie_ranges(tr: dict, path: Path) -> Path:
    """Per category, AP's range over the orders of tied scores (bars), the reported AP (dot) and
    the expectation over random orders (cross)."""
    rows = [r for r in tr["per_category"] if r["AP"]["reported"] > -1]
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(rows))
    lo = np.array([r["AP"]["min"] for r in rows])
    hi = np.array([r["AP"]["max"] for r in rows])
    ax.bar(x, hi - lo, bottom=lo, width=0.6, color="lightsteelblue", edgecolor="black", label="range over tie orders")
    ax.scatter(x, [r["AP"]["reported"] for r in rows], color="black", zorder=3, label="reported (records' order)")
    ax.scatter(x, [r["AP"]["mean"] for r in rows], color="red", marker="x", zorder=3, label="mean over random orders")
    ax.set_xticks(x)
    ax.set_xticklabels([r["name"] for r in rows], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AP .50:.95")
    m = tr["mean_AP"]
    ax.set_title(f"AP over the orders of tied scores: set mean {m['min']:.3f} .. {m['max']:.3f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def grounding_buckets(breakdown: dict, path: Path) -> Path:
    """Mean IoU and Acc@0.5 per bucket of each grounding breakdown (one panel each)."""
    keys = list(breakdown)
    fig = _figure()
    for i, key in enumerate(keys):
        ax = fig.add_subplot((len(keys) + 1) // 2, 2, i + 1)
        rows = breakdown[key]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [np.nan_to_num(r["mean_IoU"]) for r in rows], width=0.4, label="mean IoU")
        ax.bar(x + 0.2, [np.nan_to_num(r["acc@0.5"]) for r in rows], width=0.4, label="Acc@0.5")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{r['bucket'][:12]}\n(n={r['n']})" for r in rows], fontsize=5)
        ax.set_ylim(0, 1)
        ax.set_title(key.replace("_", " "), fontsize=9)
        if i == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def make_plots(report: Any, out_dir: Path) -> list:
    """Draw the plots of a report into ``out_dir``; returns the PNG paths."""
    out_dir = Path(out_dir)
    a = report.arrays
    paths = []
    if report.task in ("coco", "lvis") and "precision" in a:
        paths.append(pr_curves(a["precision"], a["rec_thrs"], a["iou_thrs"], a["cat_names"], out_dir / "pr_curves.png"))
        paths.append(ap_bars(a["per_category"], out_dir / "ap_per_category.png"))
        if len(a.get("scores", ())):
            paths.append(
                histogram(a["scores"], out_dir / "score_histogram.png", title="Detection confidence", xlabel="score")
            )
        if len(a.get("record_iou", ())):
            paths.append(
                histogram(
                    a["record_iou"],
                    out_dir / "iou_reward_histogram.png",
                    title="Per-prompt IoU reward",
                    xlabel="reward",
                )
            )
        if a.get("calibration") and a["calibration"]["n"]:
            paths.append(reliability_diagram(a["calibration"], out_dir / "reliability_diagram.png"))
        if a.get("errors"):
            paths.append(tide_errors(a["errors"], out_dir / "tide_errors.png"))
        if a.get("tie_range"):
            paths.append(tie_ranges(a["tie_range"], out_dir / "ap_tie_range.png"))
    if report.task == "classification" and "confusion" in a:
        paths.append(confusion(a["confusion"], a["classes"], out_dir / "confusion_matrix.png"))
    if report.task == "grounding":
        paths.append(histogram(a["iou"], out_dir / "iou_histogram.png", title="Box IoU", xlabel="IoU"))
        if "mask_iou" in a:
            paths.append(histogram(a["mask_iou"], out_dir / "mask_iou_histogram.png", title="Mask IoU", xlabel="IoU"))
        if report.metrics.get("breakdown"):
            paths.append(grounding_buckets(report.metrics["breakdown"], out_dir / "grounding_buckets.png"))
    if report.task == "score" and "rewards" in a:
        for name, values in a["rewards"].items():
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
            paths.append(histogram(values, out_dir / f"reward_{safe}.png", title=f"Reward {name}", xlabel="reward"))
    return paths
