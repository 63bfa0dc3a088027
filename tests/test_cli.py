"""The stage entry point (`pipeline.cli.run`) in a real process: what a stopped stage leaves in MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pipeline.paths import PROJECT_ROOT

STAGE = textwrap.dedent(
    """
    import time
    import mlflow
    from pipeline import cli, tracking

    def main():
        tracking.configure()
        mlflow.set_experiment("stopped")
        with mlflow.start_run(run_name="stopped"):
            print("running", flush=True)
            time.sleep(60)

    cli.run(main)
    """
)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stage_stopped_by_a_signal_ends_its_mlflow_run_failed_not_running(tmp_path, stop):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # this store alone: another test's MLFLOW_EXPERIMENT_ID, say, names no experiment here
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"MLFLOW_TRACKING_URI": uri}
    process = subprocess.Popen(
        [sys.executable, "-c", STAGE], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    assert process.stdout.readline().strip() == "running", process.stderr.read()
    started = time.monotonic()
    process.send_signal(stop)
    process.wait(timeout=30)
    assert time.monotonic() - started < 30
    assert process.returncode != 0

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id])
    assert [(r.info.run_name, r.info.status) for r in runs] == [("stopped", "FAILED")]


ORPHAN_STAGE = textwrap.dedent(
    """
    import sys
    import time
    from pipeline import cli, tracking

    def main():
        tracking.configure()
        with tracking.start_run("orphans", sys.argv[1]):
            print("running", flush=True)
            time.sleep(float(sys.argv[2]))

    cli.run(main)
    """
)


def test_a_run_left_running_by_a_killed_stage_is_marked_killed_by_the_next_run(tmp_path):
    """SIGKILL (the out-of-memory killer) lets no handler end the run: the next run of this machine ends it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"MLFLOW_TRACKING_URI": uri}

    def stage(name: str, seconds: float) -> tuple[subprocess.Popen, list[str]]:
        process = subprocess.Popen(
            [sys.executable, "-c", ORPHAN_STAGE, name, str(seconds)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        printed = []
        while (line := process.stdout.readline().strip()) != "running":
            assert line, process.stderr.read()
            printed.append(line)
        return process, printed

    (killed, _), (alive, _) = stage("killed", 60), stage("alive", 60)
    killed.kill()
    killed.wait(timeout=30)
    following, printed = stage("following", 0)
    _, err = following.communicate(timeout=60)
    assert following.returncode == 0, err

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("lego-orphans").experiment_id
    statuses = {r.info.run_name: r.info.status for r in client.search_runs([experiment])}
    alive.terminate()
    alive.wait(timeout=30)
    assert statuses == {"killed": "KILLED", "alive": "RUNNING", "following": "FINISHED"}
    killed_id = next(r.info.run_id for r in client.search_runs([experiment]) if r.info.run_name == "killed")
    assert printed == [f"MLflow run {killed_id} was left RUNNING by a process that is gone (killed): marked KILLED"]
