"""Report plots with matplotlib (optional dependency: ``pip install "vrft-rewards[plots]"``).

Every figure has a fixed size in pixels (``FIG_SIZE`` at ``DPI``) and is drawn with the Agg
backend into a PNG, without touching pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["have_matplotlib", "make_plots", "FIG_SIZE", "DPI"]

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
    if report.task == "classification" and "confusion" in a:
        paths.append(confusion(a["confusion"], a["classes"], out_dir / "confusion_matrix.png"))
    if report.task == "grounding":
        paths.append(histogram(a["iou"], out_dir / "iou_histogram.png", title="Box IoU", xlabel="IoU"))
        if "mask_iou" in a:
            paths.append(histogram(a["mask_iou"], out_dir / "mask_iou_histogram.png", title="Mask IoU", xlabel="IoU"))
    if report.task == "score" and "rewards" in a:
        for name, values in a["rewards"].items():
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
            paths.append(histogram(values, out_dir / f"reward_{safe}.png", title=f"Reward {name}", xlabel="reward"))
    return paths
