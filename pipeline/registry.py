"""The MLflow pyfunc that serves a trained classifier, and its registration (`pipeline.promotion` decides the
`champion` alias)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import tempfile
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

import mlflow
from pipeline.calibration import Calibration
from pipeline.images import ImageInput, UnreadableImage
from pipeline.io import DataError
from pipeline.paths import PROJECT_ROOT
from pipeline.torch_model import Ensemble, top_k

ALIAS = "champion"
KEY_TAG = "registration_key"  # what a version packages: a re-run finds its version instead of adding one
REQUIREMENTS = (
    "onnxruntime",  # what the pyfunc runs
    "ultralytics",  # the torch path of versions registered before the ONNX export
    "timm",  # the layers of a packaged-backbone model (pipeline/backbones.py)
    "torch",
    "torchvision",
    "opencv-python",
    "pandas",
    "numpy",
    "pillow",
    "tqdm",
    "pydantic",
    "pyyaml",
)


def model_name(task: str) -> str:
    return f"lego-{task}"


NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # what the store answers for no such model/alias


def champion_version(client: mlflow.MlflowClient, task: str) -> ModelVersion | None:
    """The task's champion, None when it has none. Any other error (a server gone, credentials refused) is raised:
    taken for "no champion", it would crown the next registration."""
    try:
        return client.get_model_version_by_alias(model_name(task), ALIAS)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in NOT_FOUND:
            return None
        raise


def weights_key(member: int, kind: str = "weights") -> str:
    """Artifact name of an ensemble member's file: `weights` / `onnx` for the first (and for a single model), then
    `weights_1` / `onnx_1`…"""
    return kind if member == 0 else f"{kind}_{member}"


def member_files(artifacts: dict[str, str], kind: str) -> list[Path]:
    count = next(i for i in itertools.count() if weights_key(i, kind) not in artifacts)
    return [Path(artifacts[weights_key(i, kind)]) for i in range(count)]


class LegoClassifier(PythonModel):
    """Input: a DataFrame with column `image` (encoded image bytes: JPEG, PNG, WEBP…, decoded by content).
    Output: `label` ("unknown" when the calibrated confidence is below the model's threshold), `confidence`,
    `top_k_labels`, `top_k_probabilities` (kept when the label is "unknown"), and `probabilities` in the order of
    the model metadata's `classes`, all calibrated by the model's temperature.
    Params: `top_k` (default 5), `batch` (default 32).
    It runs the ONNX export with onnxruntime; a version registered before the export existed runs its Ultralytics
    weights. An ensemble answers with the mean probabilities of its members."""

    def load_context(self, context) -> None:
        onnx, weights = member_files(context.artifacts, "onnx"), member_files(context.artifacts, "weights")
        calibration = Calibration.read(context.artifacts.get("calibration"))
        if onnx:
            self.load(onnx=onnx, calibration=calibration)
        else:  # registered before the ONNX export and calibration existed
            self.load(weights=weights)

    def load(
        self, onnx: list[Path] | None = None, weights: list[Path] | None = None, calibration: Calibration | None = None
    ) -> None:
        """The ONNX export (or, for old versions, the Ultralytics weights) and the calibration it answers with
        (none: temperature 1, never "unknown")."""
        from pipeline.onnx_model import OnnxClassifier

        self.model = OnnxClassifier(onnx) if onnx else Ensemble(weights or [])
        self.names = self.model.names
        self.calibration = calibration or Calibration()

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        params = params or {}
        encoded = [bytes(data) if data is not None else b"" for data in model_input["image"]]
        answers, verdicts = self.answer(encoded, int(params.get("top_k", 5)), int(params.get("batch", 32)))
        for row, verdict in enumerate(verdicts):
            if verdict is not None:  # an input error: `mlflow models serve` answers 400 with this message, not 500
                raise mlflow.exceptions.MlflowException(
                    f"input row {row}: 'image' does not hold a decodable image ({verdict})",
                    error_code=INVALID_PARAMETER_VALUE,
                )
        return answers

    def answer(
        self, sources: Sequence[ImageInput], k: int = 5, batch: int = 32, progress: str | None = None
    ) -> tuple[pd.DataFrame, list[UnreadableImage | None]]:
        """`predict`'s answer for files, encoded bytes or decoded BGR arrays: one row per readable source, and per
        source `None` or the `UnreadableImage` saying why it has no row. Answered a batch at a time: nothing but the
        answers is held for a large folder."""
        frames: list[pd.DataFrame] = []
        verdicts: list[UnreadableImage | None] = []
        for batch_verdicts, raw, _ in self.model.batches(sources, batch, progress):
            verdicts += batch_verdicts
            if len(raw):
                frames.append(self._answers(raw, k))
        empty = [self._answers(np.zeros((0, len(self.names))), k)]
        return pd.concat(frames or empty, ignore_index=True), verdicts

    def answer_and_embed(
        self, sources: Sequence[ImageInput], k: int = 5, batch: int = 32, progress: str | None = None
    ) -> tuple[pd.DataFrame, np.ndarray | None, list[UnreadableImage | None]]:
        """`answer`, with the penultimate-layer embedding of each answered source beside it (None for a version
        registered before the ONNX export): what "the most similar training images" are looked up by."""
        raw, embeddings, verdicts = self.model.classify(sources, batch, progress)
        return self._answers(raw, k), embeddings, verdicts

    def _answers(self, raw: np.ndarray, k: int) -> pd.DataFrame:
        probs = self.calibration.apply(raw)
        ranked = list(top_k(probs, self.names, k))
        return pd.DataFrame(
            {
                "label": self.calibration.labels(probs, self.names),
                "confidence": [r[0][1] for r in ranked],
                "top_k_labels": [[label for label, _ in r] for r in ranked],
                "top_k_probabilities": [[p for _, p in r] for r in ranked],
                "probabilities": [row.astype(float).tolist() for row in probs],
            }
        )


def log_model(
    weights: list[Path],
    onnx: list[Path],
    task: str,
    example: bytes,
    data: dict | None = None,
    calibration: Path | None = None,
    key: str | None = None,
) -> tuple[str, list[str]]:
    """Log the pyfunc of one model or an ensemble's members (their ONNX exports, which it runs, and the Ultralytics
    weights they came from, for fine-tuning) into the active run and register it as `lego-<task>` (a new version,
    created with its `key` tag in one call); returns the version and the classes. `data` (`data_source`,
    `synthetic`) goes into the model's metadata beside its task and classes; `calibration` (calibrate@<task>'s JSON)
    travels with it and is applied to every answer."""
    example_input = pd.DataFrame({"image": [example]})
    fitted = Calibration.read(calibration)
    local = LegoClassifier()
    local.load(onnx=onnx, calibration=fitted)
    example_output = local.predict(None, example_input)
    signature = mlflow.models.infer_signature(example_input, example_output, params={"top_k": 5, "batch": 32})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=LegoClassifier(),  # a fresh instance: the weights travel as an artifact, not pickled
        artifacts={
            **{weights_key(i): str(w) for i, w in enumerate(weights)},
            **{weights_key(i, "onnx"): str(m) for i, m in enumerate(onnx)},
            **({"calibration": str(calibration)} if calibration else {}),
        },
        code_paths=[str(PROJECT_ROOT / "pipeline")],
        signature=signature,
        input_example=example_input,
        pip_requirements=[f"{pkg}=={version(pkg)}" for pkg in REQUIREMENTS],
        metadata={
            "task": task,
            "classes": local.names,
            "ensemble": len(weights),
            "calibration": fitted.to_json(),
            **(data or {}),
        },  # fmt: skip
    )
    version_ = mlflow.register_model(info.model_uri, model_name(task), tags={KEY_TAG: key} if key else None)
    return str(version_.version), local.names


def registration_key(run_id: str, files: Sequence[Path], example: bytes, data: dict) -> str:
    """What a registration packages: the run, the model files, the input example, the data it was trained on and
    the pipeline code that serves it. Equal keys mean the same version."""
    digest = hashlib.sha256(json.dumps([run_id, data], sort_keys=True).encode())
    digest.update(example)
    code = sorted((PROJECT_ROOT / "pipeline").rglob("*.py"))
    for path in [*files, *code]:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def model_metadata(uri: str) -> dict[str, Any]:
    """A registered model's metadata (`classes` and the rest this project records with it)."""
    metadata = mlflow.models.get_model_info(uri).metadata
    if metadata is None:
        raise DataError(f"{uri}: the model has no metadata (not registered by this project)")
    return metadata


def registered_version(client: mlflow.MlflowClient, task: str, run_id: str, key: str) -> tuple[str, list[str]] | None:
    """The version already registered from this run with this key, and its classes: a registration interrupted
    after the version was created (a killed process or tracking server) is resumed on it, not duplicated."""
    name = model_name(task)
    for found in client.search_model_versions(f"name='{name}' and run_id='{run_id}'"):
        if found.tags.get(KEY_TAG) == key:
            return str(found.version), list(model_metadata(f"models:/{name}/{found.version}")["classes"])
    return None


def registered_source(task: str, version: str | None = None) -> tuple[str, str]:
    """`(version, artifact URI)` of a registered version of the task's model (default: the champion).

    Load and serve from that URI, not `models:/…`: MLflow writes a `registered_model_meta` file into the folder it
    loads a `models:/` URI from, which for a local store is the registered model itself (a read-only store refuses).
    """
    client, name = mlflow.MlflowClient(), model_name(task)
    try:
        found = (
            client.get_model_version_by_alias(name, ALIAS)
            if version is None
            else client.get_model_version(name, version)
        )
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in NOT_FOUND:
            raise  # the server's own trouble (gone, credentials refused): said by `cli.run`
        wanted = f"'{ALIAS}' version" if version is None else f"version {version}"
        raise DataError(f"{name}: no {wanted} in {mlflow.get_tracking_uri()} (run dvc repro)") from None
    return str(found.version), client.get_model_version_download_uri(name, found.version)


@contextlib.contextmanager
def local_copy(source: str) -> Iterator[str]:
    """`source` (a `registered_source`) as a local folder while the block runs: itself where the store is on this
    disk, else a download into a temporary folder removed afterwards. MLflow's own download folder is never
    removed: a model's size left in /tmp at each load from a tracking server or object store."""
    if urlparse(source).scheme in ("", "file"):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="lego-model-") as tmp:
        yield mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp)


def load_classifier(source: str) -> LegoClassifier:
    """The classifier registered at `source`, in memory (its ONNX sessions and calibration are read when loaded, so
    a downloaded copy is not needed afterwards)."""
    with local_copy(source) as local:
        return mlflow.pyfunc.load_model(local).unwrap_python_model()
