"""Pictures of none of a task's classes (set boxes shown to the minifigure model): does it say "unknown"?

A test split only holds known classes, so it cannot show what the "unknown" threshold does for the pictures people
will also hand in. This check gives the trained model a folder of such pictures and reports the share it withholds
(`unknown`, higher is better) beside the share of known-class test images it answers, and how well its calibrated
confidence alone separates the two (`auroc`: the chance that a random test image gets a higher confidence than a
random out-of-catalogue picture; 1 separates them perfectly, 0.5 not at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from textwrap import shorten

import numpy as np

from pipeline import plotting


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(confidence of a known-class image > that of an out-of-catalogue one), ties counted half (Mann–Whitney U)."""
    from scipy.stats import rankdata

    inside, outside = np.asarray(inside, dtype=float), np.asarray(outside, dtype=float)
    if not len(inside) or not len(outside):
        return float("nan")
    ranks = rankdata(np.concatenate([inside, outside]))
    u = ranks[: len(inside)].sum() - len(inside) * (len(inside) + 1) / 2
    return float(u / (len(inside) * len(outside)))


def summarise(inside: np.ndarray, outside: np.ndarray, threshold: float) -> dict:
    """Flat metrics from calibrated top-1 confidences: `inside` of the known-class test images, `outside` of the
    out-of-catalogue pictures, and the model's "unknown" threshold."""
    inside, outside = np.asarray(inside, dtype=float), np.asarray(outside, dtype=float)
    return {
        "images": int(len(outside)),
        "unknown": float((outside < threshold).mean()) if len(outside) else float("nan"),
        "answered_in_distribution": float((inside >= threshold).mean()) if len(inside) else float("nan"),
        "auroc": auroc(inside, outside),
        "median_confidence": float(np.median(outside)) if len(outside) else float("nan"),
        "median_confidence_in_distribution": float(np.median(inside)) if len(inside) else float("nan"),
        "unknown_threshold": float(threshold),
    }


def plot_confidence(inside: np.ndarray, outside: np.ndarray, threshold: float, title: str, target: Path) -> None:
    """Histograms of calibrated confidence, known-class test images against out-of-catalogue pictures, with the
    threshold below which the model says "unknown"."""
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    bins = np.linspace(0, 1, 21)
    for values, colour, name in (
        (inside, "#4C72B0", "known-class test images"),
        (outside, "#C44E52", "out of catalogue"),
    ):
        weights = np.full(len(values), 1 / max(len(values), 1))
        ax.hist(values, bins=bins, weights=weights, alpha=0.6, color=colour, label=f"{name} ({len(values)})")
    ax.axvline(threshold, color="black", linestyle="--", label=f'"unknown" below {threshold:.2f}')
    ax.set_xlabel("calibrated top-1 confidence")
    ax.set_ylabel("share of images")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    plotting.save(fig, target)


def plot_most_confident(
    paths: Sequence[Path], predicted: Sequence[str], confidence: Sequence[float], threshold: float, target: Path
) -> None:
    """The out-of-catalogue pictures the model is surest about: what it takes for one of its classes."""
    from pipeline.report import plot_gallery

    order = sorted(range(len(paths)), key=lambda i: (-float(confidence[i]), str(paths[i])))[:18]
    answered = int(sum(float(c) >= threshold for c in confidence))
    plot_gallery(
        [paths[i] for i in order],
        [
            f"{shorten(Path(paths[i]).name, 30, placeholder='…')}\n→ {shorten(predicted[i], 26, placeholder='…')}"
            f" ({float(confidence[i]):.2f})"
            for i in order
        ],
        f'most confident of {len(paths)} out-of-catalogue pictures ({answered} answered, not "unknown")',
        target,
        empty="No readable out-of-catalogue pictures",
    )


def markdown(task: str, folder: str, metrics: dict, rejected: int) -> str:
    """`reports/out_of_catalogue/<task>/report.md`."""
    skipped = f" ({rejected} unreadable files skipped, listed in `rejects.csv`)" if rejected else ""
    return "\n\n".join([
        f"# Out-of-catalogue check: {task}",
        f"{metrics['images']} pictures from `{folder}` that show none of the model's classes{skipped}.",
        f"**{metrics['unknown']:.1%} of them get \"unknown\"** (calibrated confidence below "
        f"{metrics['unknown_threshold']:.3f}), while {metrics['answered_in_distribution']:.1%} of the known-class test "
        f"images are answered. Median confidence {metrics['median_confidence']:.3f} here against "
        f"{metrics['median_confidence_in_distribution']:.3f} on the test images; AUROC {metrics['auroc']:.3f} "
        "(how well confidence alone tells the two apart: 1 perfectly, 0.5 not at all).",
        "![confidence: test images against out-of-catalogue pictures](confidence.png)",
        "## What it still answers: the most confident out-of-catalogue pictures",
        "![most confident out-of-catalogue pictures](most_confident.png)",
    ]) + "\n"  # fmt: skip
