"""Metrics agree with scikit-learn; the confusion plot is a real PNG."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score, top_k_accuracy_score

from pipeline.evaluation import confusion, normalized, plot_confusion, summarise, top_k_accuracy

NAMES = ["a", "b", "c", "d", "e", "f"]


def sample(seed=0, n=200):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(NAMES), n)
    logits = rng.normal(size=(n, len(NAMES)))
    logits[np.arange(n), y] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_headline_metrics_match_scikit_learn():
    y, probs = sample()
    metrics, table, matrix = summarise(y, probs, NAMES, {"a": 5, "c": 9})
    pred = probs.argmax(axis=1)
    assert metrics["top1"] == (pred == y).mean()
    assert np.isclose(metrics["top5"], top_k_accuracy_score(y, probs, k=5, labels=range(6)))
    assert np.isclose(metrics["macro_f1"], f1_score(y, pred, average="macro"))
    assert np.allclose(table["precision"], precision_score(y, pred, average=None, zero_division=0))
    assert np.allclose(table["recall"], recall_score(y, pred, average=None, zero_division=0))
    assert metrics["baseline_top1"] == (y == NAMES.index("c")).mean()
    assert np.isclose(metrics["balanced_accuracy"], balanced_accuracy_score(y, pred))
    always_c = np.full_like(y, NAMES.index("c"))
    assert np.isclose(metrics["baseline_balanced_accuracy"], balanced_accuracy_score(y, always_c))
    assert matrix.sum() == len(y)


def test_top_k_is_capped_by_class_count_and_confusion_rows_normalise():
    y = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    assert top_k_accuracy(y, probs, 1) == 2 / 3
    assert top_k_accuracy(y, probs, 5) == 1.0
    matrix = confusion(y, probs.argmax(axis=1), 2)
    assert matrix.tolist() == [[1, 0], [1, 1]]
    assert normalized(matrix).tolist() == [[1.0, 0.0], [0.5, 0.5]]


def test_confusion_plot_is_a_png(tmp_path):
    y, probs = sample(1, 30)
    plot_confusion(confusion(y, probs.argmax(axis=1), 6), NAMES, "t", tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
