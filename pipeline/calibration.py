"""Confidence people can trust: a temperature fitted on held-out images, and a threshold below which the
model says "unknown" rather than guess.

Temperature scaling (Guo et al. 2017) divides the logits by one number `T`, fitted by minimising the negative
log-likelihood on images the model was not trained on (the `calibration` split): the ranking of classes, hence
top-1 and top-5, never changes, only how sure the model says it is. Applied to probabilities as
`softmax(log p / T)`, which equals `softmax(logits / T)` and also calibrates an ensemble's mean.

The "unknown" threshold is the calibrated confidence that keeps a stated share of in-distribution images answered
(`in_distribution_recall`, e.g. 0.95): below it the top-1 is withheld, not the top-k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
_FLOOR = 1e-12  # log(0) guard: float32 softmax underflows for classes far from the top
# A calibration split the model gets entirely right pulls the NLL-optimal temperature towards 0 (infinitely sure):
# the search stops at 1/4, which still sharpens an under-confident model 4-fold.
TEMPERATURE_BOUNDS = (0.25, 20.0)


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """`softmax(log(probs) / temperature)`, row-wise."""
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    return nll_of_true(np.asarray(probs)[np.arange(len(y_true)), y_true])


def nll_of_true(p_true: np.ndarray) -> float:
    """Mean negative log-likelihood from each image's probability of its true class."""
    picked = np.asarray(p_true, dtype=np.float64)
    return float(np.mean(-np.log(np.clip(picked, _FLOOR, 1.0)))) + 0.0  # + 0.0: no "-0.0" for a perfect model


def fit_temperature(probs: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature within `TEMPERATURE_BOUNDS` that minimises the NLL of `y_true` (searched on log T)."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: nll(scale(probs, float(np.exp(log_t))), y_true),
        bounds=tuple(np.log(TEMPERATURE_BOUNDS)),
        method="bounded",
    )
    return float(np.exp(result.x))


def unknown_threshold(confidence: np.ndarray, recall: float) -> float:
    """The largest confidence that still answers at least `recall` of these (in-distribution) images."""
    ordered = np.sort(np.asarray(confidence, dtype=float))
    withheld = int(np.floor((1.0 - recall) * len(ordered) + 1e-9))  # images allowed below the threshold
    return float(ordered[min(withheld, len(ordered) - 1)])


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """Answering only above each threshold: the share answered (coverage) and the error rate among them (risk),
    from the most confident image alone down to all of them."""
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    answered = np.arange(1, len(order) + 1)
    errors = np.cumsum(~np.asarray(correct, dtype=bool)[order])
    return pd.DataFrame(
        {
            "threshold": np.asarray(confidence, dtype=float)[order],
            "coverage": answered / len(order),
            "risk": errors / answered,
        }
    )


@dataclass(frozen=True)
class Calibration:
    """What a model says about its own confidence, stored beside it and applied wherever it answers."""

    temperature: float = 1.0
    unknown_threshold: float = 0.0  # calibrated top-1 confidence below which the label is "unknown"
    in_distribution_recall: float = 1.0
    images: int = 0  # calibration images it was fitted on
    held_out: bool = False  # False: fitted on images the model was trained on (no calibration split)
    nll_before: float | None = None
    nll_after: float | None = None

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return scale(probs, self.temperature) if self.temperature != 1.0 else np.asarray(probs, dtype=np.float64)

    def labels(self, probs: np.ndarray, names: list[str]) -> list[str]:
        """Top-1 names of calibrated `probs`, "unknown" where the model is less sure than the threshold."""
        best = probs.argmax(axis=1)
        return [names[i] if probs[row, i] >= self.unknown_threshold else UNKNOWN for row, i in enumerate(best)]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @classmethod
    def read(cls, path: str | Path | None) -> Calibration:
        """calibrate@<task>'s JSON; no file: temperature 1, never "unknown"."""
        from pipeline.io import read_json

        return cls.from_json(read_json(Path(path))) if path else cls()


def fit(probs: np.ndarray, y_true: np.ndarray, recall: float, held_out: bool) -> Calibration:
    """Temperature, then the threshold on the calibrated confidences of the same images."""
    temperature = fit_temperature(probs, y_true)
    calibrated = scale(probs, temperature)
    return Calibration(
        temperature=temperature,
        unknown_threshold=unknown_threshold(calibrated.max(axis=1), recall),
        in_distribution_recall=recall,
        images=int(len(y_true)),
        held_out=held_out,
        nll_before=nll(probs, y_true),
        nll_after=nll(calibrated, y_true),
    )
