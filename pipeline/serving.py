"""`make serve`: a task's champion as a REST API, MLflow's scoring server on 127.0.0.1.

It runs what `mlflow models serve` runs, MLflow's scoring app under uvicorn, with its `/docs` and `/redoc` pages
served without CDNs (`pipeline.scoring_app`). It serves the champion's own artifact folder
(`registry.registered_source`), so serving writes nothing into the store and a read-only one serves too; a champion
on a tracking server is served from a temporary copy, removed when the server stops (Ctrl-C or SIGTERM, passed on
to it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from pipeline import cli, registry, tracking
from pipeline.paths import PROJECT_ROOT
from pipeline.scoring_app import MODEL_VARIABLE, TITLE_VARIABLE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minifigure")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args(argv)
    tracking.configure()
    version, source = registry.registered_source(args.task)
    base, title = f"http://{args.host}:{args.port}", f"{registry.model_name(args.task)} v{version} ({registry.ALIAS})"
    print(f"serving {title} on {base}/invocations (API: {base}/docs)")
    sys.stdout.flush()
    with registry.local_copy(source) as local:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "pipeline.scoring_app:from_environment",
             "--app-dir", str(PROJECT_ROOT), "--host", args.host, "--port", str(args.port)],
            env={**os.environ, MODEL_VARIABLE: local, TITLE_VARIABLE: title},
        )  # fmt: skip
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, lambda signum, _frame: server.send_signal(signum))
        code = server.wait()
    sys.exit(128 - code if code < 0 else code)  # killed by signal N: the shell's 128 + N


if __name__ == "__main__":
    cli.run(main)
