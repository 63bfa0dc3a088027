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
