"""Out-of-fold calibration (`calibrate.folds`): folds by picture, layouts that hold each fold out, and real fold
models answering every training picture once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import out_of_fold
from pipeline.io import DataError
from pipeline.params import Train
from tests.conftest import colour_classes


def split_table(dataset: Path) -> pd.DataFrame:
    """`split.csv` of an image-folder layout: every file with its split, class and content hash."""
    files = sorted(p for p in dataset.rglob("*.png"))
    table = pd.DataFrame({
        "file": [p.relative_to(dataset).as_posix() for p in files],
        "split": [p.relative_to(dataset).parts[0] for p in files],
        "label": [p.parent.name for p in files],
        "sha256": [hashlib.sha256(p.read_bytes()).hexdigest() for p in files],
    })  # fmt: skip
    table.to_csv(dataset / "split.csv", index=False)
    return table


def test_a_picture_and_its_copies_share_one_fold_and_classes_split_evenly():
    pictures = {"a": [f"a{i}" for i in range(7)], "b": [f"b{i}" for i in range(4)], "rare": ["r0"]}
    rows = pd.DataFrame(
        [{"label": label, "sha256": sha} for label, shas in pictures.items() for sha in shas]
        + [{"label": "a", "sha256": "a0"}, {"label": "a", "sha256": "a3"}, {"label": "b", "sha256": "b1"}]  # copies
    )
    fold = out_of_fold.assign_folds(rows, folds=2, seed=0)
    assert fold.groupby(rows["sha256"]).nunique().max() == 1  # a copy never lands in the other fold
    per_picture = pd.DataFrame({"label": rows["label"], "sha256": rows["sha256"], "fold": fold}).drop_duplicates()
    for label in ("a", "b"):
        sizes = per_picture[per_picture["label"] == label]["fold"].value_counts()
        assert set(sizes.index) == {0, 1} and sizes.max() - sizes.min() <= 1
    assert set(per_picture[per_picture["label"] == "rare"]["fold"]) == {out_of_fold.NEVER_HELD_OUT}
    assert fold.equals(out_of_fold.assign_folds(rows, folds=2, seed=0))
    assert not fold.equals(out_of_fold.assign_folds(rows, folds=2, seed=1))


def test_each_fold_layout_trains_on_the_others_and_holds_out_its_own(tmp_path):
    dataset = colour_classes(tmp_path / "theme", {"train": 5})
    split_table(dataset)
    rows = out_of_fold.train_rows(dataset)
    fold = out_of_fold.assign_folds(rows, folds=2, seed=0)
    answered = []
    for k in range(2):
        held_out = out_of_fold.fold_layout(dataset, rows, fold, k, tmp_path / f"fold{k}")
        trained_on = {
            p.relative_to(tmp_path / f"fold{k}" / "train") for p in (tmp_path / f"fold{k}" / "train").rglob("*.png")
        }
        shown = {p.relative_to(tmp_path / f"fold{k}" / "val") for p in (tmp_path / f"fold{k}" / "val").rglob("*.png")}
        assert shown == {Path(f).relative_to("train") for f in held_out["file"]} and not trained_on & shown
        assert {p.parent.name for p in (tmp_path / f"fold{k}" / "train").rglob("*.png")} == {
            "class0",
            "class1",
            "class2",
        }
        answered += list(held_out["sha256"])
    assert sorted(answered) == sorted(rows["sha256"])  # every picture held out exactly once
    linked = next((tmp_path / "fold0" / "train").rglob("*.png"))
    assert linked.stat().st_ino == (dataset / "train" / linked.parent.name / linked.name).stat().st_ino


def test_fold_models_answer_every_training_picture_once_and_leave_nothing_behind(tmp_path):
    dataset = colour_classes(tmp_path / "yolo" / "theme", {"train": 4, "val": 2, "test": 2})
    split_table(dataset)
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=6, workers=0)
    oof = out_of_fold.predictions(dataset, settings, folds=2, seed=0, batch=8)
    assert oof.names == ["class0", "class1", "class2"] and oof.folds == 2
    assert oof.probs.shape == (12, 3) and np.allclose(oof.probs.sum(axis=1), 1.0)
    assert sorted(np.bincount(oof.y_true)) == [4, 4, 4]  # the 12 train pictures, none of val or test
    assert sorted(p.name for p in (tmp_path / "yolo").iterdir()) == ["theme"]  # the fold folders are gone


def test_a_missing_split_table_is_one_line_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"split\.csv: file not found \(run the split stage first\)"):
        out_of_fold.train_rows(tmp_path)
