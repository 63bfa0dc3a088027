"""Fixed locations of the project: one place, so stages, tests and `mlflow ui` agree."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def store_root(root: Path = PROJECT_ROOT) -> Path:
    """The checkout whose `mlflow/` store a run writes to.

    `dvc exp run --queue/--temp` runs stages in a copy under `<repo>/.dvc/tmp/exps/…`; runs made
    there must land in the main checkout's store, or they vanish with the temporary copy.
    """
    parts = root.resolve().parts
    for i in range(len(parts) - 3, 0, -1):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def tracking_uri(root: Path = PROJECT_ROOT) -> str:
    return f"sqlite:///{store_root(root) / 'mlflow' / 'mlflow.db'}"


# Stage outputs (dvc.yaml lists the same paths).
DATA = PROJECT_ROOT / "data"
RAW_MINIFIGURES = DATA / "raw" / "minifigures"
RAW_CUSTOM = DATA / "raw" / "custom"
RAW_FEEDBACK = DATA / "raw" / "feedback"  # the feedback stage's copy of sources.feedback.path
RAW_SETS = DATA / "raw" / "sets"
CATALOGUE = DATA / "raw" / "catalogue"  # the catalogue stage's: sets.csv, themes.csv and the labelled sets
LABELLED_SETS = CATALOGUE / "labelled_sets.csv"  # every catalogue set with its theme path and group (themes.label_sets)
MANIFEST = DATA / "manifest.csv"
YOLO = DATA / "yolo"
MODELS = PROJECT_ROOT / "models"
SYNTHETIC_PRETRAIN = MODELS / "synthetic-pretrain"  # pretrain@<task>: <task>/best.pt, <task>/pretrain.json


def pretrained_weights(out_dir: Path) -> Path:
    """The model `pretrain@<task>` leaves in its output folder (`SYNTHETIC_PRETRAIN / task`)."""
    return out_dir / "best.pt"


REPORTS = PROJECT_ROOT / "reports"
PREDICTIONS = DATA / "predictions"
CACHE = DATA / "cache"  # downloads kept between runs (partial ones resume); not a DVC output
