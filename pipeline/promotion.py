"""Whether a newly registered version becomes `champion`: compared on the same test split (a champion scored on
another one is re-scored), a model trained on synthetic data never replacing one trained on real photos, under a
lock so two runs cannot both promote."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import mlflow
from pipeline.disk_table import CHUNK_ROWS
from pipeline.io import DataError, iter_images, progress_chunks
from pipeline.registry import ALIAS, champion_version, load_classifier, model_metadata, model_name


def rescorer(test: Path, batch: int, chunk_files: int = CHUNK_ROWS):
    """`model_uri → top-1` on this test split (a `<class>/<image>` folder), for champions scored on another one;
    `chunk_files` pictures at a time, so only the count of right answers grows with the split."""

    def rescore(model_uri: str) -> float:
        name, version = model_uri.removeprefix("models:/").split("/")
        source = mlflow.MlflowClient().get_model_version_download_uri(name, version)  # see `registered_source`
        champion = load_classifier(source)
        total = sum(1 for _ in iter_images(test))
        if not total:
            raise DataError(f"{test}: no test images to re-score the champion on")
        right = 0
        for chunk, progress in progress_chunks(iter_images(test), total, chunk_files, "re-score champion"):
            probs = champion.model.probabilities(chunk, batch, progress=progress)
            labels = np.array([champion.names.index(path.parent.name) for path in chunk])
            right += int((probs.argmax(axis=1) == labels).sum())
        return right / total

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


def _delete_if_there(client: mlflow.MlflowClient, name: str) -> None:
    """Delete a registered model that another process may have deleted a moment before."""
    try:
        client.delete_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


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
        held_by, since = held.tags.get("holder"), held.tags.get("since")
        if held_by == holder:
            break  # ours: the create went through, its answer was lost and retried
        # No tags: read while its holder deleted it (the store reads a model and its tags apart). Wait, never break it.
        age = None if since is None else time.time() - float(since)
        if age is not None and (age > stale or _dead_here(held_by or "")):
            _delete_if_there(client, lock)
            continue
        if time.monotonic() > deadline:
            raise DataError(
                f"{lock} in {mlflow.get_tracking_uri()}: held by {held_by or 'an unknown process'}"
                + ("" if age is None else f" for {age:.0f} s")
                + " (delete that registered model if its process is gone)"
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
