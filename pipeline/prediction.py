"""Batch prediction over a folder people hand in: every file is judged by its content, and what cannot be read is
listed with its reason rather than stopping the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.images import UnreadableImage, decode_bgr
from pipeline.inference import chunks
from pipeline.io import DataError, list_files


@dataclass(frozen=True)
class FolderPredictions:
    predictions: pd.DataFrame  # path, label, confidence, top<k>: one row per readable image
    rejects: pd.DataFrame  # path, reason: one row per file that is not a readable image
    files: int


def read_image(path: Path):
    """A decoded image, or `UnreadableImage` naming why (an unreadable file included)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableImage(f"cannot be read ({exc.strerror})") from None
    return decode_bgr(data)


def predict_folder(classifier, folder: Path, batch: int, top_k: int, desc: str = "predict") -> FolderPredictions:
    """Classify every readable image under `folder` (recursively, any file name) with a `LegoClassifier`, a batch of
    files decoded at a time; a `DataError` only when not one file is readable."""
    files = list_files(folder)
    if not files:
        raise DataError(f"{folder}: no files to classify")
    rows, rejects = [], []
    with tqdm(total=len(files), desc=desc, unit="file") as bar:
        for chunk in chunks(files, batch):
            readable, images = [], []
            for path in chunk:
                name = path.relative_to(folder).as_posix()
                try:
                    images.append(read_image(path))
                    readable.append(name)
                except UnreadableImage as exc:
                    rejects.append({"path": name, "reason": str(exc)})
            if images:
                out = classifier.classify(images, top_k, batch)
                for name, label, confidence, labels, probs in zip(
                    readable, out["label"], out["confidence"], out["top_k_labels"], out["top_k_probabilities"]
                ):
                    top = [[str(lab), round(float(p), 6)] for lab, p in zip(labels, probs)]
                    rows.append(
                        {
                            "path": name,
                            "label": label,
                            "confidence": round(float(confidence), 6),
                            f"top{top_k}": json.dumps(top),
                        }
                    )
            bar.update(len(chunk))
    if not rows:
        first = rejects[0]
        raise DataError(
            f"{folder}: none of its {len(files)} files is a readable image (e.g. {first['path']}: {first['reason']})"
        )
    return FolderPredictions(pd.DataFrame(rows), pd.DataFrame(rejects, columns=["path", "reason"]), files=len(files))
