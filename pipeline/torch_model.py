"""Batch classification with Ultralytics' own predictor: the torch path, kept for models registered before the
ONNX export (`pipeline.onnx_model`, the path everything else runs) and as the reference the export is checked on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.images import chunks

ImageLike = str | Path | Image.Image | np.ndarray  # an array: BGR, as Ultralytics reads files


def class_probabilities(model, images: Sequence[ImageLike], batch: int, progress: str | None = None) -> np.ndarray:
    """`(len(images), n_classes)` probabilities, in `model.names` order, preprocessed as in validation."""
    sources = [str(i) if isinstance(i, Path) else i for i in images]
    rows: list[np.ndarray] = []
    bar = tqdm(total=len(sources), desc=progress, unit="img", disable=progress is None)
    with bar:
        for chunk in chunks(sources, batch):
            results = model.predict(list(chunk), batch=len(chunk), verbose=False)
            rows += [r.probs.data.float().cpu().numpy() for r in results]
            bar.update(len(chunk))
    return np.stack(rows) if rows else np.zeros((0, len(model.names)), dtype=np.float32)


def class_names(model) -> list[str]:
    names = model.names
    return [names[i] for i in range(len(names))]


class Ensemble:
    """One or more Ultralytics classifiers over the same classes, answering with the mean of their
    probabilities: the one model behind evaluate, the pyfunc and the train stage's ensemble score."""

    def __init__(self, weights: Sequence[str | Path]):
        from pipeline import offline

        if not weights:
            raise ValueError("an ensemble needs at least one weights file")
        yolo = offline.ultralytics().YOLO
        self.weights = [Path(w) for w in weights]
        self.members = [yolo(str(w), task="classify") for w in self.weights]
        self.names = class_names(self.members[0])
        for path, member in zip(self.weights[1:], self.members[1:]):
            if class_names(member) != self.names:
                raise ValueError(f"{path}: its classes differ from those of {self.weights[0]}")

    def classify(self, sources: Sequence, batch: int, progress: str | None = None):
        """`OnnxClassifier.classify`'s answer (probabilities of the readable sources, no embeddings, per source
        `None` or why it is unreadable) for files, encoded bytes or BGR arrays, decoded at full scale."""
        from pipeline.images import UnreadableImage, decode_bgr, read_bytes

        images: list[np.ndarray] = []
        verdicts: list[UnreadableImage | None] = []
        for source in sources:
            try:
                data = source if isinstance(source, np.ndarray | bytes) else read_bytes(source)
                images.append(data if isinstance(data, np.ndarray) else decode_bgr(data))
                verdicts.append(None)
            except UnreadableImage as exc:
                verdicts.append(exc)
        probs = self.probabilities(images, batch, progress) if images else np.zeros((0, len(self.names)))
        return probs, None, verdicts

    def batches(self, sources: Sequence, batch: int, progress: str | None = None):
        """`OnnxClassifier.batches`: per batch of sources, their verdicts and the readable ones' probabilities (no
        embeddings), holding one batch of decoded pictures at a time."""
        with tqdm(total=len(sources), desc=progress, unit="img", disable=progress is None) as bar:
            for chunk in chunks(list(sources), batch):
                probs, _, verdicts = self.classify(chunk, batch)
                yield verdicts, probs, None
                bar.update(len(chunk))

    def probabilities(self, images: Sequence[ImageLike], batch: int, progress: str | None = None) -> np.ndarray:
        """`(len(images), n_classes)`, in `self.names` order."""
        n = len(self.members)
        return np.mean(
            [
                class_probabilities(
                    member, images, batch, f"{progress} ({i + 1}/{n})" if progress and n > 1 else progress
                )
                for i, member in enumerate(self.members)
            ],
            axis=0,
        )


def top_k(probs: np.ndarray, names: Sequence[str], k: int) -> Iterable[list[tuple[str, float]]]:
    """Per row, the `k` most probable `(label, probability)` pairs, best first."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    for row, idx in zip(probs, order):
        yield [(names[i], float(row[i])) for i in idx]
