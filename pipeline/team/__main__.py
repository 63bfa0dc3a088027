"""`python -m pipeline.team up|down|status|remote`: what `make team-up`, `make team-down` and `make team-status` run."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import cli, paths
from pipeline.team import (
    ARTIFACTS_BUCKET,
    DVC_BUCKET,
    REMOTE,
    Stack,
    configure_remote,
    down,
    load_secrets,
    postgres,
    remote_commands,
    running,
    up,
)
from pipeline.team.stack import DATABASE


def teammate_lines(stack: Stack) -> str:
    secret = f"from {stack.secrets_file}>"
    auth = [f"export {key}=<{key} {secret}" for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")]
    remote = remote_commands(stack.s3_endpoint, f"<AWS_ACCESS_KEY_ID {secret}", f"<AWS_SECRET_ACCESS_KEY {secret}")
    lines = [f"export MLFLOW_TRACKING_URI={stack.tracking_uri}", *(auth if stack.auth else [])]
    return "\n".join(f"  {line}" for line in lines + [" ".join(["dvc", *args]) for args in remote])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The team stack: PostgreSQL + S3 (rclone) + mlflow server.")
    parser.add_argument("command", choices=["up", "down", "status", "remote"])
    parser.add_argument("--repo", type=Path, default=paths.PROJECT_ROOT, help="checkout whose DVC remote to set")
    args = parser.parse_args(argv)
    stack = Stack.from_env()
    if args.command == "up":
        up(stack, args.repo)
        print(f"team stack up, state in {stack.state}:")
        print(f"  PostgreSQL      {stack.database_host}:{stack.pg_port}  (runs, registry: database {DATABASE})")
        print(f"  S3 (rclone)     {stack.s3_endpoint}  (buckets {ARTIFACTS_BUCKET}: artifacts, {DVC_BUCKET}: DVC)")
        print(f"  mlflow server   {stack.tracking_uri}  (proxies artifacts: clients need no bucket keys)")
        if stack.auth:
            print("  basic-auth on:  requests without MLFLOW_TRACKING_USERNAME/PASSWORD are refused (401)")
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
            "postgres": postgres.running(stack),
            "s3": running(stack, "s3") is not None,
            "mlflow": running(stack, "mlflow") is not None,
        }
        for name, alive in states.items():
            print(f"{name:9} {'up' if alive else 'down'}")


if __name__ == "__main__":
    cli.run(main)
