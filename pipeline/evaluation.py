"""Test-split metrics and plots: pure functions over labels and probabilities, then files for DVC and MLflow."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.io import atomic_path, list_images


def labelled_images(folder: Path) -> pd.DataFrame:
    """`<class>/<image>` files under a split folder as `(path, label)` rows."""
    files = list_images(folder)
    return pd.DataFrame({"path": files, "label": [f.parent.name for f in files]})


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int) -> float:
    k = min(k, probs.shape[1])
    best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((best == y_true[:, None]).any(axis=1).mean())


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = actual class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class(matrix: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (0 where undefined, as scikit-learn's zero_division=0)."""
    tp = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return pd.DataFrame({"class": list(names), "precision": precision, "recall": recall, "f1": f1, "support": actual})


def summarise(
    y_true: np.ndarray, probs: np.ndarray, names: Sequence[str], train_counts: dict[str, int]
) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """Headline metrics (flat, for `dvc metrics`), the per-class table and the confusion matrix.

    Macro-F1 and balanced accuracy (the mean recall) average over the classes present in the test split; the
    baseline always predicts the most frequent training class.
    """
    y_pred = probs.argmax(axis=1)
    matrix = confusion(y_true, y_pred, len(names))
    table = per_class(matrix, names)
    present = table["support"] > 0
    majority = max(train_counts, key=lambda c: (train_counts[c], c)) if train_counts else names[0]
    baseline = float((y_true == list(names).index(majority)).mean()) if majority in names else 0.0
    metrics = {
        "top1": top_k_accuracy(y_true, probs, 1),
        "top5": top_k_accuracy(y_true, probs, 5),
        "macro_f1": float(table.loc[present, "f1"].mean()),
        "balanced_accuracy": float(table.loc[present, "recall"].mean()),
        "baseline_top1": baseline,
        # the majority predictor recalls its own class fully and no other
        "baseline_balanced_accuracy": float(majority in set(table.loc[present, "class"])) / max(int(present.sum()), 1),
        "test_images": int(len(y_true)),
        "classes": int(len(names)),
    }
    return metrics, table, matrix


def normalized(matrix: np.ndarray) -> np.ndarray:
    rows = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)


def plot_confusion(matrix: np.ndarray, names: Sequence[str], title: str, target: Path) -> None:
    """Row-normalized confusion matrix with class names on both axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    size = min(4 + 0.35 * n, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(normalized(matrix), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels=names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels=names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    if n <= 20:
        values = normalized(matrix)
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] > 0.5 else "black")  # fmt: skip
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of actual class")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
