"""The out-of-catalogue check: its numbers, its pictures, and a real-photo model that says "unknown" for set boxes."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline import out_of_catalogue
from pipeline.params import ParamsError, load


def pairwise_auroc(inside, outside) -> float:
    """The definition, pair by pair."""
    pairs = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in product(inside, outside)]
    return float(np.mean(pairs))


def test_auroc_is_the_share_of_pairs_ordered_right():
    assert out_of_catalogue.auroc([0.9, 0.8], [0.1, 0.2, 0.3]) == 1.0
    assert out_of_catalogue.auroc([0.1], [0.9, 0.95]) == 0.0
    assert out_of_catalogue.auroc([0.5, 0.5], [0.5]) == 0.5
    rng = np.random.default_rng(0)
    inside, outside = rng.beta(5, 1, 40).round(2), rng.beta(2, 2, 30).round(2)  # rounded: ties included
    assert out_of_catalogue.auroc(inside, outside) == pytest.approx(pairwise_auroc(inside, outside))
    assert np.isnan(out_of_catalogue.auroc([0.9], []))


def test_summary_counts_unknown_below_the_threshold():
    metrics = out_of_catalogue.summarise(np.array([0.99, 0.95, 0.6, 0.9]), np.array([0.3, 0.8, 0.5, 0.7, 0.95]), 0.75)
    assert metrics["images"] == 5
    assert metrics["unknown"] == pytest.approx(3 / 5)  # 0.3, 0.5, 0.7
    assert metrics["answered_in_distribution"] == pytest.approx(3 / 4)
    assert metrics["median_confidence"] == pytest.approx(0.7)
    assert metrics["median_confidence_in_distribution"] == pytest.approx(0.925)
    assert metrics["auroc"] == pytest.approx(pairwise_auroc([0.99, 0.95, 0.6, 0.9], [0.3, 0.8, 0.5, 0.7, 0.95]))


def test_plots_and_page(tmp_path):
    from PIL import Image

    pictures = []
    for i in range(3):
        pictures.append(tmp_path / f"box{i}.jpg")
        Image.new("RGB", (64, 48), (40 * i, 90, 160)).save(pictures[-1])
    out_of_catalogue.plot_confidence(np.array([0.9, 0.99]), np.array([0.2, 0.8, 0.6]), 0.7, "t", tmp_path / "c.png")
    out_of_catalogue.plot_most_confident(pictures, ["a", "b", "a"], [0.2, 0.8, 0.6], 0.7, tmp_path / "m.png")
    out_of_catalogue.plot_most_confident([], [], [], 0.7, tmp_path / "none.png")
    for name in ("c.png", "m.png", "none.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width > 200
    metrics = out_of_catalogue.summarise(np.array([0.9, 0.99]), np.array([0.2, 0.8, 0.6]), 0.7)
    page = out_of_catalogue.markdown("minifigure", "data/raw/sets/images", metrics, rejected=1)
    assert '**66.7% of them get "unknown"**' in page and "1 unreadable files skipped" in page
    assert "(confidence.png)" in page and "(most_confident.png)" in page


def test_params_name_tasks_only(tmp_path):
    from pipeline.paths import PROJECT_ROOT

    config = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    assert load(PROJECT_ROOT / "params.yaml").out_of_catalogue_dir("minifigure") == (
        PROJECT_ROOT / "data" / "raw" / "sets" / "images"
    )
    for section in (config["tasks"], config["train"], config["pretrain"]):
        del section["minifigure"]
    config["predict"]["input"] = {"theme": "data/yolo/theme/test"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ParamsError, match=r"out_of_catalogue: .*\['minifigure'\] not in tasks \['theme'\]"):
        load(path)
    config["out_of_catalogue"] = {}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ParamsError, match="out_of_catalogue has no folder for task 'theme'"):
        load(path).out_of_catalogue_dir("theme")


def real_minifigure_dataset(shared_data: Path, out: Path) -> Path:
    """The Kaggle copy's training photos only (its test.csv stays untouched), split into train, val, calibration and
    a held-out test of known characters."""
    from pipeline.io import sha256_file
    from pipeline.params import Split
    from pipeline.providers.kaggle_layout import read_layout
    from pipeline.split import SplitTable, assign, materialise

    root = shared_data / "lego-minifigures"
    layout = read_layout(root)
    layout = layout[layout["split_hint"] != "test"]
    rows = layout.rename(columns={"character": "label"}).assign(
        sha256=[sha256_file(root / p) for p in layout["path"]], split_hint=None
    )
    settings = Split(val_fraction=0.15, test_fraction=0.15, min_val_per_class=1, calibration_fraction=0.1, refit=False)
    table = SplitTable.of(rows)
    assign(table, settings, seed=0)
    materialise(table, root, out)
    return out


@pytest.mark.slow
def test_a_real_photo_model_says_unknown_for_real_set_pictures(shared_data, tmp_path):
    """A short fine-tune of the packaged ImageNet backbone on the real minifigure photos, calibrated on its own
    calibration split like calibrate@minifigure, given the real set pictures (boxes and scenes, none of the 37
    characters photographed alone): it withholds far more of them than of the held-out figure photos."""
    from pipeline import calibration
    from pipeline.evaluation import labelled_images
    from pipeline.io import list_files
    from pipeline.onnx_model import OnnxClassifier
    from pipeline.params import Train
    from pipeline.training import train

    dataset = real_minifigure_dataset(shared_data, tmp_path / "yolo")
    settings = Train(model="efficientnet-lite0", epochs=10, imgsz=128, batch=32, workers=0, optimizer="AdamW",
                     lr0=0.003, overrides={"freeze": 5, "dropout": 0.2, "cos_lr": True, "warmup_bias_lr": 0.0})  # fmt: skip
    model = OnnxClassifier([train(settings, dataset, tmp_path / "run", seed=0).onnx])

    def scored(split: str) -> tuple[np.ndarray, np.ndarray]:
        images = labelled_images(dataset / split)
        return model.probabilities(list(images["path"]), 32), images["label"].map(model.names.index).to_numpy()

    fitted = calibration.fit(*scored("calibration"), recall=0.95, held_out=True)
    test_probs, test_labels = scored("test")
    test = fitted.apply(test_probs)
    assert (test.argmax(axis=1) == test_labels).mean() > 0.6  # a real model, not a coin: 37 classes
    sets, _, verdicts = model.classify(list_files(shared_data / "set-photos"), 32)
    metrics = out_of_catalogue.summarise(test.max(axis=1), fitted.apply(sets).max(axis=1), fitted.unknown_threshold)
    assert metrics["images"] == sum(v is None for v in verdicts) > 600
    withheld = 1 - metrics["answered_in_distribution"]
    assert metrics["unknown"] >= max(0.3, 2.5 * withheld), metrics
    assert metrics["auroc"] >= 0.7, metrics  # 0.79 on seeds 0 and 1
