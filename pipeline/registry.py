"""The MLflow pyfunc that serves a trained classifier, its registration, and the `champion` alias decision."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

import mlflow
from pipeline.calibration import Calibration
from pipeline.evaluation import top_k_accuracy
from pipeline.images import ImageInput, UnreadableImage
from pipeline.inference import Ensemble, top_k
from pipeline.io import DataError
from pipeline.paths import PROJECT_ROOT

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
        source `None` or the `UnreadableImage` saying why it has no row."""
        answers, _, verdicts = self.answer_and_embed(sources, k, batch, progress)
        return answers, verdicts

    def answer_and_embed(
        self, sources: Sequence[ImageInput], k: int = 5, batch: int = 32, progress: str | None = None
    ) -> tuple[pd.DataFrame, np.ndarray | None, list[UnreadableImage | None]]:
        """`answer`, with the penultimate-layer embedding of each answered source beside it (None for a version
        registered before the ONNX export): what "the most similar training images" are looked up by."""
        raw, embeddings, verdicts = self.model.classify(sources, batch, progress)
        probs = self.calibration.apply(raw)
        ranked = list(top_k(probs, self.names, k))
        answers = pd.DataFrame(
            {
                "label": self.calibration.labels(probs, self.names),
                "confidence": [r[0][1] for r in ranked],
                "top_k_labels": [[label for label, _ in r] for r in ranked],
                "top_k_probabilities": [[p for _, p in r] for r in ranked],
                "probabilities": [row.astype(float).tolist() for row in probs],
            }
        )
        return answers, embeddings, verdicts


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


def rescorer(test: pd.DataFrame, batch: int):
    """`model_uri → top-1` on this test split (`path`, `label` rows), for champions scored on another one."""

    def rescore(model_uri: str) -> float:
        name, version = model_uri.removeprefix("models:/").split("/")
        source = mlflow.MlflowClient().get_model_version_download_uri(name, version)  # see `registered_source`
        champion = mlflow.pyfunc.load_model(source).unwrap_python_model()
        probs = champion.model.probabilities(list(test["path"]), batch, progress="re-score champion")
        return top_k_accuracy(test["label"].map(champion.names.index).to_numpy(), probs, 1)

    return rescore


@dataclass(frozen=True)
class Decision:
    model_name: str
    version: str
    run_id: str
    test_top1: float
    test_version: str
    champion_before: str | None
    champion_before_top1: float | None
    promoted: bool
    reason: str
    champion: str
    data_source: str | None = None  # None: not known (a version registered before data sources were recorded)
    synthetic: bool | None = None
    champion_before_data_source: str | None = None
    champion_before_synthetic: bool | None = None

    def to_json(self) -> dict:
        return asdict(self)


def describe(data_source: str | None, synthetic: bool | None) -> str:
    """The registry's one-line description of a version's data."""
    if data_source is None:
        return "data source not recorded"
    return f"trained on {'synthetic data' if synthetic else 'real photos'}: {data_source}"


def _synthetic_tag(tags: dict[str, str]) -> bool | None:
    value = tags.get("synthetic")
    return None if value is None else value == "true"


def _dead_here(holder: str) -> bool:
    """Whether a lock's holder (`host:pid:…`) was a process of this machine that is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def champion_lock(client: mlflow.MlflowClient, task: str, timeout: float = 600, stale: float = 1800) -> Iterator[None]:
    """Hold the task's champion decision alone, across processes and machines sharing the tracking store.

    MLflow has no compare-and-set on aliases: two registrations deciding at once would both compare against the
    same champion and the slower one would win. The lock is a registered model `lego-<task>.champion-lock`, whose
    creation is atomic in the store's database (its name is unique); it is deleted when the decision is made. A
    lock whose holder died is broken: at once when it ran on this machine, after `stale` seconds otherwise."""
    lock, holder = f"{model_name(task)}.champion-lock", f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.create_registered_model(
                lock, tags={"holder": holder, "since": f"{time.time():.3f}"},
                description="held while a registration decides the champion alias; deleted right after",
            )  # fmt: skip
            break
        except mlflow.exceptions.MlflowException as exc:
            # taken; or taken and released before the store could say by whom (it then answers "does not exist")
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                raise
        try:
            held = client.get_registered_model(lock)
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                continue  # released meanwhile
            raise
        if held.tags.get("holder") == holder:
            break  # ours: the create went through, its answer was lost and retried
        age = time.time() - float(held.tags.get("since", "0"))
        if age > stale or _dead_here(held.tags.get("holder", "")):
            client.delete_registered_model(lock)
            continue
        if time.monotonic() > deadline:
            raise DataError(
                f"{lock} in {mlflow.get_tracking_uri()}: held by {held.tags.get('holder')} for {age:.0f} s "
                "(delete that registered model if its process is gone)"
            )
        time.sleep(0.2)
    try:
        yield
    finally:
        client.delete_registered_model(lock)


def decide(
    client: mlflow.MlflowClient,
    task: str,
    version_: str,
    run_id: str,
    top1: float,
    test_version: str,
    classes: list[str],
    rescore,
    data_source: str | None = None,
    synthetic: bool | None = None,
) -> Decision:
    """Move `champion` to the new version only if it is better than the current champion.

    The data first: a model trained on synthetic data never replaces a champion trained on real photos, and a
    model trained on real photos replaces a synthetic champion. Between models of the same kind, the new version
    must beat the champion on the same test split: a champion scored on another test split is re-scored on this
    one (`rescore(model_uri) → top1`); a champion over other classes cannot be compared, so it is replaced.
    A champion registered before data sources were recorded (no `synthetic` tag) is of unknown kind: the
    comparison of scores alone decides, as it did then.
    """
    name = model_name(task)
    client.set_model_version_tag(name, version_, "test_top1", f"{top1:.6f}")
    client.set_model_version_tag(name, version_, "test_version", test_version)
    if data_source is not None:
        client.set_model_version_tag(name, version_, "data_source", data_source)
        client.set_model_version_tag(name, version_, "synthetic", str(bool(synthetic)).lower())
    client.update_model_version(name, version_, description=describe(data_source, synthetic))
    with champion_lock(client, task):  # read, compare and move the alias with no other decision in between
        current = champion_version(client, task)
        before = str(current.version) if current else None
        before_top1: float | None = None
        before_source = current.tags.get("data_source") if current else None
        before_synthetic = _synthetic_tag(current.tags) if current else None
        new_synthetic = None if data_source is None else bool(synthetic)
        if current is None:
            promoted, reason = True, "first registered version"
        elif str(current.version) == str(version_):
            promoted, reason = True, "already champion (a resumed registration)"
        elif new_synthetic is True and before_synthetic is False:
            promoted = False
            reason = (
                f"trained on synthetic data ({data_source}): never replaces champion v{current.version}, "
                f"trained on real photos ({before_source})"
            )
        elif new_synthetic is False and before_synthetic is True:
            promoted = True
            reason = (
                f"trained on real photos ({data_source}): replaces champion v{current.version}, "
                f"trained on synthetic data ({before_source})"
            )
        else:
            current_classes = model_metadata(f"models:/{name}/{current.version}").get("classes")
            if current_classes != classes:
                promoted, reason = True, "champion was trained on other classes; scores are not comparable"
            else:
                if current.tags.get("test_version") == test_version:
                    before_top1 = float(current.tags["test_top1"])
                else:
                    before_top1 = rescore(f"models:/{name}/{current.version}")
                promoted = top1 > before_top1
                verdict = "beats" if promoted else "does not beat"
                reason = f"test top-1 {top1:.4f} {verdict} champion v{current.version}'s {before_top1:.4f} on the same test split"
        if promoted:
            client.set_registered_model_alias(name, ALIAS, version_)
        return Decision(
            model_name=name,
            version=str(version_),
            run_id=run_id,
            test_top1=top1,
            test_version=test_version,
            champion_before=before,
            champion_before_top1=before_top1,
            promoted=promoted,
            reason=reason,
            champion=str(version_) if promoted else str(before),
            data_source=data_source,
            synthetic=new_synthetic,
            champion_before_data_source=before_source,
            champion_before_synthetic=before_synthetic,
        )
