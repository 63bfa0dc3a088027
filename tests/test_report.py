"""The evaluation report: calibration and confusion tables by hand, real PNGs, and a Markdown page that links them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.evaluation import summarise
from pipeline.reliability import expected_calibration_error, plot_reliability, reliability_table
from pipeline.report import group_accuracy, plot_mistakes, plot_per_class, top_confusions, write_evaluation

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_side: int = 150) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert min(width, height) >= min_side and max(width, height) < 5000
    return width, height


def make_jpegs(folder: Path, colours: list[tuple[int, int, int]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, colour in enumerate(colours):
        path = folder / f"img_{i}.jpg"
        Image.new("RGB", (64, 48), colour).save(path, format="JPEG")
        paths.append(path)
    return paths


def direct_ece(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    total = 0.0
    for b in range(bins):
        lower, upper = b / bins, (b + 1) / bins
        inside = (confidence > lower) & (confidence <= upper) if b else (confidence <= upper)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


def test_ece_hand_cases():
    correct = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    assert expected_calibration_error(np.ones(8), correct) == pytest.approx(0.5)
    calibrated = np.array([0.25] * 4 + [0.75] * 4)
    assert expected_calibration_error(calibrated, np.array([1, 0, 0, 0, 1, 1, 1, 0])) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(3), np.ones(3)) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        expected_calibration_error(np.array([]), np.array([]))


def test_ece_matches_direct_computation_and_table_counts_sum_to_n():
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0, 1, 500)
    confidence[:5] = [0.0, 0.1, 0.2, 1.0, 0.55]  # edges land in the bin they close
    correct = rng.uniform(0, 1, 500) < confidence**2
    for bins in (5, 10, 15):
        assert expected_calibration_error(confidence, correct, bins) == pytest.approx(
            direct_ece(confidence, correct, bins)
        )
    edges = reliability_table(np.array([0.0, 0.1, 0.2, 0.25, 1.0]), np.ones(5, dtype=bool), bins=10)
    assert edges["count"].tolist() == [2, 1, 1, 0, 0, 0, 0, 0, 0, 1]
    table = reliability_table(confidence, correct, bins=10)
    assert list(table.columns) == ["bin", "lower", "upper", "count", "accuracy", "confidence"]
    assert len(table) == 10 and table["count"].sum() == 500
    assert table.loc[0, "lower"] == 0.0 and table.loc[9, "upper"] == 1.0
    filled = table[table["count"] > 0]
    assert ((filled["confidence"] > filled["lower"] - 1e-12) & (filled["confidence"] <= filled["upper"])).all()


def test_top_confusions_exact_rows():
    names = ["ant", "bee", "cat"]
    matrix = np.array([[5, 3, 1], [2, 4, 2], [0, 3, 7]])
    frame = top_confusions(matrix, names, k=4)
    assert list(frame.columns) == ["actual", "predicted", "count", "share_of_actual"]
    assert list(frame.itertuples(index=False, name=None))[:4] == [
        ("ant", "bee", 3, pytest.approx(3 / 9)),
        ("cat", "bee", 3, pytest.approx(3 / 10)),
        ("bee", "ant", 2, pytest.approx(2 / 8)),
        ("bee", "cat", 2, pytest.approx(2 / 8)),
    ]
    assert len(top_confusions(matrix, names, k=10)) == 5  # the zero cell and the diagonal are left out
    assert top_confusions(np.diag([3, 4, 5]), names).empty


def test_group_accuracy_characters_to_universes():
    names = ["iron-man", "thor", "yoda", "vader", "harry"]
    universe = {"iron-man": "marvel", "thor": "marvel", "yoda": "star-wars", "vader": "star-wars"}
    y_true = np.array([0, 1, 2, 3, 4, 0])
    y_pred = np.array([1, 1, 3, 0, 4, 4])  # right universe, right, right universe, wrong, (ungrouped), ungrouped guess
    assert group_accuracy(y_true, y_pred, names, universe) == pytest.approx(3 / 5)
    assert group_accuracy(y_true, y_pred, names, {}) is None
    assert group_accuracy(y_true, y_pred, names, {"groot": "marvel"}) is None


def test_per_class_and_reliability_plots_are_pngs(tmp_path):
    names = [f"minifig-character-{i:02d}" for i in range(37)]
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "class": names,
            "precision": rng.uniform(0, 1, 37),
            "recall": rng.uniform(0, 1, 37),
            "f1": rng.uniform(0, 1, 37),
            "support": rng.integers(1, 30, 37),
        }
    )
    plot_per_class(table, "minifigures", tmp_path / "many.png")
    plot_per_class(table.head(4), "sets", tmp_path / "few.png")
    many, few = assert_png(tmp_path / "many.png"), assert_png(tmp_path / "few.png")
    assert many[1] > 2 * few[1]  # grows with the number of classes instead of squeezing them
    confidence = rng.uniform(0.2, 1, 300)
    table = reliability_table(confidence, rng.uniform(0, 1, 300) < confidence)
    plot_reliability(table, 0.123, "minifigures", tmp_path / "reliability.png")
    assert_png(tmp_path / "reliability.png")


def test_plot_mistakes_gallery_and_no_mistakes(tmp_path):
    paths = make_jpegs(tmp_path / "images", [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 0)])
    target = tmp_path / "mistakes.png"
    plot_mistakes(paths, ["a", "b", "c", "d"], ["a", "c", "b", "a"], [0.9, 0.8, 0.6, 0.99], target)
    gallery = assert_png(target)
    plot_mistakes(paths, ["a", "b", "c", "d"], ["a", "b", "c", "d"], [0.9, 0.8, 0.6, 0.99], target)
    empty = assert_png(target, min_side=100)
    assert empty[0] * empty[1] < gallery[0] * gallery[1] / 2
    plot_mistakes([tmp_path / "missing.jpg"], ["a"], ["b"], [0.5], tmp_path / "unreadable.png")
    assert_png(tmp_path / "unreadable.png")


def test_write_evaluation_files_and_markdown(tmp_path):
    names = ["bad-class", "mid-class", "good-class"]
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    probs = np.full((12, 3), 0.1)
    predicted = [0, 1, 1, 2, 1, 1, 1, 2, 2, 2, 2, 2]  # recall 0.25, 0.75, 1.0; precision 1.0, 0.6, 0.67
    probs[np.arange(12), predicted] = 0.8
    paths = make_jpegs(tmp_path / "images", [(i * 20, 100, 200 - i * 15) for i in range(12)])
    metrics, table, matrix = summarise(y_true, probs, names, {"mid-class": 50, "good-class": 10})
    metrics["universe_top1"] = 0.875
    out = tmp_path / "report"
    extras = write_evaluation(
        out,
        task="minifigures",
        metrics=metrics,
        table=table,
        matrix=matrix,
        names=names,
        paths=paths,
        y_true=y_true,
        probs=probs,
        run_id="abc123",
    )
    confidence = probs.max(axis=1)
    assert extras["ece"] == pytest.approx(direct_ece(confidence, probs.argmax(axis=1) == y_true, 10))
    for name in ("per_class.png", "reliability.png", "mistakes.png"):
        assert_png(out / name)
    confusions = pd.read_csv(out / "top_confusions.csv")
    assert confusions.iloc[0].tolist()[:3] == ["bad-class", "mid-class", 2]
    text = (out / "report.md").read_text()
    for link in ("per_class.png", "confusion_matrix.png", "reliability.png", "mistakes.png"):
        assert f"]({link})" in text
    assert "majority-class baseline" in text
    assert "| top-1 accuracy | 0.667 | 0.333 |" in text  # model beside the baseline (always mid-class)
    assert f"{extras['ece']:.3f}" in text
    assert "universe_top1" in text or "universe top-1" in text
    assert "abc123" in text
    per_class = text[text.index("## Per-class table") :]
    assert per_class.index("bad-class") < per_class.index("mid-class") < per_class.index("good-class")
    assert not list(out.glob(".*.tmp"))


def test_write_evaluation_rejects_misaligned_inputs(tmp_path):
    with pytest.raises(ValueError, match="differ in length"):
        write_evaluation(
            tmp_path,
            task="t",
            metrics={},
            table=pd.DataFrame(),
            matrix=np.zeros((2, 2)),
            names=["a", "b"],
            paths=[tmp_path / "x.jpg"],
            y_true=np.array([0, 1]),
            probs=np.eye(2),
        )
