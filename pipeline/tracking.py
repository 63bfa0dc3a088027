"""The one place that sets up MLflow: SQLite store and artifact folder under `mlflow/`, tags every run gets."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipeline import offline, paths


def configure() -> None:
    """Point MLflow at the project's store (the main checkout's, also from `dvc exp run --temp/--queue`)."""
    offline.configure()
    import mlflow

    uri = os.environ.setdefault("MLFLOW_TRACKING_URI", paths.tracking_uri())
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)


def ui_url(local_ui: str) -> str:
    """Where a person looks at a run: the tracking server itself when there is one, else `make ui` on the local store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else local_ui


def server_error(exc: BaseException) -> str | None:
    """The one line for an error the tracking server caused: it stopped answering (after MLflow's own retries,
    `MLFLOW_HTTP_REQUEST_MAX_RETRIES`, about four minutes by default) or it refused the credentials (basic auth).
    None for any other error, which is a bug."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")) or not type(exc).__module__.startswith(("mlflow", "requests")):
        return None
    if getattr(exc, "error_code", None) == "UNAUTHENTICATED":
        return f"tracking server {uri} refused the request: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    import requests

    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=10)
    except requests.RequestException:
        return f"tracking server {uri} does not answer: start it again (make team-up), then run dvc repro"
    return None  # it answers: the error is something else


def metric_name(key: str) -> str:
    """`key` without the characters MLflow refuses in a metric name (Ultralytics' `metrics/accuracy_top1(B)`, a class
    folder's name)."""
    return re.sub(r"[^\w\-. /:]", "", key)


def add_to_run(run_id: str, metrics: Mapping[str, float], folder: Path | None = None, artifact_path: str = "") -> None:
    """A later stage's metrics (and its output folder, as artifacts under `artifact_path`) on the training's run, so
    one MLflow run holds everything about one model."""
    configure()
    import mlflow

    with resume_run(run_id):
        mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
        if folder is not None:
            mlflow.log_artifacts(str(folder), artifact_path=artifact_path)


def experiment_id(task: str) -> str:
    """The task's experiment, created on first use: in the local store with an explicit artifact location (beside
    the database, not `./mlruns`), on a tracking server where the server puts it (its proxied artifact store)."""
    import mlflow

    name = f"lego-{task}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / name).as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created by a run started at the same moment (queued experiments)
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def process_tags() -> dict[str, str]:
    """Which process writes a run: how a later stage tells a run left RUNNING by a killed process from a live one."""
    return {"pipeline.host": socket.gethostname(), "pipeline.pid": str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def end_orphaned_runs(experiment: str) -> list[str]:
    """SIGKILL (the out-of-memory killer, `kill -9`, a machine gone) ends no MLflow run, which would then show RUNNING
    for ever. This machine's runs still RUNNING whose process is gone are marked KILLED; returns their ids. Runs of
    other machines (a shared tracking server) are left to theirs."""
    import mlflow

    client = mlflow.MlflowClient()
    running = client.search_runs(
        [experiment],
        filter_string=f"attributes.status = 'RUNNING' and tags.`pipeline.host` = '{socket.gethostname()}'",
        max_results=1000,
    )
    ended = []
    for run in running:
        pid = run.data.tags.get("pipeline.pid", "")
        if pid.isdigit() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
    return ended


def start_run(task: str, run_name: str, nested: bool = False):
    """A new run in the task's experiment, tagged with its process; this machine's orphaned runs are ended first
    (once, by the outer run: a nested one's parent has just done it)."""
    import mlflow

    experiment = experiment_id(task)
    orphans = [] if nested else end_orphaned_runs(experiment)
    for run_id in orphans:
        print(f"MLflow run {run_id} was left RUNNING by a process that is gone (killed): marked KILLED")
    return mlflow.start_run(experiment_id=experiment, run_name=run_name, nested=nested, tags=process_tags())


def resume_run(run_id: str):
    """A finished run reopened by a later stage, tagged with that stage's process, so a kill there is found too."""
    import mlflow

    run = mlflow.start_run(run_id=run_id)
    mlflow.set_tags(process_tags())
    return run


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=paths.PROJECT_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def run_tags(task: str, data_version: str) -> dict[str, str]:
    """Where a run came from: git commit, DVC experiment (when under `dvc exp run`), data version."""
    tags = {"task": task, "data_version": data_version}
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["git_commit"] = commit
        tags["git_dirty"] = str(bool(_git("status", "--porcelain", "--untracked-files=no")))
    for env, tag in (("DVC_EXP_NAME", "dvc_exp_name"), ("DVC_EXP_BASELINE_REV", "dvc_exp_baseline_rev")):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def flatten(params: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested params as MLflow's flat `a.b.c` keys."""
    flat: dict[str, object] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat
