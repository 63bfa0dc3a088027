"""A registered champion as the page shows it: the model (loaded once per version), its test scores, its MLflow run,
and the training images its embeddings say an upload is most like."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pipeline import embeddings, paths, registry
from pipeline.io import DataError

METRICS = ("top1", "top5", "macro_f1", "ece", "answered")  # what the page shows of a version's test scores


@dataclass(frozen=True)
class Neighbours:
    """The training images' embeddings (evaluate@<task>'s `embeddings.npz`, logged with the version's run)."""

    vectors: np.ndarray
    labels: list[str]
    files: list[Path]

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[Path, str]]:
        if k == 0 or not len(self.vectors):
            return []
        index = embeddings.nearest(vector[None, :], self.vectors, min(k, len(self.vectors)))[0]
        return [(self.files[i], self.labels[i]) for i in index]


@dataclass
class Champion:
    task: str
    version: str
    run_id: str
    experiment_id: str
    classifier: registry.LegoClassifier
    metrics: dict[str, float]  # the version's test scores, from its run (`test/<name>`)
    data_source: str | None
    neighbours: Neighbours | None

    @property
    def names(self) -> list[str]:
        return list(self.classifier.names)

    @property
    def threshold(self) -> float:
        return float(self.classifier.calibration.unknown_threshold)

    def run_url(self, mlflow_ui: str) -> str:
        return f"{mlflow_ui.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"


def champion_versions(tasks: Sequence[str]) -> dict[str, str]:
    """`task → champion version` for the tasks that have one (a cheap registry query: the page asks on every run,
    so a newly promoted champion is picked up without a restart)."""
    import mlflow

    client, found = mlflow.MlflowClient(), {}
    for task in tasks:
        version = registry.champion_version(client, task)
        if version is not None:
            found[task] = str(version.version)
    return found


def neighbours(run_id: str, dataset: Path) -> Neighbours | None:
    """The run's training-image embeddings, where evaluate logged them; image files are looked for under `dataset`
    (this checkout's `data/yolo/<task>/`; a file no longer there is shown by its class alone)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="evaluate/embeddings.npz", dst_path=tmp
            )
        except (mlflow.exceptions.MlflowException, OSError):
            return None
        data = embeddings.load(Path(local))
    train = data["split"] == "train"
    files = [dataset / p for p in data["path"][train]]
    return Neighbours(data["vector"][train], [str(x) for x in data["label"][train]], files)


def load(task: str, version: str, dataset: Path | None = None) -> Champion:
    """Version `version` of the task's model, loaded from its own artifact folder (nothing is written into it);
    its training images are looked for under `dataset` (default `data/yolo/<task>/`)."""
    import mlflow

    version, source = registry.registered_source(task, version)
    classifier = registry.load_classifier(source)
    client = mlflow.MlflowClient()
    found = client.get_model_version(registry.model_name(task), version)
    if found.run_id is None:
        raise DataError(f"{registry.model_name(task)} v{version}: registered without an MLflow run")
    run = client.get_run(found.run_id)
    metrics = {k.removeprefix("test/"): v for k, v in run.data.metrics.items() if k.startswith("test/")}
    return Champion(
        task=task, version=version, run_id=found.run_id, experiment_id=run.info.experiment_id, classifier=classifier,
        metrics=metrics, data_source=found.tags.get("data_source"), neighbours=neighbours(found.run_id, dataset or paths.YOLO / task),
    )  # fmt: skip


@dataclass
class Answer:
    """The champion's answer for one upload, or why there is none (`error`)."""

    name: str
    data: bytes
    sha256: str
    error: str | None = None
    label: str | None = None  # "unknown" below the model's threshold
    top: list[tuple[str, float]] = field(default_factory=list)  # calibrated, best first
    similar: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return self.top[0][1] if self.top else 0.0

    @property
    def best_guess(self) -> str | None:
        return self.top[0][0] if self.top else None


def answer(champion: Champion, uploads: Sequence[tuple[str, bytes]], similar: int, max_bytes: int) -> list[Answer]:
    """One `Answer` per `(name, bytes)` upload: the top-5 (calibrated), the verdict, the `similar` nearest training
    images; an upload over `max_bytes` or not an image gets its reason instead."""
    out = [Answer(name, data, hashlib.sha256(data).hexdigest()) for name, data in uploads]
    for item in out:
        if len(item.data) > max_bytes:
            item.error = f"{len(item.data) / 1e6:.1f} MB: larger than the {max_bytes / 1e6:.0f} MB limit"
    readable = [item for item in out if item.error is None]
    if not readable:
        return out
    answers, vectors, verdicts = champion.classifier.answer_and_embed([item.data for item in readable], k=5, batch=16)
    rows = iter(range(len(answers)))
    for item, verdict in zip(readable, verdicts):
        if verdict is not None:
            item.error = f"not an image the model can read: {verdict}"
            continue
        row = next(rows)
        item.label = str(answers["label"].iloc[row])
        item.top = [
            (str(n), float(p))
            for n, p in zip(answers["top_k_labels"].iloc[row], answers["top_k_probabilities"].iloc[row])
        ]
        if champion.neighbours is not None and vectors is not None:
            item.similar = champion.neighbours.nearest(vectors[row], similar)
    return out


def thumbnail(data: bytes | Path, side: int = 320) -> bytes:
    """A small upright PNG of an image for the page (a 6000×6000 photo is not sent to the browser as it is)."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        small = ImageOps.exif_transpose(image)
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.convert("RGBA" if "A" in small.getbands() else "RGB").save(out, format="PNG")
    return out.getvalue()


def dataset_images(task: str) -> dict[str, tuple[str, str]]:
    """`sha256 → (split, label)` of the images split@<task> last wrote (`data/yolo/<task>/split.csv`): a correction
    of one of them is not trained on (`pipeline.split.add_feedback`), and the page says so."""
    import pandas as pd

    path = paths.YOLO / task / "split.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, usecols=["sha256", "split", "label"]).drop_duplicates("sha256")
    return {sha: (split, str(label)) for sha, split, label in zip(table["sha256"], table["split"], table["label"])}


def review_queue(task: str) -> list[dict]:
    """predict@<task>'s review list (`data/predictions/<task>_review.csv`), least confident first; empty if none."""
    import pandas as pd

    path = paths.PREDICTIONS / f"{task}_review.csv"
    if not path.is_file():
        return []
    try:
        queue = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a review list ({exc})") from None
    rows = queue.to_dict("records")
    for row in rows:
        file = Path(row["file"])
        row["path"] = file if file.is_absolute() else paths.PROJECT_ROOT / file
        row["top"] = json.loads(row.get("top5", "[]")) if isinstance(row.get("top5"), str) else []
    return rows
