"""Temperature scaling and the "unknown" threshold: pure functions over probabilities and labels."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import calibration
from pipeline.calibration import UNKNOWN, Calibration
from pipeline.reliability import expected_calibration_error


def overconfident(n: int = 4000, classes: int = 5, true_temperature: float = 2.5, seed: int = 0):
    """Labels drawn from softmax(z / T): a model whose probabilities softmax(z) are T times too sharp."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, classes))
    truth = calibration.scale(np.exp(logits), true_temperature)
    y = np.array([rng.choice(classes, p=row) for row in truth])
    return calibration.scale(np.exp(logits), 1.0), y


def test_the_fitted_temperature_recovers_the_true_one_and_lowers_nll_and_ece():
    probs, y = overconfident()
    temperature = calibration.fit_temperature(probs, y)
    assert temperature == pytest.approx(2.5, rel=0.1)
    scaled = calibration.scale(probs, temperature)
    assert calibration.nll(scaled, y) < calibration.nll(probs, y)
    ece = lambda p: expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y)  # noqa: E731
    assert ece(scaled) < 0.03 < ece(probs)


def test_scaling_never_changes_the_ranking():
    probs, _ = overconfident(n=300)
    for temperature in (0.3, 1.0, 4.0):
        scaled = calibration.scale(probs, temperature)
        np.testing.assert_array_equal(np.argsort(-scaled, axis=1), np.argsort(-probs, axis=1))
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)


def test_the_threshold_answers_the_stated_share_of_known_images():
    confidence = np.linspace(0.2, 1.0, 200)
    threshold = calibration.unknown_threshold(confidence, recall=0.95)
    assert (confidence >= threshold).mean() == pytest.approx(0.95, abs=0.005)
    assert calibration.unknown_threshold(confidence, recall=1.0) == confidence.min()


def test_labels_say_unknown_below_the_threshold_and_keep_the_rest():
    fitted = Calibration(unknown_threshold=0.6)
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]])
    assert fitted.labels(probs, ["a", "b"]) == ["a", UNKNOWN, "b"]
    assert Calibration().labels(probs, ["a", "b"]) == ["a", "a", "b"]  # no calibration: never unknown


def test_risk_coverage_goes_from_the_surest_answer_to_all_of_them():
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, False, True, True])
    curve = calibration.risk_coverage(confidence, correct)
    assert curve["coverage"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert curve["risk"].tolist() == pytest.approx([0.0, 0.5, 1 / 3, 0.25])


def test_fit_stores_what_it_was_fitted_on_and_round_trips():
    probs, y = overconfident(n=500)
    fitted = calibration.fit(probs, y, recall=0.9, held_out=True)
    assert fitted.images == 500 and fitted.held_out and fitted.nll_after < fitted.nll_before
    assert Calibration.from_json(fitted.to_json()) == fitted


def test_the_perfect_calibration_ece_is_the_reports_ece_of_a_calibrated_draw():
    from pipeline.reliability import perfect_calibration_ece

    confidence = np.random.default_rng(3).uniform(0.3, 1.0, 64)
    draw = np.random.default_rng(7).random((1, 64)) < confidence  # the same stream the function draws from
    assert perfect_calibration_ece(confidence, draws=1, seed=7) == pytest.approx(
        expected_calibration_error(confidence, draw[0]), abs=1e-12
    )


def test_a_small_test_split_cannot_show_a_small_ece_even_when_perfectly_calibrated():
    from pipeline.reliability import perfect_calibration_ece

    # one bin at 0.8: E|Binomial(n, 0.8)/n - 0.8| ≈ sqrt(2/π)·sqrt(0.16/n)
    for n in (64, 1000):
        expected = np.sqrt(2 / np.pi) * np.sqrt(0.16 / n)
        assert perfect_calibration_ece(np.full(n, 0.8)) == pytest.approx(expected, rel=0.08)
    spread = np.random.default_rng(0).uniform(0.5, 1.0, 2000)  # confidences over several bins
    assert perfect_calibration_ece(spread[:64]) > 0.05 > perfect_calibration_ece(spread)
