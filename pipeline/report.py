"""A per-task evaluation report people can read at a glance: calibration, worst classes, confusions, mistakes.

Pure tables first (top confusions, group accuracy; ECE and reliability bins are `pipeline.reliability`'s), then
plots, then `write_evaluation`, which ties them together in one Markdown page beside the confusion matrix the caller
writes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import plotting
from pipeline.io import write_csv, write_text
from pipeline.reliability import expected_calibration_error, plot_reliability, reliability_table

METRIC_LABELS = {
    "top1": "top-1 accuracy",
    "top5": "top-5 accuracy",
    "macro_f1": "macro-F1",
    "balanced_accuracy": "balanced accuracy (mean per-class recall)",
    "ece": "expected calibration error (lower is better)",
    "ece_uncalibrated": "ECE before the temperature",
    "ece_perfect_calibration": "ECE a perfectly calibrated model would show on this test split (sampling alone)",
    "nll": "negative log-likelihood (lower is better)",
    "nll_uncalibrated": "NLL before the temperature",
    "answered": 'share answered (not "unknown")',
    "answered_top1": "top-1 accuracy of the answered",
    "test_images": "test images",
    "classes": "classes",
}
BASELINE_PREFIX = "baseline_"


def top_confusions(matrix: np.ndarray, names: Sequence[str], k: int = 10) -> pd.DataFrame:
    """The k largest off-diagonal cells (actual -> predicted), ties broken by class names for stable output."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1)
    actual, predicted = np.nonzero(matrix * (1 - np.eye(len(names), dtype=matrix.dtype)))
    frame = pd.DataFrame(
        {
            "actual": [names[int(i)] for i in actual],
            "predicted": [names[int(j)] for j in predicted],
            "count": matrix[actual, predicted].astype(int),
            "share_of_actual": matrix[actual, predicted] / rows[actual],
        }
    )
    frame = frame.sort_values(["count", "actual", "predicted"], ascending=[False, True, True], kind="stable")
    return frame.head(k).reset_index(drop=True)


def group_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], group_of: Mapping[str, str]
) -> float | None:
    """Accuracy once classes are merged into groups (character -> universe): is the model at least in the right family?

    Only test images whose true class has a group count; a prediction of an ungrouped class is wrong.
    None when no test class has a group, so callers can leave the metric out rather than report a fake 0.
    """
    groups = np.array([group_of.get(name) for name in names], dtype=object)
    true_groups = groups[np.asarray(y_true, dtype=int)]
    known = np.array([g is not None for g in true_groups], dtype=bool)
    if not known.any():
        return None
    predicted_groups = groups[np.asarray(y_pred, dtype=int)]
    return float(np.mean(predicted_groups[known] == true_groups[known]))


def worst_first(table: pd.DataFrame) -> pd.DataFrame:
    """Per-class rows by recall ascending (then F1, name); classes without test images go last."""
    ranked = table.assign(_absent=table["support"] <= 0)
    ranked = ranked.sort_values(["_absent", "recall", "f1", "class"], kind="stable")
    return ranked.drop(columns="_absent").reset_index(drop=True)


def plot_per_class(table: pd.DataFrame, title: str, target: Path) -> None:
    """Precision/recall/F1 bars per class, worst recall at the top, so weak classes are the first thing seen."""
    plt = plotting.pyplot()
    present = worst_first(table[table["support"] > 0])
    n = max(len(present), 1)
    fig, ax = plt.subplots(figsize=(9.5, 1.4 + 0.42 * n), layout="constrained")
    y = np.arange(len(present))
    height = 0.27
    for offset, column, colour in (
        (-height, "precision", "#4C72B0"),
        (0, "recall", "#DD8452"),
        (height, "f1", "#55A868"),
    ):
        ax.barh(y + offset, present[column], height=height, color=colour, label=column if column != "f1" else "F1")
    for row, recall in zip(y, present["recall"]):
        ax.text(recall + 0.01, row, f"{recall:.2f}", va="center", fontsize=7, color="#8C4A1E")
    labels = [f"{name}  (n={int(support)})" for name, support in zip(present["class"], present["support"])]
    ax.set_yticks(y, labels=labels, fontsize=8 if n > 20 else 9)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_xlabel("score")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    missing = int((table["support"] <= 0).sum())
    note = f"\n({missing} classes without test images omitted)" if missing else ""
    ax.set_title(f"{title}{note}", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    plotting.save(fig, target)


def _tile_title(actual: str, predicted: str, confidence: float) -> str:
    def short(name: str) -> str:
        return textwrap.shorten(name, width=30, placeholder="…")

    return f"true: {short(actual)}\npred: {short(predicted)} ({confidence:.2f})"


def _thumbnail(path: Path, size: int = 224) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
            image.thumbnail((size, size))
            return np.asarray(image)
    except OSError:
        return None


def plot_gallery(
    paths: Sequence[Path], titles: Sequence[str], heading: str, target: Path, empty: str, limit: int = 24
) -> None:
    """Up to `limit` images in a grid, in the order given, each under its title; `empty` when there are none."""
    plt = plotting.pyplot()
    shown = list(range(min(limit, len(paths))))
    if not shown:
        fig = plt.figure(figsize=(4, 1.2))
        fig.text(0.5, 0.5, empty, ha="center", va="center", fontsize=12)
        plotting.save(fig, target)
        return
    cols = min(6, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.75 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, shown):
        pixels = _thumbnail(Path(paths[i]))
        if pixels is None:
            ax.text(0.5, 0.5, "unreadable image", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        else:
            ax.imshow(pixels)
        ax.set_title(titles[i], fontsize=7.5, loc="left")
    fig.suptitle(heading, fontsize=11)
    fig.tight_layout()
    plotting.save(fig, target)


def plot_mistakes(
    paths: Sequence[Path],
    actual: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    target: Path,
    limit: int = 24,
) -> None:
    """Gallery of misclassified images, most confident first: those are the label errors and systematic look-alikes."""
    wrong = [i for i in range(len(paths)) if actual[i] != predicted[i]]
    wrong.sort(key=lambda i: (-float(confidence[i]), str(paths[i])))
    shown = wrong[:limit]
    plot_gallery(
        [paths[i] for i in shown],
        [_tile_title(actual[i], predicted[i], float(confidence[i])) for i in shown],
        f"{len(shown)} of {len(wrong)} mistakes, most confident first",
        target,
        empty="No misclassified test images",
    )


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.3f}"
    return str(value).replace("|", "\\|")


def _numeric(column: pd.Series) -> bool:
    values = column.dropna()
    return len(values) > 0 and all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' to_markdown needs the optional tabulate package)."""
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if _numeric(frame[c]) else "---" for c in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _group_label(key: str) -> str:
    """`<group>_top1`, the accuracy at a task's declared group column (`universe_top1`), or the key itself."""
    return f"{key.removesuffix('_top1')} top-1 accuracy" if key.endswith("_top1") else key


def headline_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per metric with its `baseline_<key>` beside it, if the caller computed one."""
    rows = [
        {
            "metric": METRIC_LABELS.get(key) or _group_label(key),
            "model": value,
            "majority-class baseline": metrics.get(f"{BASELINE_PREFIX}{key}"),
        }
        for key, value in metrics.items()
        if not key.startswith(BASELINE_PREFIX)
    ]
    return pd.DataFrame(rows, columns=["metric", "model", "majority-class baseline"], dtype=object)


def _summary_line(metrics: Mapping[str, Any]) -> str:
    if "top1" not in metrics:
        return ""
    line = f"**Top-1 accuracy {_cell(metrics['top1'])}**"
    if "baseline_top1" in metrics:
        line += f" vs {_cell(metrics['baseline_top1'])} for always predicting the most common training class"
    return line + "."


def render_markdown(
    task: str,
    metrics: Mapping[str, Any],
    table: pd.DataFrame,
    confusions: pd.DataFrame,
    run_id: str | None,
    calibration_section: str = "",
) -> str:
    """The report page; images are relative links so the folder can be opened anywhere (GitHub, MLflow, a browser)."""
    per_class_rows = worst_first(table)[["class", "precision", "recall", "f1", "support"]].astype({"support": int})
    confusion_rows = confusions.rename(columns={"share_of_actual": "share of actual class"})
    parts = [
        f"# Evaluation report: {task}",
        f"MLflow run: `{run_id}`" if run_id else "",
        _summary_line(metrics),
        "## Headline metrics",
        markdown_table(headline_table(metrics)),
        "## Per-class precision, recall and F1 (worst recall at the top)",
        "![per-class precision, recall and F1](per_class.png)",
        "## Confusion matrix (rows: actual, normalised)",
        "![confusion matrix](confusion_matrix.png)",
        "## Most frequent confusions",
        markdown_table(confusion_rows) if len(confusion_rows) else "No misclassifications.",
        "## Calibration",
        f"Expected calibration error: {metrics['ece']:.3f} (0 = confidence matches accuracy)."
        if "ece" in metrics
        else "",
        "![reliability diagram](reliability.png)",
        *(
            ["![reliability diagram before the temperature](reliability_uncalibrated.png)", calibration_section]
            if calibration_section
            else []
        ),
        "## What the network learned",
        "UMAP of the penultimate-layer embeddings, train and test images, misclassified test images marked "
        "(the vectors are in `embeddings.npz`, for nearest-neighbour look-ups).",
        "![UMAP of the embeddings](embedding_map.png)",
        "## Most confident mistakes",
        "![misclassified test images](mistakes.png)",
        "## Per-class table (worst recall first)",
        markdown_table(per_class_rows),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_evaluation(
    out_dir: Path,
    *,
    task: str,
    metrics: dict,
    table: pd.DataFrame,
    matrix: np.ndarray,
    names: Sequence[str],
    paths: Sequence[Path],
    y_true: np.ndarray,
    probs: np.ndarray,
    run_id: str | None = None,
    uncalibrated: np.ndarray | None = None,
    calibration=None,
) -> dict:
    """Write the plots, `top_confusions.csv` and `report.md`; return the extra metrics (ECE; with the `uncalibrated`
    probabilities and the `calibration` that `probs` were scaled by, the calibration metrics too) for metrics.json."""
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    if not (len(paths) == len(y_true) == len(probs)):
        raise ValueError(
            f"paths ({len(paths)}), labels ({len(y_true)}) and probabilities ({len(probs)}) differ in length"
        )
    out_dir = Path(out_dir)
    y_pred = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    reliability = reliability_table(confidence, y_pred == y_true)
    extras = {"ece": expected_calibration_error(confidence, y_pred == y_true)}
    confusions = top_confusions(matrix, names)

    plot_per_class(table, f"{task}: per-class precision, recall, F1", out_dir / "per_class.png")
    plot_reliability(reliability, extras["ece"], f"{task}: reliability", out_dir / "reliability.png")
    section = ""
    if uncalibrated is not None and calibration is not None:
        from pipeline import calibration_report

        raw_confidence, raw_correct = uncalibrated.max(axis=1), uncalibrated.argmax(axis=1) == y_true
        extras["ece_uncalibrated"] = expected_calibration_error(raw_confidence, raw_correct)
        plot_reliability(reliability_table(raw_confidence, raw_correct), extras["ece_uncalibrated"],
                         f"{task}: reliability before the temperature", out_dir / "reliability_uncalibrated.png")  # fmt: skip
        extras |= calibration_report.calibration_metrics(y_true, probs, uncalibrated, calibration)
        calibration_report.plot_risk_coverage(confidence, y_pred == y_true, calibration.unknown_threshold,
                                              f"{task}: risk–coverage (test)", out_dir / "risk_coverage.png")  # fmt: skip
        section = calibration_report.markdown(extras, calibration)
    plot_mistakes(
        paths,
        [names[i] for i in y_true],
        [names[i] for i in y_pred],
        confidence.tolist(),
        out_dir / "mistakes.png",
    )
    write_csv(out_dir / "top_confusions.csv", confusions)
    write_text(out_dir / "report.md", render_markdown(task, {**metrics, **extras}, table, confusions, run_id, section))
    return extras
