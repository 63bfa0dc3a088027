"""The edge every stage runs through: user-facing errors become one line on stderr and exit code 1."""

from __future__ import annotations

import sys
from collections.abc import Callable

from pipeline.io import DataError
from pipeline.params import ParamsError

USER_ERRORS = (ParamsError, DataError)


def run(main: Callable[[], None]) -> None:
    try:
        main()
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
