"""Debian's PostgreSQL for the team stack: a cluster of its own in the stack's folder, run as `postgres` when root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pipeline.io import DataError
from pipeline.team.stack import DATABASE, DB_USER, Stack


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


def running(stack: Stack) -> bool:
    data = stack.folder("postgres")
    return (data / "PG_VERSION").exists() and subprocess.run(
        as_postgres([str(pg_bin("pg_ctl")), "status", "-D", str(data)]), capture_output=True
    ).returncode == 0


def start(stack: Stack, password: str) -> None:
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
    options = f"-c listen_addresses={stack.database_host} -p {stack.pg_port} -c unix_socket_directories=''"
    start = subprocess.run(
        as_postgres([str(pg_bin("pg_ctl")), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options]),
        capture_output=True, text=True,
    )  # fmt: skip
    if start.returncode != 0:
        last = (log.read_text(errors="replace").strip().splitlines() or [start.stderr.strip()])[-1]
        raise DataError(f"PostgreSQL did not start on {stack.database_host}:{stack.pg_port}: {last} (see {log})")


def ensure_database(stack: Stack, password: str) -> None:
    """The `mlflow` database, created once; `mlflow server` creates its tables in it."""
    import psycopg2

    connection = psycopg2.connect(
        host=stack.database_host, port=stack.pg_port, user=DB_USER, password=password, dbname="postgres"
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:  # not `with connection`: that opens a transaction CREATE DATABASE refuses
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        connection.close()


def stop(stack: Stack) -> bool:
    if not running(stack):
        return False
    subprocess.run(
        as_postgres([str(pg_bin("pg_ctl")), "stop", "-w", "-m", "fast", "-D", str(stack.folder("postgres"))]),
        capture_output=True, check=True,
    )  # fmt: skip
    return True
