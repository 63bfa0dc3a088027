"""Cross-validation: the folds' out-of-fold test predictions pooled into one calibration check (the DVC run of the
folds themselves is in tests/test_pipeline_integration.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline import crossval
from pipeline.reliability import expected_calibration_error


def fold_frame(fold: int, n: int, accuracy: float, confidence: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    right = rng.random(n) < accuracy
    actual = rng.choice(["a", "b", "c"], n)
    predicted = np.where(right, actual, np.where(actual == "a", "b", "a"))
    conf = np.clip(confidence + rng.normal(0, 0.05, n), 0.34, 0.99)
    return pd.DataFrame({
        "path": [f"test/{a}/{fold}-{i}.jpg" for i, a in enumerate(actual)],
        "actual": actual, "predicted": predicted, "confidence": conf,
        "answer": np.where(conf >= 0.6, predicted, "unknown"),
        "confidence_uncalibrated": np.clip(conf + 0.1, 0, 1.0),
        "p_actual": np.where(right, conf, (1 - conf) / 2),
        "p_actual_uncalibrated": np.where(right, np.clip(conf + 0.1, 0, 1.0), (0.9 - conf) / 2),
        "fold": fold,
    })  # fmt: skip


@pytest.fixture
def pooled() -> pd.DataFrame:
    return pd.concat([fold_frame(0, 80, 0.9, 0.9, 1), fold_frame(1, 70, 0.6, 0.9, 2)], ignore_index=True)


def test_pooled_scores_are_those_of_all_folds_rows_together_and_each_folds_own(pooled):
    metrics = crossval.pooled_metrics(pooled)
    correct = pooled["actual"] == pooled["predicted"]
    assert metrics["folds"] == 2 and metrics["images"] == 150
    assert metrics["top1"] == pytest.approx(correct.mean())
    assert metrics["ece"] == pytest.approx(expected_calibration_error(pooled["confidence"], correct))
    first = pooled[pooled["fold"] == 0]
    assert metrics["fold_top1"]["0"] == pytest.approx((first["actual"] == first["predicted"]).mean())
    assert metrics["fold_ece"]["1"] > metrics["fold_ece"]["0"]  # fold 1: 0.9 sure, ~60% right
    assert metrics["ece_uncalibrated"] > metrics["ece"]  # the uncalibrated column is 0.1 more confident still
    answered = pooled["answer"] != "unknown"
    assert metrics["answered"] == pytest.approx(answered.mean())
    assert metrics["answered_top1"] == pytest.approx(correct[answered].mean())
    assert metrics["nll"] == pytest.approx(-np.log(pooled["p_actual"]).mean())
    assert 0 < metrics["ece_perfect_calibration"] < 0.1


def test_pooled_macro_f1_and_recall_per_class_count_every_folds_rows():
    """Issue 21's targets are stated on them: macro-F1 and each group's recall over all the pooled images."""
    frame = pd.DataFrame({
        "actual":    ["a", "a", "a", "a", "b", "b", "c", "c"],
        "predicted": ["a", "a", "a", "b", "b", "a", "c", "c"],
        "fold": [0, 1, 0, 1, 0, 1, 0, 1],
    }).assign(confidence=0.9, answer=lambda f: f["predicted"], confidence_uncalibrated=0.9, p_actual=0.9,
              p_actual_uncalibrated=0.9)  # fmt: skip
    metrics = crossval.pooled_metrics(frame)
    assert metrics["class_recall"] == {"a": 0.75, "b": 0.5, "c": 1.0}
    assert metrics["class_images"] == {"a": 4, "b": 2, "c": 2}
    assert metrics["balanced_accuracy"] == pytest.approx(0.75)
    # F1 a: precision 3/4, recall 3/4; b: 1/2, 1/2; c: 1, 1
    assert metrics["macro_f1"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_a_perfectly_calibrated_pool_is_near_its_floor():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 2000)
    right = rng.random(2000) < conf
    frame = pd.DataFrame({
        "actual": "a", "predicted": np.where(right, "a", "b"), "confidence": conf, "answer": "a",
        "confidence_uncalibrated": conf, "p_actual": np.where(right, conf, 1 - conf),
        "p_actual_uncalibrated": np.where(right, conf, 1 - conf), "fold": rng.integers(0, 5, 2000),
    })  # fmt: skip
    metrics = crossval.pooled_metrics(frame)
    assert metrics["ece"] < 0.03 and abs(metrics["ece"] - metrics["ece_perfect_calibration"]) < 0.015


def test_the_report_folder_holds_the_pool_its_metrics_and_both_reliability_diagrams(tmp_path, pooled):
    out = tmp_path / "crossval" / "theme"
    metrics = crossval.write_pooled(out, "theme", pooled, ["sources.sets.provider=local"])
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert len(pd.read_csv(out / "predictions.csv")) == 150
    for plot in ("reliability.png", "reliability_uncalibrated.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "2-fold cross-validation" in report and "-S sources.sets.provider=local" in report
    assert "| 1 |" in report  # one row per fold
    assert "| macro-F1 |" in report and all(f"| {c} | " in report for c in "abc")  # one recall row per class
