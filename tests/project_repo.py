"""A copy of the project in a temporary git repository, for tests that run the real stages through DVC."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

import yaml

from pipeline.paths import PROJECT_ROOT

PROJECT_FILES = [
    "pipeline",
    "stages",
    "dvc.yaml",
    "params.yaml",
    ".gitignore",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "data/feedback/README.md",  # the feedback stage's folder must exist
    "data/custom/README.md",  # and the download stage's
]
# The pipeline on a tiny synthetic config: every stage runs, in minutes on 2 cores.
TINY: dict = {
    "synthetic": {
        "minifigures": {"classes": 4, "train_per_class": 12, "test_per_class": 3, "image_size": 64},
        "sets": {"count": 48, "image_height": 64},
    },
    # minifigure: the default packaged ImageNet backbone; theme: the from-scratch path, fine-tuned from
    # pretrain@theme's model trained on synthetic box art (no pretrained weights at all)
    "pretrain": {
        "theme": {
            "per_class": 6,
            "image_size": 48,
            "train": {"model": "yolov8n-cls.yaml", "epochs": 1, "imgsz": 32, "overrides": {}},
        }
    },
    "train": {
        "minifigure": {"epochs": 1, "imgsz": 32, "batch": 16},
        "theme": {"model": "synthetic-pretrain", "epochs": 1, "imgsz": 32, "batch": 16, "overrides": {}},
    },
    "evaluate": {"batch": 16},
    "predict": {"batch": 8},
}
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def merge(base: dict, extra: dict) -> dict:
    """`extra` laid over `base`, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(base.get(key) or {}, value) if isinstance(value, dict) and value else value
    return out


def sh(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def make_repo(root: Path, params: dict, env: dict, tasks: list[str] | None = None) -> Path:
    """Copy the project into `root`, lay `params` over its params.yaml (with `tasks`: only those tasks, their
    prediction and out-of-catalogue folders kept), and commit it."""
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, root / name)
    current = yaml.safe_load((root / "params.yaml").read_text())
    merged = merge(current, params)
    if tasks is not None:
        for section in (
            merged["tasks"],
            merged["train"],
            merged["pretrain"],
            merged["predict"]["input"],
            merged["out_of_catalogue"],
        ):
            for task in set(section) - set(tasks):
                del section[task]
    (root / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    sh(["git", "init", "-q"], root, env)
    sh(["git", "add", "-A"], root, env)
    sh([*GIT, "commit", "-qm", "project"], root, env)
    return root


def data_bytes(root: Path, suffixes: Collection[str] | None = None) -> int:
    """Bytes `data/` costs on disk: its files (those with `suffixes`, if given) and the DVC cache objects holding
    them, each inode once (a copy in the cache counts again, a hard link does not); the cache's other objects
    (models, reports) are not data."""
    seen, total = set(), 0
    for dirpath, _, files in os.walk(root / "data"):
        for name in files:
            path = Path(dirpath) / name
            if suffixes is not None and path.suffix.lower() not in suffixes:
                continue
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            for stored in (path, root / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]):
                info = stored.stat() if stored.exists() else None
                if info is not None and (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_size
    return total
