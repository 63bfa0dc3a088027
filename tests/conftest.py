"""Shared fixtures: the project root, the optional real data in ../shared, a network guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from pipeline import offline
from pipeline.paths import PROJECT_ROOT
from tests.emulators import SHARED

GUARD_DIR = Path(__file__).parent / "support"

offline.configure()


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` (real data); tests that need it skip cleanly where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not present at {SHARED}")
    return SHARED


def colour_classes(root: Path, counts: dict[str, int], size: int = 40) -> Path:
    """A tiny image-folder dataset `root/<split>/class<c>/<i>.png`: three classes of plain colours, `counts` images
    per class and split, each image a little lighter than the last."""
    for split, count in counts.items():
        for c, colour in enumerate([(220, 30, 30), (30, 200, 30), (30, 30, 220)]):
            for i in range(count):
                path = root / split / f"class{c}" / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (size, size), tuple(min(255, v + 7 * i) for v in colour)).save(path)
    return root


def guarded_environment(log: Path) -> dict[str, str]:
    """Environment for subprocesses: the project's .venv first on PATH, and a guard that records
    (and refuses) every non-loopback connection attempt in `log`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(GUARD_DIR)
    env["NETWORK_GUARD_LOG"] = str(log)
    env["PATH"] = os.pathsep.join([str(PROJECT_ROOT / ".venv" / "bin"), env["PATH"]])
    for inherited in ("MLFLOW_TRACKING_URI", "YOLO_CONFIG_DIR"):  # each repo uses its own
        env.pop(inherited, None)
    return env
