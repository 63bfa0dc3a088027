"""The evaluation report's calibration part: ECE and NLL before and after the temperature, how many test images
the "unknown" threshold answers, and the risk–coverage curve that shows what a stricter threshold would buy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import plotting
from pipeline.calibration import Calibration, nll, risk_coverage
from pipeline.reliability import perfect_calibration_ece


def calibration_metrics(
    y_true: np.ndarray, calibrated: np.ndarray, uncalibrated: np.ndarray, calibration: Calibration
) -> dict:
    """Flat metrics for metrics.json (ECE is the report's own, see `pipeline.report`)."""
    confidence = calibrated.max(axis=1)
    answered = confidence >= calibration.unknown_threshold
    correct = calibrated.argmax(axis=1) == y_true
    return {
        "ece_perfect_calibration": perfect_calibration_ece(confidence),
        "nll": nll(calibrated, y_true),
        "nll_uncalibrated": nll(uncalibrated, y_true),
        "temperature": calibration.temperature,
        "unknown_threshold": calibration.unknown_threshold,
        "answered": float(answered.mean()),
        "answered_top1": float(correct[answered].mean()) if answered.any() else float("nan"),
    }


def plot_risk_coverage(confidence: np.ndarray, correct: np.ndarray, threshold: float, title: str, target: Path) -> None:
    """Error rate among the answered images against the share answered, with the model's threshold marked."""
    curve = risk_coverage(confidence, correct)
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(curve["coverage"], curve["risk"], color="#4C72B0", label="answer only above a threshold")
    answered = float((confidence >= threshold).mean())
    risk = float((~correct[confidence >= threshold]).mean()) if answered else 0.0
    ax.scatter([answered], [risk], color="#C44E52", zorder=3,
               label=f"the model's threshold {threshold:.2f}: {answered:.0%} answered, {risk:.1%} wrong")  # fmt: skip
    ax.axhline(float((~correct).mean()), color="grey", linestyle="--", label="answering everything")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, max(0.05, float(curve["risk"].max()) * 1.1))
    ax.set_xlabel("coverage (share of test images answered)")
    ax.set_ylabel("risk (error rate among answered)")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    plotting.save(fig, target)


def markdown(metrics: dict, calibration: Calibration) -> str:
    """The report's calibration section (after the reliability diagrams)."""
    fitted = (
        f"Temperature {calibration.temperature:.3f}, fitted on {calibration.images} calibration images"
        + ("" if calibration.held_out else " (in-sample: the model was trained on them)")
        + f": test NLL {metrics['nll_uncalibrated']:.4f} → {metrics['nll']:.4f}, "
        f"ECE {metrics['ece_uncalibrated']:.3f} → {metrics['ece']:.3f}. A perfectly calibrated model with these "
        f"confidences would show ECE ≈ {metrics['ece_perfect_calibration']:.3f} on this many test images, from "
        "sampling alone: an ECE near that is as low as this test split can tell."
    )
    unknown = (
        f'"unknown" below a calibrated confidence of {calibration.unknown_threshold:.3f} (the threshold that answers '
        f"{calibration.in_distribution_recall:.0%} of the calibration images): {metrics['answered']:.1%} of the test "
        f"images are answered, {metrics['answered_top1']:.1%} of them correctly."
    )
    return "\n\n".join([fitted, unknown, "![risk-coverage curve](risk_coverage.png)"])
