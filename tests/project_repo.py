"""A copy of the project in a temporary git repository, for tests that run the real stages through DVC."""

from __future__ import annotations

import shutil
import subprocess
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
]
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


def make_repo(root: Path, params: dict, env: dict) -> Path:
    """Copy the project into `root`, lay `params` over its params.yaml, and commit it."""
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, root / name)
    current = yaml.safe_load((root / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(merge(current, params), sort_keys=False))
    sh(["git", "init", "-q"], root, env)
    sh(["git", "add", "-A"], root, env)
    sh([*GIT, "commit", "-qm", "project"], root, env)
    return root
