"""Calibration without a calibration split: out-of-fold predictions of the training pictures.

`calibrate.folds: K` splits the pictures train@<task> trained on into K folds (stratified per class, by content, so
a picture, its copy in train/ under `split.refit` and its oversampled copies stay together), trains the task's
recipe K times, each on the other folds, and keeps each model's answers on its own fold. Every picture is then
answered once by a model that never saw it, which is what the temperature and the "unknown" threshold are fitted
on, while the registered model trains on every picture (`split.calibration_fraction: 0`). The K models are thrown
away; with K = 2 each trains on half the pictures, so calibration costs about one more training.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.io import DataError, link_or_copy
from pipeline.params import Train

NEVER_HELD_OUT = -1  # a class with fewer pictures than folds: in every fold's training, in none's answers


def assign_folds(rows: pd.DataFrame, folds: int, seed: int) -> pd.Series:
    """The fold of each `split.csv` train row (`label`, `sha256`): each class's distinct pictures dealt round-robin
    in a seeded order, so fold sizes differ by at most one per class; `NEVER_HELD_OUT` for a class with fewer
    pictures than folds (held out, it would be missing from a fold model's classes)."""
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for _, group in rows.groupby("label", sort=True):
        pictures = np.array(sorted(set(group["sha256"])))
        if len(pictures) < folds:
            fold_of.update(dict.fromkeys(pictures, NEVER_HELD_OUT))
            continue
        order = rng.permutation(len(pictures))
        fold_of.update({pictures[i]: rank % folds for rank, i in enumerate(order)})
    return rows["sha256"].map(fold_of).astype(int)


def fold_layout(dataset: Path, rows: pd.DataFrame, fold: pd.Series, k: int, target: Path) -> pd.DataFrame:
    """`target/{train,val}/<class>/`: hard links to the dataset's train files outside fold `k`, and to one file per
    picture of fold `k` (the held-out pictures); returns the held-out rows."""
    held_out = rows[fold == k].drop_duplicates("sha256")
    for split, part in (("train", rows[fold != k]), ("val", held_out)):
        for file, label in zip(part["file"], part["label"]):
            dest = target / split / str(label) / Path(file).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(dataset / file, dest)
    return held_out


@dataclass(frozen=True)
class OutOfFold:
    probs: np.ndarray  # one row per held-out picture, columns in `names` order
    y_true: np.ndarray
    names: list[str]
    folds: int


def train_rows(dataset: Path) -> pd.DataFrame:
    """The train rows of split@<task>'s table (`dataset/split.csv`): `file`, `label`, `sha256`."""
    path = dataset / "split.csv"
    try:
        table = pd.read_csv(path, usecols=["file", "split", "label", "sha256"], dtype={"label": str})
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the split stage first)") from None
    except ValueError as exc:  # a column missing
        raise DataError(f"{path}: {exc} (run the split stage again)") from None
    return table[table["split"] == "train"].reset_index(drop=True)


def predictions(dataset: Path, settings: Train, folds: int, seed: int, batch: int) -> OutOfFold:
    """Out-of-fold probabilities of the pictures split@<task> put in `dataset/train`, each fold's model trained with
    `settings` for the full schedule (as after `split.refit`: its last epoch, not one chosen on the pictures it
    answers) and `settings.ensemble` members (seeds `seed`, `seed + 1`, …), as the registered model is."""
    from pipeline.onnx_model import OnnxClassifier
    from pipeline.training import train

    rows = train_rows(dataset)
    fold = assign_folds(rows, folds, seed)
    # Ultralytics' per-epoch validation would score the held-out fold 40 times for nothing: the last epoch is kept
    settings = settings.model_copy(update={"overrides": {**settings.overrides, "val": False}})
    names = sorted(rows["label"].unique())
    probs, y_true = [], []
    # beside the dataset, so that its files are hard-linked, not copied; removed afterwards whatever happens
    with tempfile.TemporaryDirectory(dir=dataset.parent, prefix=f".out-of-fold-{dataset.name}-") as tmp:
        for k in range(folds):
            fold_data = Path(tmp) / f"fold{k}"
            held_out = fold_layout(dataset, rows, fold, k, fold_data)
            members = [
                train(settings, fold_data, Path(tmp) / "runs" / f"fold{k}-member{m}", seed + m, refit=True)
                for m in range(settings.ensemble)
            ]
            model = OnnxClassifier([member.onnx for member in members])
            if model.names != names:
                raise DataError(f"{dataset}: fold {k}'s model has classes {model.names}, not the dataset's {names}")
            files = [fold_data / "val" / Path(file).relative_to("train") for file in held_out["file"]]
            probs.append(model.probabilities(files, batch, progress=f"out-of-fold {k + 1}/{folds}"))
            y_true.append(held_out["label"].map(names.index).to_numpy())
    return OutOfFold(np.concatenate(probs), np.concatenate(y_true), names, folds)
