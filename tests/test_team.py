"""The team stack for real: PostgreSQL, rclone's S3 server and `mlflow server` started by `python -m pipeline.team`
(what `make team-up` runs), with the tiny pipeline run, pushed, pulled by a second clone, queued four at a time and
restarted against them. The minifigure task only, to keep the module to a few minutes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

import mlflow
from pipeline import team
from pipeline.io import DataError
from tests.conftest import guarded_environment
from tests.project_repo import GIT, TINY, make_repo, sh
from tests.servers import free_port, listening_addresses, wait_until_answering

pytestmark = [pytest.mark.integration, pytest.mark.team]
TASK = ["minifigure"]
SENTINEL = "sentinel-secret-" + os.urandom(8).hex()  # planted as the S3 secret key: must leak nowhere
RECIPES = [0.002, 0.003, 0.0003, 0.01]  # train.minifigure.lr0 of the four queued experiments (none the default 0.001)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    """Each process's temporary files go to a folder of the module's own, so that copies left behind show."""
    env = guarded_environment(tmp_path_factory.mktemp("guard") / "network-attempts.log")
    env["TMPDIR"] = str(tmp_path_factory.mktemp("scratch"))
    return env


def models_left_behind(env: dict) -> list[Path]:
    """Model copies in the processes' temporary folder: a champion downloaded from the server and not removed
    (MLflow's own download folder stays, a model's size in /tmp at each load)."""
    return [path.parent for path in Path(env["TMPDIR"]).rglob("MLmodel")]


@pytest.fixture(scope="module")
def stack(env) -> team.Stack:
    try:
        team.postgres.pg_bin("pg_ctl")
    except DataError as exc:
        if os.environ.get("CI"):
            raise  # .ci/run installs PostgreSQL: never skipped there
        pytest.skip(str(exc))
    state = Path(tempfile.mkdtemp(prefix="lego-team-", dir="/tmp"))
    state.chmod(0o711)  # run as root, PostgreSQL runs as `postgres`, which must reach its data folder
    ports = {key: str(free_port()) for key in ("TEAM_PG_PORT", "TEAM_S3_PORT", "TEAM_MLFLOW_PORT")}
    stack = team.Stack.from_env({"TEAM_DIR": str(state / "state"), **ports})
    stack.state.mkdir()
    stack.secrets_file.write_text(
        f"TEAM_PG_PASSWORD=pg-{os.urandom(6).hex()}\nAWS_ACCESS_KEY_ID=lego-test\nAWS_SECRET_ACCESS_KEY={SENTINEL}\n"
    )
    env.update(ports, TEAM_DIR=str(stack.state), MLFLOW_TRACKING_URI=stack.tracking_uri)
    yield stack
    team.down(stack)
    shutil.rmtree(state, ignore_errors=True)


def team_cli(command: str, repo: Path, env: dict) -> str:
    return sh([sys.executable, "-m", "pipeline.team", command, "--repo", str(repo)], repo, env).stdout


@pytest.fixture(scope="module")
def origin(tmp_path_factory, env) -> Path:
    """The team's git remote: a bare repository."""
    bare = tmp_path_factory.mktemp("origin") / "lego.git"
    sh(["git", "init", "-q", "--bare", str(bare)], bare.parent, env)
    return bare


def wait_for_exit(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still alive after {timeout} s")


def repro_losing_the_server(repo: Path, env: dict, stack: team.Stack) -> dict:
    """`dvc repro` with the tracking server killed (SIGKILL) once a training run has begun. MLflow's client would
    ride out about four minutes of outage with its own retries; with them off the loss shows at once."""
    process = subprocess.Popen(["dvc", "repro"], cwd=repo, env={**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    training: list = []
    while not training and process.poll() is None:
        time.sleep(0.2)
        experiment = client(stack).get_experiment_by_name("lego-minifigure")
        if experiment is not None:
            training = client(stack).search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    server = team.running(stack, "mlflow")
    os.killpg(server, signal.SIGKILL)
    wait_for_exit(server)
    return {"training": training, "code": process.wait(timeout=600), "output": process.stdout.read()}


@pytest.fixture(scope="module")
def first(tmp_path_factory, env, stack, origin) -> dict:
    """Clone A: the stack brought up from it, the pipeline run against the server (which is killed during the first
    training and started again), committed and pushed."""
    repo = make_repo(tmp_path_factory.mktemp("a"), TINY, env, tasks=TASK)
    up = team_cli("up", repo, env)
    lost = repro_losing_the_server(repo, env, stack)
    team_cli("up", repo, env)
    run = sh(["dvc", "repro"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh([*GIT, "commit", "-qm", "first run"], repo, env)
    sh(["git", "remote", "add", "origin", str(origin)], repo, env)
    sh(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], repo, env)
    push = sh(["dvc", "push"], repo, env)
    return {"repo": repo, "up": up, "lost": lost, "run": run.stdout + run.stderr, "push": push.stdout}


def client(stack: team.Stack) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=stack.tracking_uri)


def versions(stack: team.Stack) -> list:
    return client(stack).search_model_versions("name='lego-minifigure'")


def champion(stack: team.Stack):
    return client(stack).get_model_version_by_alias("lego-minifigure", "champion")


def test_team_up_listens_on_loopback_and_prints_what_a_teammate_sets(stack, first):
    for port in (stack.pg_port, stack.s3_port, stack.mlflow_port):
        assert listening_addresses(port) == {"127.0.0.1"}, port
    assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{stack.mlflow_port}" in first["up"]
    assert f"endpointurl http://127.0.0.1:{stack.s3_port}" in first["up"]
    config = (first["repo"] / ".dvc" / "config.local").read_text()
    assert SENTINEL in config and SENTINEL not in (first["repo"] / ".dvc" / "config").read_text()


def test_a_taken_port_is_one_clear_line(stack, env, tmp_path):
    taken = {**env, "TEAM_DIR": str(tmp_path / "other"), "TEAM_PG_PORT": str(stack.pg_port)}
    result = subprocess.run([sys.executable, "-m", "pipeline.team", "up", "--repo", str(tmp_path)], env=taken,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: port {stack.pg_port} on 127.0.0.1 is taken (PostgreSQL): set TEAM_PG_PORT to a free port"
    )


def test_the_pipeline_runs_on_the_server_with_models_in_the_bucket(env, stack, first):
    assert "register@minifigure: lego-minifigure v1; champion v1" in first["run"]
    assert "predict@minifigure:" in first["run"]
    assert models_left_behind(env) == []  # predict loaded the champion from the bucket and removed its copy
    assert not (first["repo"] / "mlflow").exists()  # nothing went to the local SQLite store
    version = champion(stack)
    source = client(stack).get_model_version_download_uri("lego-minifigure", version.version)
    assert source.startswith("mlflow-artifacts:/")  # proxied: clients hold no bucket keys
    in_bucket = list((stack.state / "s3" / team.ARTIFACTS_BUCKET).rglob("*.onnx"))
    assert in_bucket and all(path.stat().st_size > 0 for path in in_bucket)
    run = client(stack).get_run(version.run_id)
    assert run.data.tags["task"] == "minifigure" and "test/top1" in run.data.metrics
    assert "pushed" in first["push"]


def test_a_server_killed_during_training_ends_the_stage_with_one_line(stack, first):
    lost = first["lost"]
    assert lost["training"], "the server was killed before training began"
    assert lost["code"] != 0
    line = f"error: tracking server {stack.tracking_uri} does not answer: start it again (make team-up), then run dvc repro"
    assert line in lost["output"].splitlines(), lost["output"][-3000:]
    assert "Traceback" not in lost["output"]


def test_after_the_restart_repro_completes_with_one_whole_version(stack, first):
    assert "Running stage 'train@minifigure'" in first["run"]
    [version] = versions(stack)  # none half-registered by the lost run, none twice
    assert {"test_top1", "test_version", "data_source"} <= version.tags.keys()
    assert version.run_id != first["lost"]["training"][0].info.run_id  # the lost run's training was not registered
    assert not client(stack).search_registered_models(filter_string="name LIKE '%champion-lock%'")


@pytest.fixture(scope="module")
def second(tmp_path_factory, env, stack, first, origin) -> Path:
    """Clone B: a teammate's, from the git remote, pulling everything else from the DVC remote."""
    repo = tmp_path_factory.mktemp("b") / "lego"
    sh(["git", "clone", "-q", "--branch", "main", str(origin), str(repo)], repo.parent, env)
    team_cli("remote", repo, env)
    sh(["dvc", "pull"], repo, env)
    return repo


def test_a_teammate_pulls_the_shared_state_and_reruns_nothing(env, second):
    assert (second / "models" / "minifigure" / "weights" / "best.pt").is_file()
    assert (second / "data" / "manifest.csv").is_file() and (second / "reports" / "evaluate").is_dir()
    assert "Data and pipelines are up to date." in sh(["dvc", "status"], second, env).stdout
    repro = sh(["dvc", "repro"], second, env).stdout
    assert "Running stage" not in repro, repro


def test_a_teammate_serves_the_shared_champion_without_training(env, stack, second):
    port, before = free_port(), len(versions(stack))
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.serving", "--task", "minifigure", "--port", str(port)],
        cwd=second, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until_answering(process, f"http://127.0.0.1:{port}/ping", "make serve")
        image = next(
            p for p in (second / "data" / "yolo" / "minifigure" / "test").rglob("*") if p.is_file()
        ).read_bytes()
        body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(image).decode()]]}}
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["top_k_labels"]
    assert len(versions(stack)) == before and not (second / "mlflow").exists()
    assert process.returncode == 128 + signal.SIGTERM and models_left_behind(env) == []


APP_CHECK = """
import json, sys
from pipeline import tracking
from pipeline.app import champion
tracking.configure()
found = champion.champion_versions(["minifigure", "theme"])
model = champion.load("minifigure", found["minifigure"])
[answer] = champion.answer(model, [("upload", open(sys.argv[1], "rb").read())], similar=3, max_bytes=10_000_000)
url = model.run_url(tracking.ui_url("http://127.0.0.1:5000/"))
print(json.dumps({"found": found, "label": answer.label, "similar": [str(p) for p, _ in answer.similar], "url": url}))
"""


def test_a_teammates_upload_page_answers_with_the_shared_champion(env, stack, second):
    """What `make app` shows, in the teammate's clone: the server's champion, its answer to an upload, the most
    similar training images (embeddings from the run's artifacts in the bucket, pictures from the pulled data), and
    a link to the run on the tracking server."""
    image = next(p for p in (second / "data" / "yolo" / "minifigure" / "test").rglob("*") if p.is_file())
    shown = json.loads(sh([sys.executable, "-c", APP_CHECK, str(image)], second, env).stdout.splitlines()[-1])
    assert shown["found"] == {"minifigure": str(champion(stack).version)}
    assert shown["label"] and len(shown["similar"]) == 3
    assert all(Path(path).is_file() and Path(path).is_relative_to(second) for path in shown["similar"])
    assert shown["url"].startswith(f"{stack.tracking_uri}/#/experiments/")
    assert models_left_behind(env) == []


@pytest.fixture(scope="module")
def queued(env, stack, first, second) -> dict:
    """Four recipes queued in clone A and run two at a time by `dvc queue start -j 2`."""
    repo, before = first["repo"], {v.version for v in versions(stack)}
    for lr0 in RECIPES:
        sh(["dvc", "exp", "run", "--queue", "-S", f"train.minifigure.lr0={lr0}"], repo, env)
    sh(["dvc", "queue", "start", "-j", "2"], repo, env)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = sh(["dvc", "queue", "status"], repo, env).stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(2)
    sh(["dvc", "queue", "stop", "--kill"], repo, env)
    return {"status": status, "before": before}


def test_four_queued_experiments_register_four_versions_and_champion_is_the_best(stack, first, queued):
    assert queued["status"].count("Success") == 4, queued["status"]
    new = [v for v in versions(stack) if v.version not in queued["before"]]
    assert len(new) == 4  # none lost to the two at a time
    runs = {client(stack).get_run(v.run_id).data.params["train.lr0"] for v in new}
    assert runs == {str(lr0) for lr0 in RECIPES}
    best = max(float(v.tags["test_top1"]) for v in versions(stack))
    assert float(champion(stack).tags["test_top1"]) == best
    assert not client(stack).search_registered_models(filter_string="name LIKE '%champion-lock%'")
    assert not (first["repo"] / "mlflow").exists()


def test_an_experiment_moves_between_clones_and_points_at_its_run(env, stack, first, second, queued):
    repo = first["repo"]
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], repo, env).stdout)
    name = next(exp["name"] for row in shown for exp in (row.get("experiments") or []) if exp.get("name"))
    sh(["dvc", "exp", "push", "origin", name], repo, env)
    sh(["dvc", "exp", "pull", "origin", name], second, env)
    assert name in sh(["dvc", "exp", "list", "--all-commits", "--name-only"], second, env).stdout
    sh(["dvc", "exp", "apply", name], second, env)
    run_id = json.loads((second / "reports" / "train" / "minifigure" / "run.json").read_text())["run_id"]
    run = client(stack).get_run(run_id)
    assert run.data.tags.get("dvc_exp_name") == name
    assert (second / "models" / "minifigure" / "weights" / "best.pt").is_file()  # with it from the DVC remote


def test_cross_validation_pools_its_folds_into_one_run_on_the_server(stack, queued, tmp_path, monkeypatch):
    """`make crossval`'s folds are `dvc exp run --temp` experiments, which the queue above ran against the server;
    what it adds is the pooled run, with the folds' training runs nested under it and its report in the bucket."""
    from pipeline import crossval

    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.tracking_uri)
    folds = [v.run_id for v in versions(stack) if v.version not in queued["before"]][:2]
    (tmp_path / "report.md").write_text("pooled\n")
    metrics = {"top1": 0.5, "images": 10, "class_recall": {"Star Wars (UCS)": 0.25}}
    pooled = crossval.track("minifigure", 2, [], metrics, tmp_path, folds)
    run = client(stack).get_run(pooled)
    assert run.data.metrics["crossval/top1"] == 0.5 and run.data.tags["crossval.fold_runs"] == ",".join(folds)
    assert run.data.metrics["crossval/recall/Star Wars UCS"] == 0.25  # a class name MLflow would refuse, cleaned
    assert all(client(stack).get_run(fold).data.tags["mlflow.parentRunId"] == pooled for fold in folds)
    assert [a.path for a in client(stack).list_artifacts(pooled, "crossval")] == ["crossval/report.md"]
    assert list((stack.state / "s3" / team.ARTIFACTS_BUCKET).rglob("crossval/report.md"))


def snapshot(stack: team.Stack) -> dict:
    """Every run (params, metrics, tags), version, alias, and every object's bytes in the store."""
    c = client(stack)
    experiments = [e.experiment_id for e in c.search_experiments()]
    runs = {r.info.run_id: (r.data.params, r.data.metrics, r.data.tags) for r in c.search_runs(experiments)}
    models = {m.name: dict(m.aliases) for m in c.search_registered_models()}
    found = {(v.name, v.version): (v.run_id, v.source, v.tags) for v in c.search_model_versions()}
    objects = {
        str(path.relative_to(stack.state / "s3")): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((stack.state / "s3").rglob("*"))
        if path.is_file()
    }
    return {"runs": runs, "models": models, "versions": found, "objects": objects}


def test_restarting_the_stack_keeps_every_run_version_alias_and_object(env, stack, first, queued):
    before = snapshot(stack)
    assert len(before["runs"]) >= 5 and before["objects"]
    assert "stopped mlflow, s3, postgres" in team_cli("down", first["repo"], env)
    team_cli("up", first["repo"], env)
    assert snapshot(stack) == before
    assert "Cache and remote 'team' are in sync." in sh(["dvc", "status", "--cloud"], first["repo"], env).stdout


def test_an_interrupted_dvc_push_completes_when_run_again(env, stack, first, queued):
    """`dvc push` killed mid-upload (many small objects and a few large ones), then run again: the remote ends in
    sync and every object in the bucket is whole (its content hashes to its name)."""
    repo = first["repo"]
    extra = repo / "data" / "extra"
    extra.mkdir()
    for i in range(1500):
        (extra / f"{i:04}.bin").write_bytes(os.urandom(2048))
    for i in range(4):
        (extra / f"large{i}.bin").write_bytes(os.urandom(8 << 20))
    sh(["dvc", "add", "data/extra"], repo, env)
    bucket = stack.state / "s3" / team.DVC_BUCKET
    count = len([p for p in bucket.rglob("*") if p.is_file()])
    push = subprocess.Popen(["dvc", "push"], cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    while push.poll() is None and len([p for p in bucket.rglob("*") if p.is_file()]) < count + 200:
        time.sleep(0.05)
    interrupted = push.poll() is None
    os.killpg(push.pid, signal.SIGKILL)
    push.wait()
    assert interrupted, "dvc push finished before it could be interrupted"
    assert "Cache and remote 'team' are in sync." not in sh(["dvc", "status", "--cloud"], repo, env).stdout
    sh(["dvc", "push"], repo, env)
    assert "Cache and remote 'team' are in sync." in sh(["dvc", "status", "--cloud"], repo, env).stdout
    for path in (bucket / "files" / "md5").rglob("*"):
        if path.is_file():
            name = path.parent.name + path.name.removesuffix(".dir")
            assert hashlib.md5(path.read_bytes()).hexdigest() == name, path


def test_the_planted_secret_is_in_no_file_run_log_or_report(stack, first, second, queued):
    c = client(stack)
    experiments = [e.experiment_id for e in c.search_experiments()]
    for run in c.search_runs(experiments):
        assert SENTINEL not in json.dumps([run.data.params, run.data.tags]), run.info.run_id
    committed = sh(["git", "ls-files"], first["repo"], {**os.environ}).stdout.split()
    places = [first["repo"] / name for name in committed] + [stack.state / "logs", stack.state / "s3"]
    places += [first["repo"] / "reports", first["repo"] / "data" / "predictions", second / "reports"]
    for place in places:
        for path in [place] if place.is_file() else place.rglob("*"):
            if path.is_file():
                assert SENTINEL.encode() not in path.read_bytes(), path
    assert SENTINEL not in first["up"] + first["lost"]["output"] + first["run"]


@pytest.fixture(scope="module")
def namespace() -> dict:
    """A network namespace of its own joined to this one by a veth pair: its 127.0.0.1 is not ours, and the only
    way to the stack is the pair's address. Needs root (CAP_NET_ADMIN) and iproute2."""
    name, n = f"lego{os.getpid() % 100000}", 16 + os.getpid() % 200
    ours, theirs, link = f"10.213.{n}.1", f"10.213.{n}.2", f"vl{os.getpid() % 100000}"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", link, "type", "veth", "peer", "name", f"{link}p"],
        ["ip", "link", "set", f"{link}p", "netns", name],
        ["ip", "addr", "add", f"{ours}/30", "dev", link],
        ["ip", "link", "set", link, "up"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", f"{theirs}/30", "dev", f"{link}p"],
        ["ip", "netns", "exec", name, "ip", "link", "set", f"{link}p", "up"],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
    ]
    for step in steps:
        try:
            made = subprocess.run(step, capture_output=True, text=True)
        except FileNotFoundError:
            pytest.skip("no `ip` (iproute2) for a network namespace")
        if made.returncode != 0:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            pytest.skip(f"cannot make a network namespace ({' '.join(step)}: {made.stderr.strip()})")
    yield {"exec": ["ip", "netns", "exec", name], "ours": ours, "theirs": theirs}
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "link", "del", link], capture_output=True)


def test_a_clone_in_another_network_namespace_pulls_and_serves_by_the_stack_address(
    env, stack, first, origin, namespace, tmp_path
):
    """Nothing assumes localhost or a shared disk, and no one gets in without credentials: the stack listens on the
    veth address (HOST) with MLflow's basic-auth app on (TEAM_AUTH=basic), git is served by `git daemon`, and a
    clone inside the namespace reaches all three by that address only, as a teammate's machine would. It clones,
    sets the DVC remote with the keys it was given and pulls; a stage without the tracking credentials ends with
    one line; with them (MLflow's own environment variables) it serves the champion."""
    ours, ns = namespace["ours"], namespace["exec"]
    env = {**env, "NETWORK_GUARD_ALLOW": f"{ours},{namespace['theirs']}"}
    keys = team.load_secrets(stack)
    user = {key: keys[key] for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    for name in ("mlflow", "s3"):  # PostgreSQL stays on loopback: only the tracking server talks to it
        team.stop(stack, name)
    team_cli("up", first["repo"], {**env, "HOST": ours, "TEAM_AUTH": "basic"})
    git_port, serve_port = free_port(), free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--export-all", f"--listen={ours}", f"--port={git_port}", f"--base-path={origin.parent}",
         str(origin.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    serving = None
    try:
        for port in (stack.s3_port, stack.mlflow_port):
            assert listening_addresses(port) == {ours}, port
        assert listening_addresses(stack.pg_port) == {"127.0.0.1"}
        tracking = f"http://{ours}:{stack.mlflow_port}"
        search = f"{tracking}/api/2.0/mlflow/experiments/search?max_results=5"
        assert requests.get(search, timeout=30).status_code == 401
        assert requests.get(search, auth=tuple(user.values()), timeout=30).status_code == 200
        theirs = {**env, "MLFLOW_TRACKING_URI": tracking}
        repo = tmp_path / "elsewhere" / "lego"
        repo.parent.mkdir()
        url = f"git://{ours}:{git_port}/{origin.name}"
        for _ in range(50):  # git daemon takes a moment to listen
            cloned = subprocess.run([*ns, "git", "clone", "-q", "--branch", "main", url, str(repo)], env=theirs,
                                    capture_output=True, text=True)  # fmt: skip
            if cloned.returncode == 0:
                break
            time.sleep(0.2)
        assert cloned.returncode == 0, cloned.stderr
        endpoint = f"http://{ours}:{stack.s3_port}"
        for args in team.remote_commands(endpoint, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]):
            sh([*ns, "dvc", *args], repo, theirs)  # the lines `make team-up` prints for a teammate
        sh([*ns, "dvc", "pull"], repo, theirs)
        assert "Data and pipelines are up to date." in sh([*ns, "dvc", "status"], repo, theirs).stdout
        refused = subprocess.run([*ns, sys.executable, "-m", "stages.predict", "minifigure"], cwd=repo, env=theirs,
                                 capture_output=True, text=True)  # fmt: skip
        assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
            f"error: tracking server {tracking} refused the request: "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        ), refused.stderr[-2000:]
        serving = subprocess.Popen(
            [*ns, sys.executable, "-m", "pipeline.serving", "--task", "minifigure", "--host", namespace["theirs"],
             "--port", str(serve_port)],
            cwd=repo, env={**theirs, **user}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        wait_until_answering(serving, f"http://{namespace['theirs']}:{serve_port}/ping", "serving in the namespace")
        image = next(p for p in (repo / "data" / "yolo" / "minifigure" / "test").rglob("*") if p.is_file())
        body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(image.read_bytes()).decode()]]}}
        answer = requests.post(f"http://{namespace['theirs']}:{serve_port}/invocations", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["top_k_labels"]
        assert not (repo / "mlflow").exists()
    finally:
        if serving is not None:
            serving.terminate()
            serving.wait(timeout=30)
        daemon.terminate()
        daemon.wait(timeout=30)  # the stack stays on the veth address: this is the module's last test
