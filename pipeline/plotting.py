"""Matplotlib for the reports: the headless backend, and figures saved whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.io import atomic_path


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend (no display needed), imported only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, target: Path, dpi: int = 100) -> None:
    """`fig` as a PNG at `target` (through a temporary file: an interrupted save leaves the old one), then closed."""
    plt = pyplot()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
