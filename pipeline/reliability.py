"""How far a model's confidence is from its accuracy: equal-width confidence bins, the expected calibration error
(ECE), the reliability diagram, and the ECE that perfect calibration itself shows on a test split this small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import plotting


def _bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over [0, 1], right-closed ((0.1, 0.2] is one bin) with 0 in the first."""
    index = np.ceil(np.asarray(confidence, dtype=float) * bins).astype(int) - 1
    return np.clip(index, 0, bins - 1)


def reliability_table(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Accuracy and mean confidence per confidence bin; every bin is listed, empty ones with NaN."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.shape != correct.shape:
        raise ValueError(f"confidence {confidence.shape} and correct {correct.shape} differ in shape")
    index = _bin_index(confidence, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
    edges = np.linspace(0.0, 1.0, bins + 1)
    return pd.DataFrame(
        {
            "bin": np.arange(bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "accuracy": accuracy,
            "confidence": mean_confidence,
        }
    )


def _ece_from_table(table: pd.DataFrame) -> float:
    filled = table[table["count"] > 0]
    total = filled["count"].sum()
    return float((filled["count"] / total * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |accuracy - confidence| over equal-width bins: how far "0.9 sure" is from 90 % right."""
    if len(confidence) == 0:
        raise ValueError("expected calibration error needs at least one prediction")
    return _ece_from_table(reliability_table(confidence, correct, bins))


def perfect_calibration_ece(confidence: np.ndarray, bins: int = 10, draws: int = 2000, seed: int = 0) -> float:
    """The ECE that a perfectly calibrated model with these test confidences shows on this many images from sampling
    alone: the mean over seeded draws of right/wrong ~ Bernoulli(confidence), binned as `pipeline.report` bins.
    On a small test split it is far from 0 (64 images at ~85% confidence: ~0.08), so an ECE near it is as low as
    the split can tell, and a target below it cannot be measured there."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.random.default_rng(seed).random((draws, len(confidence))) < confidence
    in_bin = np.eye(bins)[_bin_index(confidence, bins)]  # (images, bins)
    gaps = (correct - confidence) @ in_bin  # per draw and bin: Σ (right − confidence)
    return float(np.abs(gaps).sum(axis=1).mean() / len(confidence))


def plot_reliability(table: pd.DataFrame, ece: float, title: str, target: Path) -> None:
    """Reliability diagram: bars below the diagonal mean overconfidence; the lower panel shows how much data each bin has."""
    plt = plotting.pyplot()
    fig, (ax, counts) = plt.subplots(
        2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08}
    )
    width = float((table["upper"] - table["lower"]).iloc[0]) if len(table) else 0.1
    centre = (table["lower"] + table["upper"]) / 2
    filled = table["count"] > 0
    ax.bar(centre[filled], table.loc[filled, "accuracy"], width=width * 0.95, color="#4C72B0", label="accuracy")
    gap = table.loc[filled, "confidence"] - table.loc[filled, "accuracy"]
    ax.bar(
        centre[filled],
        gap,
        bottom=table.loc[filled, "accuracy"],
        width=width * 0.95,
        facecolor="none",
        edgecolor="#C44E52",
        hatch="//",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}\nECE = {ece:.3f}", fontsize=11)
    counts.bar(centre, table["count"], width=width * 0.95, color="grey")
    counts.set_ylabel("images")
    counts.set_xlabel("confidence (top-1 probability)")
    fig.subplots_adjust(left=0.13, right=0.97, top=0.9, bottom=0.09)
    plotting.save(fig, target)
