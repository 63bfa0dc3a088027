"""Batch prediction over a folder people hand in: every file is judged by its content, and what cannot be read is
listed with its reason rather than stopping the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.calibration import UNKNOWN
from pipeline.io import DataError, list_files


@dataclass(frozen=True)
class FolderPredictions:
    predictions: pd.DataFrame  # path, label, confidence, top<k>: one row per readable image
    rejects: pd.DataFrame  # path, reason: one row per file that is not a readable image
    files: int


def predict_folder(classifier, folder: Path, batch: int, top_k: int, desc: str = "predict") -> FolderPredictions:
    """Classify every readable image under `folder` (recursively, any file name) with a `LegoClassifier`; a
    `DataError` only when not one file is readable."""
    files = list_files(folder)
    if not files:
        raise DataError(f"{folder}: no files to classify")
    answers, verdicts = classifier.answer(files, top_k, batch, progress=desc)
    names = [path.relative_to(folder).as_posix() for path in files]
    rejects = [{"path": name, "reason": str(v)} for name, v in zip(names, verdicts) if v is not None]
    if answers.empty:
        first = rejects[0]
        raise DataError(
            f"{folder}: none of its {len(files)} files is a readable image (e.g. {first['path']}: {first['reason']})"
        )
    readable = [name for name, v in zip(names, verdicts) if v is None]
    top = [
        json.dumps([[str(label), round(float(p), 6)] for label, p in zip(labels, probs)])
        for labels, probs in zip(answers["top_k_labels"], answers["top_k_probabilities"])
    ]
    predictions = pd.DataFrame(
        {"path": readable, "label": answers["label"], "confidence": answers["confidence"].round(6), f"top{top_k}": top}
    )
    return FolderPredictions(predictions, pd.DataFrame(rejects, columns=["path", "reason"]), files=len(files))


def review_queue(predictions: pd.DataFrame, folder: Path, size: int) -> pd.DataFrame:
    """Where a person's correction helps most (uncertainty sampling): every "unknown" answer, then the `size` least
    confident of the others, least confident first. `file` is where the page finds the image (relative to the
    project when inside it); `reason` says why it is queued."""
    from pipeline.paths import PROJECT_ROOT

    unknown = predictions[predictions["label"] == UNKNOWN]
    doubtful = predictions[predictions["label"] != UNKNOWN].nsmallest(size, "confidence")
    queue = pd.concat([unknown.assign(reason="unknown"), doubtful.assign(reason="least confident")])
    queue = queue.sort_values("confidence", kind="stable", ignore_index=True)
    root = folder.resolve()
    where = root.relative_to(PROJECT_ROOT) if root.is_relative_to(PROJECT_ROOT) else root
    files = [(where / path).as_posix() for path in queue["path"]]
    return queue.assign(file=files)[["file", "reason", *predictions.columns.drop("path")]]
