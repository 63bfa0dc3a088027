"""Switches off every network call the libraries would make; import before Ultralytics/MLflow/GX.

Ultralytics reads `YOLO_CONFIG_DIR` and `YOLO_OFFLINE` at import, so `configure()` must run first:
use `pipeline.offline.ultralytics()` instead of `import ultralytics` anywhere in the project.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pipeline.paths import PROJECT_ROOT


def _config_root() -> Path:
    """The checkout's own `.config/`; where this package runs as a registered model's copy (served from an artifact
    store that may be read-only), a folder under the temp dir: loading a model never writes into its artifacts."""
    if (PROJECT_ROOT / "dvc.yaml").is_file():
        return PROJECT_ROOT / ".config"
    return Path(tempfile.gettempdir()) / f"lego-pipeline-{os.getuid()}" / "config"


CONFIG_ROOT = _config_root()
CONFIG_DIR = CONFIG_ROOT / "Ultralytics"  # what Ultralytics derives from YOLO_CONFIG_DIR

ENVIRONMENT = {
    "YOLO_CONFIG_DIR": str(CONFIG_ROOT),
    "YOLO_OFFLINE": "1",  # no DNS probe, no version check, downloads fail at once
    "YOLO_VERBOSE": os.environ.get("YOLO_VERBOSE", "True"),
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "False",
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_OFFLINE": "1",
}

# Ultralytics integrations that would log elsewhere or phone home: the project logs to MLflow itself.
SETTINGS_OFF = ("sync", "hub", "mlflow", "dvc", "clearml", "comet", "neptune", "raytune", "tensorboard", "wandb")
FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def configure() -> None:
    """Set the offline environment and supply the plot fonts Ultralytics would download."""
    os.environ.update(ENVIRONMENT)
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONTS:
        target = CONFIG_DIR / name
        if not target.exists():
            shutil.copyfile(dejavu, target)


def ultralytics():
    """The `ultralytics` module, imported offline with the project's settings."""
    configure()
    import ultralytics as ul
    from ultralytics.utils import SETTINGS

    wanted = {key: False for key in SETTINGS_OFF if key in SETTINGS and SETTINGS[key] is not False}
    if wanted:
        SETTINGS.update(wanted)
    _use_every_core()
    return ul


def _use_every_core() -> None:
    """On CPU, Ultralytics sets torch to `cpu_count - 1` threads, keeping a core for data-loader workers, yet it
    forces `workers=0` there: on a 2-core machine training and inference ran on one core. Use them all."""
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = max(torch_utils.NUM_THREADS, os.cpu_count() or 1)
