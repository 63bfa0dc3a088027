"""Where the team stack lives and how it is reached: its folder, address, ports and credentials."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
    auth: bool = False  # MLflow's basic-auth app in front of the server (`TEAM_AUTH=basic`)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Stack:
        def port(key: str, default: int) -> int:
            value = environ.get(key, str(default))
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise DataError(f"{key}={value!r}: not a TCP port")
            return int(value)

        auth = environ.get("TEAM_AUTH", "")
        if auth not in ("", "off", "basic"):
            raise DataError(f"TEAM_AUTH={auth!r}: 'basic' (MLflow's basic-auth app) or 'off'")
        return cls(
            state=Path(environ.get("TEAM_DIR", paths.PROJECT_ROOT / ".team")).resolve(),
            auth=auth == "basic",
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

    @property
    def database_host(self) -> str:
        """PostgreSQL listens on loopback only, whatever `HOST` says: only the tracking server beside it talks to it."""
        return "127.0.0.1"

    def folder(self, name: str) -> Path:
        return self.state / name

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.env"


def _generated() -> dict[str, str]:
    return {
        "TEAM_PG_PASSWORD": secrets.token_urlsafe(24),
        "AWS_ACCESS_KEY_ID": "lego" + secrets.token_hex(8),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "MLFLOW_TRACKING_USERNAME": "lego",  # the basic-auth app's admin, created on its first start
        "MLFLOW_TRACKING_PASSWORD": secrets.token_urlsafe(24),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(32),
    }


def load_secrets(stack: Stack) -> dict[str, str]:
    """The stack's credentials: database password, the S3 key pair, the tracking server's user. Generated on first
    use; a key a file from an older version lacks is added, none already there ever changes."""
    path = stack.secrets_file
    found: dict[str, str] = {}
    if path.exists():
        found = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    missing = {key: value for key, value in _generated().items() if not found.get(key)}
    if missing:
        stack.state.mkdir(parents=True, exist_ok=True)
        found |= missing
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.touch(mode=0o600)
        tmp.write_text("".join(f"{key}={value}\n" for key, value in found.items()))
        tmp.rename(path)
    return found


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: closing connections don't count
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_port(stack: Stack, port: int, what: str, key: str, host: str | None = None) -> None:
    host = host or stack.host
    if not port_free(host, port):
        raise DataError(f"port {port} on {host} is taken ({what}): set {key} to a free port")
