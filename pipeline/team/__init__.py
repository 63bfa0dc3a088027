"""The team stack on one box: PostgreSQL (runs and registry), an S3 server over a folder (MLflow's artifacts and the
DVC remote) and `mlflow server` in front of both, proxying artifacts so clients need no bucket credentials.

`python -m pipeline.team up|down|status|remote` (`make team-up`, `make team-down`). All state lives in one folder
(`TEAM_DIR`, default `.team/`, ignored by git): the database cluster, the buckets as plain folders, logs, pid files
and `secrets.env` (generated once, mode 600). Ports and the listen address come from the environment
(`TEAM_PG_PORT`, `TEAM_S3_PORT`, `TEAM_MLFLOW_PORT`, `HOST`), 127.0.0.1 by default.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from pipeline import cli, paths
from pipeline.io import DataError
from pipeline.team import postgres
from pipeline.team.stack import (
    ARTIFACTS_BUCKET,
    DATABASE,
    DB_USER,
    DVC_BUCKET,
    REMOTE,
    S3_CLIENT_ENV,
    Stack,
    check_port,
    load_secrets,
)


def pid_file(stack: Stack, name: str) -> Path:
    return stack.folder("run") / f"{name}.pid"


def running(stack: Stack, name: str) -> int | None:
    """The pid of the stack's `name` process if it is alive."""
    path = pid_file(stack, name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        path.unlink()
        return None
    return pid


def spawn(stack: Stack, name: str, cmd: list[str], env: Mapping[str, str]) -> subprocess.Popen:
    """Start `cmd` in its own session (stopped as a group), output appended to `logs/<name>.log`."""
    stack.folder("logs").mkdir(parents=True, exist_ok=True)
    stack.folder("run").mkdir(parents=True, exist_ok=True)
    log = open(stack.folder("logs") / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True)
    pid_file(stack, name).write_text(str(process.pid))
    return process


def stop(stack: Stack, name: str, timeout: float = 20) -> bool:
    pid = running(stack, name)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running(stack, name):
        time.sleep(0.2)
    if running(stack, name):
        os.killpg(pid, signal.SIGKILL)
    pid_file(stack, name).unlink(missing_ok=True)
    return True


def wait_for(url: str, process: subprocess.Popen, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise DataError(f"{what} exited with code {process.returncode}: {last[0]} (see {log})")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise DataError(f"{what} did not answer {url} within {timeout:.0f} s (see {log})")


def start_s3(stack: Stack, keys: Mapping[str, str]) -> None:
    root = stack.folder("s3")
    for bucket in (ARTIFACTS_BUCKET, DVC_BUCKET):
        (root / bucket).mkdir(parents=True, exist_ok=True)
    cmd = [cli.console_script("rclone"), "serve", "s3", str(root), "--addr", f"{stack.host}:{stack.s3_port}",
           "--config", "", "--no-cleanup", "--log-level", "NOTICE"]  # fmt: skip
    # the key pair through rclone's environment form of --auth-key (not on a command line `ps` shows); a list flag's
    # environment value is read as CSV, so the pair is quoted to stay one entry
    env = {"RCLONE_AUTH_KEY": f'"{keys["AWS_ACCESS_KEY_ID"]},{keys["AWS_SECRET_ACCESS_KEY"]}"'}
    process = spawn(stack, "s3", cmd, env)
    wait_for(stack.s3_endpoint, process, "S3 server (rclone serve s3)", stack.folder("logs") / "s3.log")


def server_env(stack: Stack, keys: Mapping[str, str]) -> dict[str, str]:
    """What `mlflow server` is started with: the store URIs and bucket keys stay in its environment."""
    return {
        "MLFLOW_BACKEND_STORE_URI": (
            f"postgresql+psycopg2://{DB_USER}:{keys['TEAM_PG_PASSWORD']}@{stack.database_host}:{stack.pg_port}/{DATABASE}"
        ),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{ARTIFACTS_BUCKET}",
        "MLFLOW_S3_ENDPOINT_URL": stack.s3_endpoint,
        "AWS_ACCESS_KEY_ID": keys["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": keys["AWS_SECRET_ACCESS_KEY"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        **S3_CLIENT_ENV,
    }


def auth_env(stack: Stack, keys: Mapping[str, str]) -> dict[str, str]:
    """MLflow's basic-auth app: its user store in the state folder (SQLite), its admin from the secrets, which a
    client sends as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD. Other users: MLflow's user API."""
    config = stack.folder("auth.ini")
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{stack.folder('auth.db')}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": keys["MLFLOW_TRACKING_USERNAME"],
        "MLFLOW_AUTH_ADMIN_PASSWORD": keys["MLFLOW_TRACKING_PASSWORD"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": keys["MLFLOW_FLASK_SERVER_SECRET_KEY"],
    }


def start_mlflow(stack: Stack, keys: Mapping[str, str]) -> None:
    cmd = [cli.console_script("mlflow"), "server", "--host", stack.host, "--port", str(stack.mlflow_port)]
    cmd += ["--workers", "2", *(["--app-name", "basic-auth"] if stack.auth else [])]
    env = server_env(stack, keys) | (auth_env(stack, keys) if stack.auth else {})
    process = spawn(stack, "mlflow", cmd, env)
    wait_for(f"{stack.tracking_uri}/health", process, "mlflow server", stack.folder("logs") / "mlflow.log")


def remote_commands(endpoint: str, key_id: str, secret: str) -> list[list[str]]:
    """The `dvc` arguments that make the remote `team` (the stack's `dvc` bucket at `endpoint`) a checkout's
    default, keys included, all in `.dvc/config.local` (not committed): run here, and printed for teammates."""
    return [
        ["remote", "add", "--local", "--force", "--default", REMOTE, f"s3://{DVC_BUCKET}"],
        ["remote", "modify", "--local", REMOTE, "endpointurl", endpoint],
        ["remote", "modify", "--local", REMOTE, "access_key_id", key_id],
        ["remote", "modify", "--local", REMOTE, "secret_access_key", secret],
    ]


def configure_remote(stack: Stack, keys: Mapping[str, str], repo: Path = paths.PROJECT_ROOT) -> None:
    """The DVC remote `team` in `repo`, on this stack with its keys."""
    dvc = cli.console_script("dvc")
    for args in remote_commands(stack.s3_endpoint, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]):
        result = subprocess.run([dvc, *args], cwd=repo, capture_output=True, text=True)
        if result.returncode != 0:
            raise DataError(f"dvc {' '.join(args[:4])} in {repo}: {result.stderr.strip().splitlines()[-1:]}")


def up(stack: Stack, repo: Path | None = paths.PROJECT_ROOT) -> None:
    """Start whatever of the stack is not running (each piece checks its port first), then set the DVC remote."""
    keys = load_secrets(stack)
    postgres.pg_bin("pg_ctl")  # a missing package is said before anything starts
    if not postgres.running(stack):
        check_port(stack, stack.pg_port, "PostgreSQL", "TEAM_PG_PORT", stack.database_host)
        postgres.start(stack, keys["TEAM_PG_PASSWORD"])
    postgres.ensure_database(stack, keys["TEAM_PG_PASSWORD"])
    if running(stack, "s3") is None:
        check_port(stack, stack.s3_port, "S3 server", "TEAM_S3_PORT")
        start_s3(stack, keys)
    if running(stack, "mlflow") is None:
        check_port(stack, stack.mlflow_port, "mlflow server", "TEAM_MLFLOW_PORT")
        start_mlflow(stack, keys)
    if repo is not None:
        configure_remote(stack, keys, repo)


def down(stack: Stack) -> list[str]:
    """Stop the stack (MLflow first, then the stores it writes to); the state folder stays."""
    stopped = [name for name in ("mlflow", "s3") if stop(stack, name)]
    return stopped + (["postgres"] if postgres.stop(stack) else [])
